#!/bin/sh
# Fleet sizing (issue #17): a load generator publishes the alerts and heartbeats of HOSTS
# simulated hosts into JetStream on a private nats-server, and the fleet server (the library
# behind `peregrine server`) stores them in SQLite. Prints the server's ingest rate (a backlog
# drained), publish -> stored latency p50/p99 at RATE alerts/s with every host heartbeating,
# the console's answer times, the store's size per alert and the process's memory. Needs
# nats-server (scripts/bootstrap). Not a CI test: the numbers depend on the machine's load.
#
#   bench/fleet.sh [HOSTS] [BACKLOG] [RATE] [SECONDS]     (defaults 1000 200000 5000 20)
#
# Goals: >= 20,000 alerts/s ingested; p99 agent -> server < 1 s.
set -eu
. "$(dirname "$0")/lib.sh"
echo "commit $(git rev-parse --short HEAD); kernel $(uname -r); $(nproc) CPUs; load $(load_average)"
exec cargo bench -q -p peregrine-fleet --bench fleet_load -- "${1:-1000}" "${2:-200000}" "${3:-5000}" "${4:-20}"
