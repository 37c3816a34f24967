"""Benchmarks that print ratios measured side by side in one run: ``meta-rl bench``.

* :mod:`meta_rl.bench.iteration`: one paper-size meta-iteration of a preset, phase by phase, the
  hand-written outer step against autograd's double backward, and against its arithmetic floor;
* :mod:`meta_rl.bench.floor`: that floor, the matmuls an operation performs, timed alone;
* :mod:`meta_rl.bench.sampling`: batched sampling against Gymnasium's vector envs and the physics
  floor (also ``python -m meta_rl.bench.sampling`` for every vectorization mode).
"""
