#!/bin/sh
# Alert delivery with detection running (issue #14): the release agent, live, with a rule that
# fires on every open of a marker file a load generator opens RATE times a second (dedup off),
# into a spooled nats_output with JetStream acknowledgements, on a private nats-server. Prints
# alerts/s committed into the spool and delivered to NATS while loaded, the drain time, and the
# latency from the event's kernel timestamp to a NATS subscriber (p50/p99/max). Needs root and
# nats-server (scripts/bootstrap). Not a CI test: the numbers depend on the machine and its load.
#
#   bench/detect_delivery.sh [RATE] [SECONDS]     (defaults 25000 alerts/s for 10 s)
#
# Goals: >= 20,000 alerts/s into the spool and to NATS; p99 event -> subscriber < 50 ms.
# bench/outputs.sh measures the outputs alone (no capture, no detection).
set -eu
. "$(dirname "$0")/lib.sh"
nats=/usr/sbin/nats-server
[ -x "$nats" ] || nats=$(command -v nats-server) || { echo "detect_delivery.sh: nats-server not installed (scripts/bootstrap)" >&2; exit 1; }
agent=$(bench_agent "${PEREGRINE_AGENT:-}")
storm_load
echo "commit $(git rev-parse --short HEAD); kernel $(uname -r); $(nproc) CPUs"
exec python3 bench/detect_delivery.py "$agent" "$load_bin" "$nats" "${1:-25000}" "${2:-10}"
