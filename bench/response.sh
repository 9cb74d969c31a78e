#!/bin/sh
# Time to contain from user space: a kill policy on the exec of a marker program, N markers
# started one after another; for each, the audit log's `latency_ns` (the event's kernel time
# to the moment the signal was sent through the pidfd), then p50/p90/p99/max. Needs root.
#
#   bench/response.sh [N]        (default 200; PEREGRINE=path picks the binary, default release)
#
# Goal (issue #15): p99 < 5 ms from the matched system call to the kill, user-space path
# (the rule tests proc.pname so that the policy stays in user space: bench/kkill.sh compares
# it with the in-kernel kill).
# The agent drains the ring on a short timer, so the figure includes that wait; compare runs
# only at similar load (the load average is printed).
set -eu
cd "$(dirname "$0")/.."
: "${CARGO_TARGET_DIR:=target}"
N="${1:-200}"
if [ -z "${PEREGRINE:-}" ]; then
	cargo build --release -q -p peregrine
	PEREGRINE="$CARGO_TARGET_DIR/release/peregrine"
fi
dir=$(mktemp -d)
trap 'kill "$agent" 2>/dev/null || true; rm -rf "$dir"' EXIT
cp /bin/sleep "$dir/pgbench-mark"
cat >"$dir/rules.yaml" <<'EOF'
- rule: Bench marker
  desc: the benchmark's marker program
  condition: evt.type in (execve, execveat) and proc.name = pgbench-mark and proc.pname != pgbench-none
  output: marker (proc.pid=%proc.pid)
  priority: WARNING
EOF
cat >"$dir/policies.yaml" <<'EOF'
- policy: bench kill
  match: {rules: [Bench marker]}
  actions: [kill: {}]
EOF
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg); kernel $(uname -r); $(nproc) CPUs; $PEREGRINE"
PEREGRINE_LOG=info PEREGRINE_DEFAULT_CONFIG= "$PEREGRINE" -r "$dir/rules.yaml" \
	-o "response_files[]=$dir/policies.yaml" -o "response.audit_file=$dir/audit.jsonl" \
	-o "response.budget_per_minute=100000" -o stdout_output.enabled=false \
	2>"$dir/agent.log" &
agent=$!
i=0
while ! grep -q capturing "$dir/agent.log" 2>/dev/null; do
	i=$((i + 1))
	[ "$i" -lt 300 ] || { echo "agent did not start" >&2; cat "$dir/agent.log" >&2; exit 1; }
	sleep 0.1
done
i=0
while [ "$i" -lt "$N" ]; do
	"$dir/pgbench-mark" 30 2>/dev/null || true # killed: the shell waits for its death
	i=$((i + 1))
done
sleep 0.5
kill -TERM "$agent"
wait "$agent" || true
grep '"outcome":"done"' "$dir/audit.jsonl" | sed 's/.*"latency_ns":\([0-9]*\).*/\1/' | sort -n |
	awk -v n="$N" '
		function at(q,  i) { i = int(NR * q + 0.5); if (i < 1) i = 1; return v[i] / 1e6 }
		{ v[NR] = $1 }
		END {
			if (NR == 0) { print "no kills recorded"; exit 1 }
			printf "kills: %d of %d markers\n", NR, n
			printf "event -> kill (ms): p50 %.2f  p90 %.2f  p99 %.2f  max %.2f\n", at(0.5), at(0.9), at(0.99), v[NR] / 1e6
		}'
grep "Response actions" "$dir/agent.log" || true
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
