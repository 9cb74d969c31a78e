#!/bin/sh
# Issue #12's storm: file open/close floods and a fork/exec loop while marker opens (50/s) and
# marker execs (10/s) must be detected. Runs the release agent with Falco's stable rules plus
# two marker rules (JSON alerts to a file) and prints the detection ratio per marker kind, the
# agent's exit summary (kernel events, drops by cause and lane) and its CPU seconds. Needs root.
# Not a CI test (crates/peregrine-capture/tests/live_storm.rs is its short, bounded form).
#
#   STORM_SECONDS=20 STORM_LOAD=1 bench/storm.sh    (defaults; STORM_LOAD=2 is twice as hard)
#   STORM_SHED=0 turns in-kernel shedding off (engine.shed=false) for before/after runs.
#
# On a shared host compare runs only at similar load (printed before and after).
set -eu
. "$(dirname "$0")/lib.sh"
upstream_rules storm.sh
agent=$(bench_agent "${PEREGRINE_AGENT:-}")
storm_load
echo "commit $(git rev-parse --short HEAD); kernel $(uname -r)"
exec python3 bench/storm.py "$agent" "$rules" "$load_bin" "${STORM_SECONDS:-20}" "${STORM_LOAD:-1}"
