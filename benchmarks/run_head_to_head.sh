#!/usr/bin/env bash
# Interleaved process runs, one rep at a time: justo c50, BullMQ (Node) c50 and huey w8 (the
# fastest Python peer), ROUNDS rounds, with the batched and then the per-job probe. On a
# machine whose load drifts, alternating gives each system the same conditions on average.
#
#   JUSTO_REV=<commit> benchmarks/run_head_to_head.sh /tmp/peerbench
#
# Needs the same setup and throw-away Redis as run_peers_subset.sh (it FLUSHALLs it).
set -euo pipefail
if [ -n "${JUSTO_REV:-}" ]; then
  JUSTO_ROOT="/tmp/justo-$JUSTO_REV"
  rm -rf "$JUSTO_ROOT" && mkdir -p "$JUSTO_ROOT"
  git -C "${JUSTO_REPO:-/work/main}" archive "$JUSTO_REV" engine | tar -x -C "$JUSTO_ROOT"
  export JUSTO_ROOT
fi
cd "${1:-/tmp/peerbench}"
PY=.venv/bin/python
ROUNDS=${ROUNDS:-5}
PAIRS=${PAIRS:-"justo:c50 bullmq_node:c50 huey:w8"}
for probe in batch perjob; do
  for i in $(seq 1 "$ROUNDS"); do
    for pc in $PAIRS; do
      if [ "$probe" = batch ]; then export BENCH_PROBE=batch; else unset BENCH_PROBE; fi
      $PY run_peers.py --tests process --peers "${pc%%:*}" --configs "${pc##*:}" \
        --n 20000 --reps 1 --tag "_h2h_${probe}_$i"
    done
  done
done
unset BENCH_PROBE
$PY - "$PAIRS" <<'PYEOF'
import glob, json, statistics, sys
pairs = [p.split(":") for p in sys.argv[1].split()]
print("| probe | peer | config | jobs/s median | all rounds | steady median | worker CPU µs/job |")
print("|---|---|---|---:|---|---:|---:|")
for probe in ("batch", "perjob"):
    for peer, cfg in pairs:
        runs = []
        for path in sorted(glob.glob(f"results/raw/{peer}_h2h_{probe}_*.json")):
            runs += [r for r in json.load(open(path))["process"][cfg] if "error" not in r]
        if not runs:
            continue
        js = [r["jobs_per_s"] for r in runs]
        print(f"| {probe} | {peer} | {cfg} | {statistics.median(js):,.0f} | "
              f"{', '.join(f'{x:,.0f}' for x in js)} | "
              f"{statistics.median(r['steady_jobs_per_s'] for r in runs):,.0f} | "
              f"{statistics.median(r['worker_cpu_us_per_job'] for r in runs):,.0f} |")
PYEOF
