#!/usr/bin/env bash
# The alert store's benchmark: insert rate through the writer thread, the store's own insert
# cost per CPU-second, a paced 20,000/s burst, then search and detail latency p50/p95 with N
# alerts stored (default 1,000,000).
#
#   bench/store.sh [N] [DB]
#   bench/store.sh detect [RATE] [SECONDS]   (defaults 25000 alerts/s for 10 s)
#
# DB: a SQLite file (default: in a temporary directory; deleted at the end unless KEEP=1),
# `pg` (a private PostgreSQL cluster started and removed by the benchmark), or the
# `postgres://` URL of an empty database. Needs about 1.8 KB of disk per alert in SQLite, 2.5 KB
# in PostgreSQL (1.8 / 2.5 GB for a million). INSERT_ONLY=1 stops after the insert phases (for
# perf or callgrind). Figures: README, "Alert store".
#
# `detect`: the store with detection running (bench/store_detect.py): the release agent, live,
# a rule that fires on every open of a marker file that a load generator opens RATE times a
# second, the alert store on; alerts raised and stored per second, queue drops, and the CPU of
# the agent and of its store writer thread. Needs root.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
if [ "${1:-}" = detect ]; then
    agent=$(bench_agent "")
    storm_load
    echo "commit $(git rev-parse --short HEAD); kernel $(uname -r); $(nproc) CPUs"
    exec python3 bench/store_detect.py "$agent" "$load_bin" "${2:-25000}" "${3:-10}"
fi
N="${1:-1000000}"
DIR="$(mktemp -d)"
DB="${2:-$DIR/alerts.db}"
cleanup() {
    if [ "${KEEP:-0}" != 1 ] && [ "${DB#postgres}" = "$DB" ] && [ "$DB" != pg ]; then
        rm -f "$DB" "$DB-wal" "$DB-shm"
    fi
    rmdir "$DIR" 2>/dev/null || true
}
at_exit cleanup
cargo build --release -p peregrine-store --example store_bench
echo "commit $(git rev-parse --short HEAD), load average $(load_average), $(nproc) CPUs"
"$CARGO_TARGET_DIR"/release/examples/store_bench "$DB" "$N" ${INSERT_ONLY:+insert-only}
