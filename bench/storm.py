#!/usr/bin/env python3
# The storm of issue #12, measured from outside the agent (run by bench/storm.sh):
#
# 2×LOAD processes open and close a file in a loop as fast as they can, LOAD processes fork and
# exec /bin/true 200 times a second, for SECONDS; meanwhile this process opens a fresh marker
# file 50 times a second and executes a marker program (a copy of /bin/true named
# storm-marker, with a unique argument) 10 times a second. The agent runs Falco's stable
# rules plus two marker rules, JSON alerts to a file. Printed: each marker kind's detection
# ratio, the agent's exit summary (kernel events delivered, drops by cause and lane) and the
# agent's CPU seconds.
#
# Usage: storm.py AGENT FALCO_RULES LOAD_BIN SECONDS LOAD
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

from benchlib import loadavg, stop

CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def main():
    agent_bin, falco_rules, load_bin, seconds, load = sys.argv[1:6]
    seconds, load = float(seconds), int(load)
    tmp = tempfile.mkdtemp(prefix="storm-")
    marker = os.path.join(tmp, "storm-marker")
    shutil.copy("/bin/true", marker)
    target = os.path.join(tmp, "flood")
    open(target, "w").close()
    rules = os.path.join(tmp, "markers.yaml")
    with open(rules, "w") as f:
        f.write(
            f"""
- rule: Storm marker open
  desc: a marker file opened during the storm
  condition: evt.type in (open, openat, openat2) and fd.name startswith {tmp}/mark-open-
  output: "storm open %fd.name"
  priority: WARNING
- rule: Storm marker exec
  desc: the marker program executed during the storm
  condition: evt.type in (execve, execveat) and proc.name=storm-marker
  output: "storm exec %proc.args"
  priority: WARNING
"""
        )
    alerts = os.path.join(tmp, "alerts.json")
    out = open(alerts, "w")
    err_path = os.path.join(tmp, "agent.err")
    err = open(err_path, "w")
    agent = subprocess.Popen(
        [agent_bin, "-r", falco_rules, "-r", rules, "-o", "json_output=true",
         "-o", "rule_matching=all", "-o", "syslog_output.enabled=false",
         # Every marker alert is counted: no deduplication (on in the built-in configuration).
         "-o", "dedup.enabled=false"]
        # STORM_SHED=0: the kill switch, for before/after runs of one binary.
        + (["-o", "engine.shed=false"] if os.environ.get("STORM_SHED") == "0" else []),
        stdout=out, stderr=err, env=dict(os.environ, PEREGRINE_LOG="info"),
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with open(err_path) as f:
            if "capturing" in f.read():
                break
        if agent.poll() is not None:
            sys.exit("storm: the agent exited during start-up:\n" + open(err_path).read())
        time.sleep(0.1)
    print(f"load average before: {loadavg()}; {os.cpu_count()} CPUs; {seconds:g} s, load {load}")
    cpu0 = cpu_seconds(agent.pid)
    gens = [subprocess.Popen([load_bin, "open", target, str(seconds)], stdout=subprocess.PIPE, text=True)
            for _ in range(2 * load)]
    gens += [subprocess.Popen([load_bin, "fork", "200", str(seconds), "/bin/true"],
                              stdout=subprocess.PIPE, text=True) for _ in range(load)]
    start = time.monotonic()
    opens = execs = 0
    tick = 0
    while True:
        t = start + tick / 50
        if t >= start + seconds:
            break
        d = t - time.monotonic()
        if d > 0:
            time.sleep(d)
        fd = os.open(os.path.join(tmp, f"mark-open-{tick}"), os.O_RDONLY | os.O_CREAT, 0o644)
        os.close(fd)
        opens += 1
        if tick % 5 == 0:
            subprocess.run([marker, f"mark-{tick}"])
            execs += 1
        tick += 1
    gen_out = [g.communicate()[0].strip() for g in gens]
    time.sleep(1)  # the agent catches up with what it already holds
    cpu = cpu_seconds(agent.pid) - cpu0
    print(f"load average after: {loadavg()}")
    stop(agent, timeout=60)
    out.close()
    err.close()
    seen_open, seen_exec = set(), set()
    with open(alerts) as f:
        for line in f:
            try:
                a = json.loads(line)
            except ValueError:
                continue
            o = a.get("output", "")
            m = re.search(r"storm open \S*/mark-open-(\d+)", o)
            if m:
                seen_open.add(int(m.group(1)))
            m = re.search(r"storm exec mark-(\d+)", o)
            if m:
                seen_exec.add(int(m.group(1)))
    total = {}
    for g in gen_out:
        k, _, v = g.partition(" ")
        total[k] = total.get(k, 0) + int(v or 0)
    print(f"load generators: {total.get('open', 0) / seconds:,.0f} opens/s, "
          f"{total.get('fork', 0) / seconds:,.0f} fork+execs/s")
    print(f"marker opens detected: {len(seen_open)}/{opens} ({100 * len(seen_open) / max(opens, 1):.0f} %)")
    print(f"marker execs detected: {len(seen_exec)}/{execs} ({100 * len(seen_exec) / max(execs, 1):.0f} %)")
    print(f"agent CPU: {cpu:.1f} s over {seconds:g} s")
    print("agent exit summary:")
    with open(err_path) as f:
        for line in f:
            if re.search(r"drop|Events|kernel:|shedding", line):
                print("  " + line.rstrip())
    if os.environ.get("STORM_KEEP"):
        print(f"kept: {tmp}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
