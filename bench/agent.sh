#!/bin/sh
# The agent's operational figures: event-to-alert latency (p50/p99), and the agent's CPU% and
# RSS at rest and under a syscall-heavy workload, with Falco's stable falco_rules.yaml loaded
# unchanged. Needs root. Not a CI test: the numbers depend on the machine and its load.
#
#   bench/agent.sh [MARKERS] [SECONDS]      (defaults 1000 markers, 20 s per phase)
#
# Targets: latency p99 < 5 ms; RSS at rest < 30 MB (Falco: ~60 MB on the same host).
# The harness (bench/agent_bench.py) prints the load average with every phase: on a shared
# host compare runs only at similar load; the workload's rate with the agent is given as a
# ratio of its rate alone in the same run.
set -eu
. "$(dirname "$0")/lib.sh"
upstream_rules agent.sh
agent=$(bench_agent "")
exec python3 bench/agent_bench.py "$agent" "$rules" "${1:-1000}" "${2:-20}"
