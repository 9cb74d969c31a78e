#!/bin/sh
# Alert delivery through the spool: alerts/s into the spool (destination down), to NATS (core
# and JetStream with acknowledgements) from a burst, and the enqueue → subscriber latency at a
# healthy NATS destination at a steady rate (p50/p99/max). Starts its own nats-server on
# loopback (peregrine-testkit). Not a CI test: the numbers depend on the machine, its disk and
# its load.
#
#   bench/outputs.sh [ALERTS] [RATE] [SECONDS]     (defaults 50000 alerts, 2000/s for 10 s)
#
# Goals (issue #14): ≥ 20,000 alerts/s into the spool and to NATS; p99 < 50 ms.
# bench/detect_delivery.sh measures the same with the live agent detecting the alerts.
set -eu
. "$(dirname "$0")/lib.sh"
exec cargo bench -q -p peregrine-outputs --bench delivery -- "${1:-50000}" "${2:-2000}" "${3:-10}"
