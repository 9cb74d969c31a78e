#!/bin/sh
# Time to contain from user space: a kill policy on the exec of a marker program, N markers
# started one after another; for each, the audit log's `latency_ns` (the event's kernel time
# to the moment the signal was sent through the pidfd), then p50/p90/p99/max. Then, when
# podman is installed, M triggers each of a `pause` policy (the container is unpaused after
# each) and of an `isolate` policy (the nft table in the container's own network namespace,
# `--network none`; re-isolating replaces it): the time from the exec in the container to
# the runtime's answer, and to nft's. Needs root.
#
#   bench/response.sh [N] [M]    (defaults 200, 20; PEREGRINE=path picks the binary, default
#                                 release)
#
# Goal (issue #15): p99 < 5 ms from the matched system call to the kill, user-space path
# (the rule tests `proc.pname !=` so that the policy stays in user space: bench/kkill.sh compares
# it with the in-kernel kill).
# The agent drains the ring on a short timer, so the figure includes that wait; compare runs
# only at similar load (the load average is printed).
set -eu
. "$(dirname "$0")/lib.sh"
N="${1:-200}"
M="${2:-20}"
PEREGRINE=$(bench_agent "${PEREGRINE:-}")
bench_dir
tag=$$
agent=
api=
at_exit 'podman rm -f -t 0 "pgbench-pause-$tag" "pgbench-iso-$tag" >/dev/null 2>&1 || true'
at_exit 'kill $agent $api 2>/dev/null || true'
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
containers=
if command -v podman >/dev/null 2>&1 && [ "$M" -gt 0 ]; then
	# A one-binary image (busybox: sleep, true), imported once.
	if ! podman image exists localhost/pgbench-busybox:1; then
		mkdir -p "$dir/rootfs/bin"
		cp /bin/busybox "$dir/rootfs/bin/busybox"
		for a in sh sleep true; do ln -s busybox "$dir/rootfs/bin/$a"; done
		tar -C "$dir/rootfs" -c . | podman import -q - localhost/pgbench-busybox:1 >/dev/null
	fi
	pause_id=$(podman run -d --name "pgbench-pause-$tag" --network none localhost/pgbench-busybox:1 sleep 3600)
	iso_id=$(podman run -d --name "pgbench-iso-$tag" --network none localhost/pgbench-busybox:1 sleep 3600)
	containers=1
	# A private API service for the agent's pause requests.
	podman system service --time=0 "unix://$dir/podman.sock" </dev/null >/dev/null 2>&1 &
	api=$!
	i=0
	until [ -S "$dir/podman.sock" ] || [ "$i" -ge 100 ]; do
		i=$((i + 1))
		sleep 0.1
	done
	for c in "pause:$pause_id" "isolate:$iso_id"; do
		cat >>"$dir/rules.yaml" <<EOF
- rule: Bench ${c%%:*}
  desc: the benchmark's trigger in its ${c%%:*} container
  condition: evt.type in (execve, execveat) and container.id = $(echo "${c#*:}" | cut -c1-12) and proc.name = true
  output: trigger (container.id=%container.id)
  priority: WARNING
EOF
	done
	cat >>"$dir/policies.yaml" <<'EOF'
- policy: bench pause
  match: {rules: [Bench pause]}
  actions: [pause: {}]
- policy: bench isolate
  match: {rules: [Bench isolate]}
  actions: [isolate: {}]
EOF
fi
echo "load average: $(load_average); kernel $(uname -r); $(nproc) CPUs; $PEREGRINE"
response_agent "$dir/audit.jsonl" "$dir/agent.log" \
	-o "response.runtime_sockets[]=$dir/podman.sock" -o "state_dir=$dir/state"
i=0
while [ "$i" -lt "$N" ]; do
	"$dir/pgbench-mark" 30 2>/dev/null || true # killed: the shell waits for its death
	i=$((i + 1))
done
audited() { grep -c "\"action\":\"$1\"" "$dir/audit.jsonl" 2>/dev/null || true; }
if [ -n "$containers" ]; then
	i=0
	while [ "$i" -lt "$M" ]; do
		podman exec "pgbench-pause-$tag" true >/dev/null 2>&1 || true
		j=0
		until [ "$(podman inspect -f '{{.State.Status}}' "pgbench-pause-$tag")" = paused ]; do
			j=$((j + 1))
			[ "$j" -lt 100 ] || break
			sleep 0.05
		done
		podman unpause "pgbench-pause-$tag" >/dev/null 2>&1 || true
		i=$((i + 1))
	done
	i=0
	while [ "$i" -lt "$M" ]; do
		podman exec "pgbench-iso-$tag" true >/dev/null 2>&1 || true
		i=$((i + 1))
		j=0
		while [ "$(audited isolate)" -lt "$i" ] && [ "$j" -lt 100 ]; do
			j=$((j + 1))
			sleep 0.05
		done
	done
fi
sleep 0.5
kill -TERM "$agent"
wait "$agent" || true
# p50/p90/p99/max of the `latency_ns` of the audit's `done` records of action $1, labelled $2.
stats() {
	grep "\"action\":\"$1\"" "$dir/audit.jsonl" | grep '"outcome":"done"' |
		sed 's/.*"latency_ns":\([0-9]*\).*/\1/' | sort -n |
		awk -v what="$2" '
			function at(q,  i) { i = int(NR * q + 0.5); if (i < 1) i = 1; return v[i] / 1e6 }
			{ v[NR] = $1 }
			END {
				if (NR == 0) { printf "%s: none recorded\n", what; exit 1 }
				printf "%s (ms, %d done): p50 %.2f  p90 %.2f  p99 %.2f  max %.2f\n", what, NR, at(0.5), at(0.9), at(0.99), v[NR] / 1e6
			}'
}
echo "kill records: $(audited kill) for $N markers"
stats kill "event -> kill" || exit 1
if [ -n "$containers" ]; then
	stats pause "event -> container paused" || true
	stats isolate "event -> container isolated" || true
fi
grep '"outcome":"failed"' "$dir/audit.jsonl" | head -3
grep "Response actions" "$dir/agent.log" || true
echo "load average after: $(load_average)"
