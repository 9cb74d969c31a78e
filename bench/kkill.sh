#!/bin/sh
# In-kernel vs user-space kill: the time from the matched system call (the exec record's
# kernel timestamp) to the process's death (its procexit record's), for N markers killed by a
# policy the kernel runs, N killed by the same policy run from user space (its rule also
# tests `proc.pname !=`, which keeps it there), and N killed in the kernel for their parent's
# name (`proc.pname =`, the parent a copy of dash). Both times come from the kernel's clock,
# so the paths are measured alike; p50/p90/p99/max per path. Needs root.
#
#   bench/kkill.sh [N]        (default 200; PEREGRINE=path picks the binary, default release)
#
# The cost of idle kill filters on other syscalls is in bench/capture.sh ("filt+kill" and
# "capt+kill" against "filtered" and "captured"). Compare runs only at similar load.
set -eu
. "$(dirname "$0")/lib.sh"
N="${1:-200}"
PEREGRINE=$(bench_agent "${PEREGRINE:-}")
bench_dir
at_exit 'kill ${agent:-} 2>/dev/null || true'
cp /bin/sleep "$dir/pgbench-kk"
cp /bin/sleep "$dir/pgbench-us"
cp /bin/sleep "$dir/pgbench-pk"
cp /bin/dash "$dir/pgbench-par"
cat >"$dir/rules.yaml" <<'EOF2'
- rule: Kernel marker
  desc: the benchmark's marker, a rule the kernel can evaluate
  condition: evt.type in (execve, execveat) and proc.name = pgbench-kk
  output: start (proc.pid=%proc.pid evt.rawtime=%evt.rawtime)
  priority: WARNING
- rule: Parent marker
  desc: the marker from a given parent, a rule the kernel can evaluate
  condition: evt.type in (execve, execveat) and proc.name = pgbench-pk and proc.pname = pgbench-par
  output: start (proc.pid=%proc.pid evt.rawtime=%evt.rawtime)
  priority: WARNING
- rule: User-space marker
  desc: the same marker, a rule the kernel cannot evaluate (proc.pname !=)
  condition: evt.type in (execve, execveat) and proc.name = pgbench-us and proc.pname != pgbench-none
  output: start (proc.pid=%proc.pid evt.rawtime=%evt.rawtime)
  priority: WARNING
- rule: Marker death
  desc: a marker's exit
  condition: evt.type = procexit and proc.name in (pgbench-kk, pgbench-us, pgbench-pk)
  output: death (proc.pid=%proc.pid evt.rawtime=%evt.rawtime)
  priority: WARNING
EOF2
cat >"$dir/policies.yaml" <<'EOF2'
- policy: kernel kill
  match: {rules: [Kernel marker]}
  actions: [kill: {}]
- policy: user-space kill
  match: {rules: [User-space marker]}
  actions: [kill: {}]
- policy: parent kill
  match: {rules: [Parent marker]}
  actions: [kill: {}]
EOF2
echo "load average: $(load_average); kernel $(uname -r); $(nproc) CPUs; $PEREGRINE"
response_agent "$dir/audit.jsonl" "$dir/agent.log" \
	-o json_output=true -o dedup.enabled=false -o json_include_output_property=false \
	-o file_output.enabled=true -o "file_output.filename=$dir/alerts.jsonl"
grep -o "policy '[^']*': kill [^(—]*" "$dir/agent.log" || true
for m in pgbench-kk pgbench-us; do
	i=0
	while [ "$i" -lt "$N" ]; do
		"$dir/$m" 30 2>/dev/null || true # killed: the shell waits for its death
		i=$((i + 1))
	done
done
"$dir/pgbench-par" -c "i=0; while [ \$i -lt $N ]; do '$dir/pgbench-pk' 30 2>/dev/null; i=\$((i + 1)); done" || true
sleep 1
kill -TERM "$agent"
wait "$agent" || true
python3 - "$dir/alerts.jsonl" "$N" <<'EOF2'
import json, sys
start, death = {}, {}
for line in open(sys.argv[1]):
    a = json.loads(line)
    f = a.get("output_fields", {})
    pid, t = f.get("proc.pid"), int(f.get("evt.rawtime") or 0)
    if a["rule"] == "Marker death":
        death[pid] = t
    elif a["rule"] in ("Kernel marker", "User-space marker", "Parent marker"):
        start[pid] = (a["rule"], t)
for rule in ("Kernel marker", "Parent marker", "User-space marker"):
    v = sorted((death[p] - t) / 1e3 for p, (r, t) in start.items() if r == rule and p in death)
    if not v:
        print(f"{rule}: no kills seen"); continue
    at = lambda q: v[min(len(v) - 1, int(len(v) * q))]
    print(f"{rule:18} kills {len(v):4} of {sys.argv[2]}: exec to death p50 {at(0.5):9.1f} us  "
          f"p90 {at(0.9):9.1f} us  p99 {at(0.99):9.1f} us  max {v[-1]:9.1f} us")
EOF2
echo "load average after: $(load_average)"
