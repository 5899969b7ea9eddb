#!/usr/bin/env bash
# justo next to a subset of the peers, all from ONE harness run (~25 min on 2 cores).
#
#   cp -r /work/shared/bench /tmp/peerbench && chmod -R u+w /tmp/peerbench
#   ln -s /work/main/benchmarks/peer_justo.py /tmp/peerbench/peers/justo.py   # + "justo" in peers.ALL
#   benchmarks/run_peers_subset.sh /tmp/peerbench
#
# Expects a throw-away Redis on 127.0.0.1:${BENCH_REDIS_PORT:-6399}: run_peers.py FLUSHALLs it.
# rq's fork-per-job worker (~50 jobs/s) is left out (--configs) to fit the time budget.
#
# JUSTO_REV=<commit> pins the engine: that commit's engine/ is exported to /tmp/justo-<commit>
# and imported from there (JUSTO_ROOT), so edits in the work tree during the run change nothing.
set -euo pipefail
if [ -n "${JUSTO_REV:-}" ]; then
  JUSTO_ROOT="/tmp/justo-$JUSTO_REV"
  rm -rf "$JUSTO_ROOT" && mkdir -p "$JUSTO_ROOT"
  git -C "${JUSTO_REPO:-/work/main}" archive "$JUSTO_REV" engine | tar -x -C "$JUSTO_ROOT"
  export JUSTO_ROOT
fi
cd "${1:-/tmp/peerbench}"
PY=.venv/bin/python
PEERS=${PEERS:-justo,dramatiq,huey,saq,rq,taskiq_list,bullmq_node}
CONFIGS=c10,c50,p1t8,w1,w8,simple
$PY machine.py
$PY run_peers.py --peers "$PEERS" --configs "$CONFIGS" --reps 3 --n 20000 --enqueue-modes bulk
B="$PY run_peers.py --tests process --n 20000 --reps 3 --tag _batchprobe"
export BENCH_PROBE=batch
$B --peers justo,bullmq_node --configs c10,c50
$B --peers dramatiq
$B --peers huey --configs w8
$B --peers taskiq_list --configs c10
$B --peers saq --configs c50
unset BENCH_PROBE
$PY run_peers.py --peers "$PEERS" --configs "$CONFIGS" --tests process --n 5000 --reps 1 --tag _cpu
$PY report.py > /dev/null
echo "tables: $(pwd)/results/tables.md"
