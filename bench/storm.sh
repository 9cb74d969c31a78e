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
cd "$(dirname "$0")/.."
: "${CARGO_TARGET_DIR:=target}"
export CARGO_TARGET_DIR
upstream="${PEREGRINE_UPSTREAM:-$(pwd)/../shared/upstream}"
rules="$upstream/rules/falco_rules.yaml"
[ -f "$rules" ] || { echo "storm.sh: $rules not found (set PEREGRINE_UPSTREAM)" >&2; exit 1; }
agent="${PEREGRINE_AGENT:-}"
if [ -z "$agent" ]; then
	cargo build --release -q -p peregrine --bin peregrine
	agent="$CARGO_TARGET_DIR/release/peregrine"
fi
load_bin="$CARGO_TARGET_DIR/storm_load"
cc -O2 -Wall -o "$load_bin" bench/storm_load.c
echo "commit $(git rev-parse --short HEAD); kernel $(uname -r)"
exec python3 bench/storm.py "$agent" "$rules" "$load_bin" "${STORM_SECONDS:-20}" "${STORM_LOAD:-1}"
