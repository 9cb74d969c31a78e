# Shared preamble of the bench/*.sh scripts, sourced first by each (`. "$(dirname "$0")/lib.sh"`):
# POSIX sh, so dash and bash scripts alike can source it. Sourcing it moves to the repository
# root and exports CARGO_TARGET_DIR (default `target`), so builds and the paths of what they
# build agree.

cd "$(dirname "$0")/.."
: "${CARGO_TARGET_DIR:=target}"
export CARGO_TARGET_DIR

# Commands run at exit, newest first: each script adds its own cleanup with `at_exit`, rather
# than each replacing the one EXIT trap.
bench_exit=
at_exit() {
	bench_exit="$1; $bench_exit"
	# shellcheck disable=SC2064 # the trap runs whatever is registered when it fires
	trap 'eval "$bench_exit"' EXIT
}

# A temporary directory in $dir, removed at exit unless KEEP is set (then its path is printed).
bench_dir() {
	dir=$(mktemp -d)
	if [ -n "${KEEP:-}" ]; then
		echo "keeping $dir"
	else
		at_exit 'rm -rf "$dir"'
	fi
}

# The agent to measure: $1 when given (the script's PEREGRINE or PEREGRINE_AGENT), else the
# release binary, built now.
bench_agent() {
	if [ -n "$1" ]; then
		echo "$1"
	else
		cargo build --release -q -p peregrine --bin peregrine >&2
		echo "$CARGO_TARGET_DIR/release/peregrine"
	fi
}

# Falco's stable rules from the upstream reference material (PEREGRINE_UPSTREAM, default
# ../shared/upstream) in $rules; with $1 (the script's name) as the error's prefix.
upstream_rules() {
	upstream="${PEREGRINE_UPSTREAM:-$(pwd)/../shared/upstream}"
	rules="$upstream/rules/falco_rules.yaml"
	[ -f "$rules" ] || { echo "$1: $rules not found (set PEREGRINE_UPSTREAM)" >&2; exit 1; }
}

# The storm load generator (bench/storm_load.c), built into $load_bin.
storm_load() {
	load_bin="$CARGO_TARGET_DIR/storm_load"
	cc -O2 -Wall -o "$load_bin" bench/storm_load.c
}

# The load average now, for the line each script prints before and after its run: on a shared
# host runs compare only at similar load.
load_average() {
	cut -d' ' -f1-3 /proc/loadavg
}

# Waits until the agent logging to $1 (its stderr) says it is capturing (30 s at most; then
# prints the log and exits).
wait_capturing() {
	i=0
	while ! grep -q capturing "$1" 2>/dev/null; do
		i=$((i + 1))
		[ "$i" -lt 300 ] || { echo "agent did not start" >&2; cat "$1" >&2; exit 1; }
		sleep 0.1
	done
}

# Starts the agent ($PEREGRINE) in the background ($agent) with the response scripts' common
# setup: $dir/rules.yaml, the policies of $dir/policies.yaml, its audit log in $1, no response
# budget to speak of, stdout off, its log (stderr) in $2, and the options that follow (`-o
# key=value`); then waits until it captures.
response_agent() {
	response_audit=$1
	response_log=$2
	shift 2
	PEREGRINE_LOG=info PEREGRINE_DEFAULT_CONFIG= "$PEREGRINE" -r "$dir/rules.yaml" \
		-o "response_files[]=$dir/policies.yaml" -o "response.audit_file=$response_audit" \
		-o "response.budget_per_minute=100000" -o stdout_output.enabled=false "$@" 2>"$response_log" &
	agent=$!
	wait_capturing "$response_log"
}
