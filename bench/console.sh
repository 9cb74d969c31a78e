#!/usr/bin/env bash
# The console's page latency with N alerts stored (default 1,000,000, spread over the last
# 24 hours): the page shell and each page's JSON requests, p50/p95/max, through the real web
# server on loopback.
#
#   bench/console.sh [N] [DB]
#
# Needs about 1.5 KB of disk per alert at DB (default a temporary directory); the file is
# deleted at the end unless KEEP=1 (a kept file is reused by the next run). Figures: README,
# "Console".
set -euo pipefail
. "$(dirname "$0")/lib.sh"
N="${1:-1000000}"
DIR="$(mktemp -d)"
DB="${2:-$DIR/alerts.db}"
cleanup() {
    if [ "${KEEP:-0}" != 1 ]; then
        rm -f "$DB" "$DB-wal" "$DB-shm"
    fi
    rmdir "$DIR" 2>/dev/null || true
}
at_exit cleanup
cargo build --release -p peregrine-web --example console_bench
echo "commit $(git rev-parse --short HEAD), load average $(load_average), $(nproc) CPUs"
"$CARGO_TARGET_DIR"/release/examples/console_bench "$DB" "$N"
