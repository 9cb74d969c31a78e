#!/bin/sh
# The k8s_audit source's throughput with Falco's k8s_audit_rules.yaml loaded unchanged:
# audit events per second read from a file and received through the webhook, the agent pinned
# to one core, and its memory at rest with the webhook open. Not a CI test: the numbers
# depend on the machine and its load.
#
#   bench/k8saudit.sh [EVENTS]      (default 50000; the events file is ~1.8 KB per event)
#
# Goal: >= 50,000 events/s on one core. Events are the upstream trace files' events, cycled.
set -eu
. "$(dirname "$0")/lib.sh"
upstream="${PEREGRINE_UPSTREAM:-$(pwd)/../shared/upstream}"
[ -d "$upstream/k8saudit" ] || { echo "k8saudit.sh: $upstream/k8saudit not found (set PEREGRINE_UPSTREAM)" >&2; exit 1; }
agent=$(bench_agent "")
exec python3 bench/k8saudit_bench.py "$agent" "$upstream/k8saudit" "${1:-50000}"
