#!/bin/sh
# Events per second from a Falco plugin source: the `ticker` test plugin (built with Falco's
# Rust SDK) through its next_batch alone, against the same events through Peregrine's plugin
# host, source pipeline and two rules that extract plugin fields from every event. Release
# build, one thread. Not a CI test: the numbers depend on the machine and its load.
#
#   bench/plugins.sh [EVENTS] [BATCH]       (default 2000000 events, 512 per batch)
set -eu
. "$(dirname "$0")/lib.sh"
exec cargo run --release -q -p peregrine-plugins --example plugin_bench -- "${1:-2000000}" "${2:-512}"
