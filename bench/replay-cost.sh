#!/bin/sh
# User-space cost per event with Falco's stable rules (issue #12's tracked number): CPU ns per
# record through decode -> state -> rules (what each event the kernel sends costs the live
# agent), and per capture event for a whole replay; then callgrind's instructions per record
# for the same passes, which do not depend on the load of a shared machine. Needs valgrind for
# the second part.
#
#   bench/replay-cost.sh [CAPTURE]      (default: the upstream 502Error.scap)
#
# Falco 0.44.1 on this machine (issue #12): 0.34-0.46 CPU-s for a 728,000-event replay,
# start-up included, i.e. 470-630 ns per event; the goal is a third of that.
set -eu
. "$(dirname "$0")/lib.sh"
cargo build --release -q -p peregrine-engine --example replay_cost
bin="$CARGO_TARGET_DIR/release/examples/replay_cost"
echo "load average: $(load_average); $(nproc) CPUs"
"$bin" "$@"
if ! command -v valgrind >/dev/null 2>&1; then
    echo "callgrind: valgrind not installed"
    exit 0
fi
bench_dir
out=$dir
# One timed pass under valgrind (it runs ~50x slower); the warm-up pass, which also pays the
# one-time set-up, is not counted.
PG_REPLAY_RECORDS=1 valgrind -q --tool=callgrind --toggle-collect='replay_cost::timed_*' \
    --callgrind-out-file="$out/cg" "$bin" "$@" >"$out/stdout"
records=$(sed -n 's/^pipeline .*(\([0-9]*\) records)$/\1/p' "$out/stdout")
callgrind_annotate --inclusive=yes "$out/cg" 2>/dev/null |
    awk -v n="$records" '
        function num(s) { gsub(",", "", s); return s + 0 }
        # A function may be listed once per source file it inlines: the largest is the whole.
        /replay_cost::pass_pipeline( \[|$)/ { v = num($1); if (v > p) p = v }
        /replay_cost::pass_replay( \[|$)/ { v = num($1); if (v > r) r = v }
        END {
            printf "callgrind: pipeline %.0f instructions per record, replay %.0f per record\n",
                p / n, r / n
        }'
