#!/usr/bin/env bash
# The alert store's benchmark: insert rate through the writer thread, the store's own insert
# cost per CPU-second, a paced 20,000/s burst, then search and detail latency p50/p95 with N
# alerts stored (default 1,000,000).
#
#   bench/store.sh [N] [DB]
#
# DB: a SQLite file (default: in a temporary directory; deleted at the end unless KEEP=1),
# `pg` (a private PostgreSQL cluster started and removed by the benchmark), or the
# `postgres://` URL of an empty database. Needs about 3.3 KB of disk per alert (3.3 GB for a
# million). Figures: README, "Alert store".
set -euo pipefail
. "$(dirname "$0")/lib.sh"
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
"$CARGO_TARGET_DIR"/release/examples/store_bench "$DB" "$N"
