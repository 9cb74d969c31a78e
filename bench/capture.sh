#!/bin/sh
# Capture overhead: ns per syscall for getppid and open+close loops without the agent, with
# the programs attached and filtering, and with every event delivered and decoded; plus the
# sustained delivered rate and its drop count. Needs root.
#
#   bench/capture.sh [ITERATIONS [getppid|open+close]]   (default 2000000, both workloads)
#
# Targets: <= 50 ns added per uncaptured syscall ("filtered" minus "baseline"), <= 200 ns per
# captured, delivered and decoded one ("captured" minus "baseline", per syscall). The
# "hook-only" row (an empty sys_exit program) is the floor any syscall hook costs on this host,
# measured in the same run; "x hook" is each row's added ns as a multiple of it, and "kernel ns"
# the program's own time per run from the kernel's BPF statistics (a separate pass).
# The machine's load average is printed first: on a shared host, compare runs only at similar
# load, and prefer the quietest of several runs.
set -eu
cd "$(dirname "$0")/.."
: "${CARGO_TARGET_DIR:=target}"
export CARGO_TARGET_DIR
cargo build --release -q -p peregrine-capture --example capture_bench
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg); kernel $(uname -r); $(nproc) CPUs"
"$CARGO_TARGET_DIR/release/examples/capture_bench" "${1:-2000000}" ${2:+"$2"}
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
