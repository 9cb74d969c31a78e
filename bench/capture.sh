#!/bin/sh
# Capture overhead: ns per syscall for getppid and open+close loops without the agent, with
# the programs attached and filtering, and with every event delivered and decoded (batched, and
# unbatched for comparison); plus the sustained delivered rate and its drop count. Needs root.
#
#   bench/capture.sh [ITERATIONS [getppid|open+close]]   (default 2000000, both workloads)
#
# Targets: <= 50 ns added per uncaptured syscall ("filtered" minus "baseline"), <= 200 ns per
# captured, delivered and decoded one ("captured" minus "baseline", per syscall), stated for a
# host whose getppid takes 120 ns: as ratios, 0.42x and 1.67x of the baseline, which is what
# the "x base" column shows for this run. The "hook-only" row (an empty sys_exit program) is
# the floor any syscall hook costs on this host, measured in the same run; "x hook" is each
# row's added ns as a multiple of it, and "kernel ns" the program's own time per run from the
# kernel's BPF statistics (a separate pass; far less sensitive to other load than wall-clock),
# "kern x base" that per iteration as a multiple of the baseline. For open+close, "kept" and
# "shed" run with shedding on and the path atoms of Falco's stable rules (the upstream
# falco_rules.yaml; the loop's path added for "kept"), and "x Falco" is the added ns against
# the 345 + 337 ns Falco 0.44.1 added per open and close on this machine (issue #12; Falco
# cannot be installed here to run beside it). PG_BENCH_PATH=/some/longer/path changes the
# loop's file (default /dev/null).
# The kernel's own `perf bench syscall basic` is printed first as an independent reference for
# how fast this host's syscalls are today (wall-clock, so inflated by other load, unlike the
# CPU-time figures below), with the load average: on a shared host, compare
# runs only at similar load, and prefer the quietest of several runs.
set -eu
. "$(dirname "$0")/lib.sh"
cargo build --release -q -p peregrine-capture --example capture_bench
echo "load average: $(load_average); kernel $(uname -r); $(nproc) CPUs"
if command -v perf >/dev/null 2>&1; then
	# "usecs/op" of the kernel's getppid loop, as ns.
	perf bench syscall basic 2>/dev/null |
		awk '/usecs\/op/ { printf "perf bench syscall basic: %.1f ns/op (getppid, wall-clock)\n", $1 * 1000 }' ||
		echo "perf bench syscall basic: unavailable"
else
	echo "perf bench syscall basic: perf not installed"
fi
# Other sessions' BPF tracing programs (e.g. a running agent or test) tax every syscall,
# baseline included: a non-zero count makes this run's absolute numbers suspect.
if command -v bpftool >/dev/null 2>&1; then
	echo "BPF tracing programs loaded before the run: $(bpftool prog show 2>/dev/null | grep -c ' tracing ' || true)"
fi
"$CARGO_TARGET_DIR/release/examples/capture_bench" "${1:-2000000}" ${2:+"$2"}
echo "load average after: $(load_average)"
