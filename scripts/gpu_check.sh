#!/usr/bin/env bash
# The GPU path's checks, on a CUDA machine, in under 5 minutes: the tests marked `cuda` (the
# outer step on CUDA equals the CPU's; its product loop makes no host-device synchronisation; a
# training iteration on --device cuda matches the CPU's), then one paper-size HalfCheetahVel
# iteration timed with `meta-rl bench --device cuda`.
#
# It needs PyTorch with CUDA and the project's other dependencies. Where pip cannot reach a
# registry (the workplace's GPU machines), make the missing wheels here first with
# scripts/gpu_wheels.sh: they are installed from .whl/ into /tmp/site.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -d .whl ] && ls .whl/*.whl > /dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  export PYTHONPATH="/tmp/site:${PYTHONPATH:-}"
fi
export PYTHONPATH="$PWD:${PYTHONPATH:-}" PYTHONUNBUFFERED=1
python3 -c "import torch; assert torch.cuda.is_available(), 'no CUDA device'; print(torch.__version__, torch.cuda.get_device_name())"
python3 -m pytest -q -m cuda -p no:cacheprovider tests/test_cuda.py
python3 -m meta_rl.cli bench halfcheetah-vel --device cuda --repeats 2 --no-sync
