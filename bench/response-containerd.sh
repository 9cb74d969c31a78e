#!/bin/sh
# Time to pause a containerd container (issue #15): a private containerd, one `ctr run -d`
# container, a `pause` policy on the exec of `true` in it; M triggers, resumed after each.
# Twice: through containerd's task API (`response.containerd_sockets` names the daemon), then
# through the OCI runtime binary (no containerd socket: `runc --root … pause`). For each, the
# audit log's `latency_ns` (the exec's kernel time to the pause done) p50/p90/max, and the
# CPU time (user+sys) of one `runc pause` + `runc resume` — what the OCI way costs beside the
# agent (the VM has no PMU: no instruction counts). Needs root, containerd, ctr, runc.
#
#   bench/response-containerd.sh [M]   (default 20; PEREGRINE=path picks the binary, default
#                                       release)
set -eu
. "$(dirname "$0")/lib.sh"
M="${1:-20}"
PEREGRINE=$(bench_agent "${PEREGRINE:-}")
dir=$(mktemp -d)
id=$(printf 'c0de%060x' $$)
root=/run/containerd/runc/default
agent=
daemon=
ctr() { timeout 10 ctr --address "$dir/c.sock" "$@"; }
cleanup() {
	[ -z "$agent" ] || kill "$agent" 2>/dev/null || true
	ctr task resume "$id" >/dev/null 2>&1 || true
	runc --root "$root" resume "$id" >/dev/null 2>&1 || true
	ctr task kill -s KILL "$id" >/dev/null 2>&1 || true
	ctr task rm -f "$id" >/dev/null 2>&1 || true
	ctr container rm "$id" >/dev/null 2>&1 || true
	[ -z "$daemon" ] || kill "$daemon" 2>/dev/null || true
	rm -rf "$dir"
}
trap cleanup EXIT
mkdir -p "$dir/rootfs/bin"
cp /bin/busybox "$dir/rootfs/bin/busybox"
for a in sh sleep true; do ln -s busybox "$dir/rootfs/bin/$a"; done
cat >"$dir/config.toml" <<EOF
version = 2
root = "$dir/root"
state = "$dir/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$dir/c.sock"
EOF
containerd --config "$dir/config.toml" >/dev/null 2>&1 &
daemon=$!
i=0
until [ -S "$dir/c.sock" ] || [ "$i" -ge 100 ]; do
	i=$((i + 1))
	sleep 0.1
done
ctr run -d --rootfs "$dir/rootfs" "$id" /bin/sleep 3600 >/dev/null
cat >"$dir/rules.yaml" <<EOF
- rule: Bench containerd pause
  desc: the benchmark's trigger in its containerd container
  condition: evt.type in (execve, execveat) and container.id = $(echo "$id" | cut -c1-12) and proc.name = true
  output: trigger (container.id=%container.id)
  priority: WARNING
EOF
cat >"$dir/policies.yaml" <<'EOF'
- policy: bench pause
  match: {rules: [Bench containerd pause]}
  actions: [pause: {}]
EOF
echo "load average: $(load_average); kernel $(uname -r); $(nproc) CPUs; $PEREGRINE"
audited() { grep -c '"action":"pause"' "$1" 2>/dev/null || true; }
# p50/p90/max of the pause records' `latency_ns` in audit file $1, labelled $2.
stats() {
	grep '"action":"pause"' "$1" | grep '"outcome":"done"' |
		sed 's/.*"latency_ns":\([0-9]*\).*/\1/' | sort -n |
		awk -v what="$2" '
			function at(q,  i) { i = int(NR * q + 0.5); if (i < 1) i = 1; return v[i] / 1e6 }
			{ v[NR] = $1 }
			END {
				if (NR == 0) { printf "%s: none recorded\n", what; exit 1 }
				printf "%s (ms, %d done): p50 %.1f  p90 %.1f  max %.1f\n", what, NR, at(0.5), at(0.9), v[NR] / 1e6
			}'
}
# One phase: $1 label, $2 the containerd socket the agent is given, $3 how to resume.
phase() {
	audit="$dir/audit-$1.jsonl"
	response_agent "$audit" "$dir/agent-$1.log" \
		-o "response.containerd_sockets[]=$2" -o "state_dir=$dir/state-$1"
	i=0
	while [ "$i" -lt "$M" ]; do
		# Detached: a pause can freeze `true` before it exits, and an attached ctr would wait.
		ctr task exec --detach --exec-id "$1-$i" "$id" /bin/true \
			>/dev/null 2>>"$dir/exec-$1.log" || true
		i=$((i + 1))
		j=0
		while [ "$(audited "$audit")" -lt "$i" ] && [ "$j" -lt 200 ]; do
			j=$((j + 1))
			sleep 0.05
		done
		$3 >/dev/null 2>&1 || true
	done
	kill -TERM "$agent"
	wait "$agent" || true
	agent=
	stats "$audit" "event -> paused, $1" || true
	grep '"outcome":"failed"' "$audit" | head -2
	sort "$dir/exec-$1.log" 2>/dev/null | uniq -c | head -3
	grep -o '"detail":"[^"]*"' "$audit" | head -1
}
phase api "$dir/c.sock" "ctr task resume $id"
phase runc "$dir/none.sock" "runc --root $root resume $id"
# The OCI way's own cost: CPU of one pause and one resume by the runtime binary.
t0=$(awk '{print $14 + $15 + $16 + $17}' /proc/$$/stat)
i=0
while [ "$i" -lt 20 ]; do
	runc --root "$root" pause "$id"
	runc --root "$root" resume "$id"
	i=$((i + 1))
done
t1=$(awk '{print $14 + $15 + $16 + $17}' /proc/$$/stat)
echo "runc pause+resume: $(echo "$t0 $t1 $(getconf CLK_TCK)" | awk '{printf "%.1f", ($2 - $1) * 1000 / $3 / 20}') ms CPU (user+sys) per pair, 20 pairs"
echo "load average after: $(load_average)"
