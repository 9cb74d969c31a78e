#!/bin/sh
# Instructions per event of the state engine's update (callgrind), for the two scenarios of
# crates/peregrine-state/benches/update.rs: "fd" (openat + close) and "process" (fork parent
# side, child side, execve, procexit, a failed close). Instruction counts do not depend on
# the load of a shared machine, unlike the criterion times. Needs valgrind.
#
#   bench/state-callgrind.sh [ITERATIONS]        (default 20000)
set -eu
. "$(dirname "$0")/lib.sh"
n="${1:-20000}"
bin=$(cargo bench -q -p peregrine-state --bench update --no-run --message-format=json 2>/dev/null |
    sed -n 's/.*"executable":"\([^"]*update-[^"]*\)".*/\1/p' | tail -n 1)
bench_dir
out=$dir
for sc in fd:2 process:5; do
    name=${sc%%:*}
    events=${sc##*:}
    PEREGRINE_BENCH_ITERS="$n" PEREGRINE_BENCH_ONLY="$name" valgrind -q --tool=callgrind \
        --toggle-collect='update::pass_*' --callgrind-out-file="$out/$name" "$bin" --bench
    callgrind_annotate --inclusive=yes "$out/$name" 2>/dev/null |
        awk -v n="$n" -v e="$events" -v sc="$name" '
            # Inclusive counts; a function may be listed once per source file it inlines,
            # the largest line is the whole function.
            function num(s) { gsub(",", "", s); return s + 0 }
            /:update::pass_decode( \[|$)/ { v = num($1); if (v > d) d = v }
            /:update::pass_update( \[|$)/ { v = num($1); if (v > u) u = v }
            END {
                printf "%-8s decode only %6.0f instr/event   update %6.0f instr/event   update - decode %6.0f\n",
                    sc, d / (n * e), u / (n * e), (u - d) / (n * e)
            }'
done
