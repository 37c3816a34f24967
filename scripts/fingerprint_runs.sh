#!/usr/bin/env bash
# Fixed-seed short runs of 2D navigation (with hvp_subsample), HalfCheetahVel and the sinusoid,
# and a hash of each metrics.csv without its time columns: a refactor must leave the three hashes
# as they were. Usage: scripts/fingerprint_runs.sh OUTDIR (runs the meta-rl on PATH; put another
# checkout first on PYTHONPATH to fingerprint it).
set -euo pipefail
out=$1; rm -rf "$out"; mkdir -p "$out"
meta-rl train navigation2d --iterations 3 --set eval_every=1 --set hvp_subsample=0.5 --set eval_tasks=8 --run-dir "$out/nav" --no-progress > /dev/null
meta-rl train halfcheetah-vel --iterations 2 --set meta_batch_size=4 --set support_episodes=3 --set query_episodes=3 --set eval_tasks=4 --set eval_episodes=2 --set eval_every=1 --run-dir "$out/hcvel" --no-progress > /dev/null
meta-rl train sinusoid --iterations 60 --set eval_every=30 --set eval_tasks=20 --run-dir "$out/sin" --no-progress > /dev/null
for r in nav hcvel sin; do
  python3 - "$out/$r/metrics.csv" <<'PY'
import csv, hashlib, sys
rows = list(csv.DictReader(open(sys.argv[1])))
keep = [{k: v for k, v in r.items() if not k.startswith("time/")} for r in rows]
print(sys.argv[1].split("/")[-2], len(rows), hashlib.sha256(repr(keep).encode()).hexdigest()[:16])
PY
done
