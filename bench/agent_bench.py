#!/usr/bin/env python3
# The agent's operational figures, measured from outside the agent (run by bench/agent.sh):
#
#  1. event-to-alert latency: this process opens a fresh marker file, takes a monotonic
#     timestamp just before the syscall, and a reader thread takes another when the alert line
#     for that file arrives on the agent's stdout (a pipe). p50/p90/p99/max over N markers
#     spaced by random gaps, so they land at random points of the agent's drain timer. The
#     rules are Falco's stable falco_rules.yaml plus one marker rule.
#  2. the agent's CPU% and RSS at rest (stable rules, no workload) and under a syscall-heavy
#     workload (open/close, stat, connect attempts and short execs in a loop), read from
#     /proc/PID/{stat,status}; the workload's own rate with and without the agent shows the
#     capture's cost to the workload (a ratio within the same run, robust to a busy host).
#
# Usage: agent_bench.py AGENT FALCO_RULES [MARKERS] [SECONDS]
import os
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

from benchlib import loadavg, stop

CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # utime and stime are fields 14 and 15; fields[0] is field 3 (state).
    return int(fields[11]) + int(fields[12])


def mem_kb(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM"):
                out[k] = int(v.split()[0])
    return out


class Agent:
    """The agent with stdout on a pipe read by a thread that timestamps every line."""

    def __init__(self, binary, rules, extra=()):
        args = [binary]
        for r in rules:
            args += ["-r", r]
        # Every alert counts in the figures: no deduplication (on in the built-in configuration).
        args += ["-M", "3600", "-o", "syslog_output.enabled=false", "-o", "dedup.enabled=false"] + list(extra)
        env = dict(os.environ, PEREGRINE_LOG="info")
        self.proc = subprocess.Popen(
            args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True, bufsize=1
        )
        self.lines = []  # (monotonic ns, text)
        self.cond = threading.Condition()
        self.metrics_addr = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = self.proc.stderr.readline()
            if not line:
                raise SystemExit("agent exited during start-up")
            m = re.search(r"listening on http://(\S+)", line)
            if m:
                self.metrics_addr = m.group(1)
            if "capturing" in line:
                break
        threading.Thread(target=self._drain_stderr, daemon=True).start()
        threading.Thread(target=self._read, daemon=True).start()

    def _drain_stderr(self):
        for _ in self.proc.stderr:
            pass

    def _read(self):
        for line in self.proc.stdout:
            now = time.monotonic_ns()
            with self.cond:
                self.lines.append((now, line))
                self.cond.notify_all()

    def metric(self, name):
        if not self.metrics_addr:
            return None
        page = urllib.request.urlopen(f"http://{self.metrics_addr}/metrics", timeout=10).read()
        for line in page.decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        return None

    def stop(self):
        stop(self.proc)


def percentile(sorted_ns, p):
    i = min(len(sorted_ns) - 1, max(0, round(p / 100 * len(sorted_ns)) - 1))
    return sorted_ns[i] / 1e6


def latency(binary, falco_rules, markers, tmp):
    rules = os.path.join(tmp, "marker.yaml")
    with open(rules, "w") as f:
        f.write(
            f"""
- rule: Bench marker
  desc: latency marker files
  condition: evt.type in (open, openat, openat2) and fd.name startswith {tmp}/lat-
  output: "bench marker %fd.name"
  priority: WARNING
"""
        )
    agent = Agent(binary, [falco_rules, rules], ["-o", "rule_matching=all"])
    try:
        time.sleep(2)
        sent = []
        for i in range(markers):
            time.sleep(random.uniform(0.002, 0.025))
            path = f"{tmp}/lat-{i}"
            t0 = time.monotonic_ns()
            fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
            os.close(fd)
            sent.append((t0, path))
        deadline = time.monotonic() + 30
        wanted = {p: t0 for t0, p in sent}
        got = {}
        with agent.cond:
            while len(got) < len(wanted) and time.monotonic() < deadline:
                for t, line in agent.lines:
                    m = re.search(r"bench marker (\S+)", line)
                    if m and m.group(1) in wanted and m.group(1) not in got:
                        got[m.group(1)] = t
                agent.cond.wait(0.5)
    finally:
        agent.stop()
    lat = sorted(got[p] - wanted[p] for p in got)
    return {
        "markers": markers,
        "alerted": len(lat),
        "p50": percentile(lat, 50),
        "p90": percentile(lat, 90),
        "p99": percentile(lat, 99),
        "max": lat[-1] / 1e6 if lat else float("nan"),
    }


def workload(seconds):
    """A syscall-heavy loop in a child process; returns its iterations per second."""
    code = f"""
import os, socket, time
end = time.monotonic() + {seconds}
n = 0
while time.monotonic() < end:
    for _ in range(200):
        fd = os.open("/etc/hostname", os.O_RDONLY)
        os.read(fd, 64)
        os.close(fd)
        os.stat("/etc/passwd")
    s = socket.socket()
    try:
        s.connect_ex(("127.0.0.1", 9))
    finally:
        s.close()
    os.waitpid(os.posix_spawn("/bin/true", ["/bin/true"], {{}}), 0)
    n += 1
print(n / {seconds})
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip())


def sample_agent(agent, seconds, during=None):
    """CPU% (of one core) and memory of the agent over `seconds`, optionally while `during`
    runs (it must take about `seconds`); returns (cpu%, rss MB, hwm MB, during's result)."""
    pid = agent.proc.pid
    t0, c0 = time.monotonic(), cpu_ticks(pid)
    result = during() if during else time.sleep(seconds)
    t1, c1 = time.monotonic(), cpu_ticks(pid)
    m = mem_kb(pid)
    cpu = 100.0 * (c1 - c0) / CLK_TCK / (t1 - t0)
    return cpu, m["VmRSS"] / 1024, m["VmHWM"] / 1024, result


def main():
    binary, falco_rules = sys.argv[1], sys.argv[2]
    markers = int(sys.argv[3]) if len(sys.argv) > 3 else 1000
    seconds = int(sys.argv[4]) if len(sys.argv) > 4 else 20
    tmp = tempfile.mkdtemp(prefix="peregrine-bench-")
    print(f"load average at start: {loadavg()}; kernel {os.uname().release}; {os.cpu_count()} CPUs")

    lat = latency(binary, falco_rules, markers, tmp)
    print(f"load average after latency run: {loadavg()}")
    print(
        f"latency: {lat['alerted']}/{lat['markers']} alerted; p50 {lat['p50']:.2f} ms, "
        f"p90 {lat['p90']:.2f} ms, p99 {lat['p99']:.2f} ms, max {lat['max']:.2f} ms"
    )

    base_rate = workload(seconds)
    print(f"workload alone: {base_rate:.0f} iterations/s (load average {loadavg()})")

    web = os.path.join(tmp, "falco.yaml")
    with open(web, "w") as f:
        f.write(
            "webserver: {enabled: true, listen_address: 127.0.0.1, listen_port: 0, "
            "prometheus_metrics_enabled: true}\nmetrics: {enabled: true}\n"
        )
    agent = Agent(binary, [falco_rules], ["-c", web, "-o", "stdout_output.enabled=false"])
    try:
        time.sleep(5)
        r0, t0 = agent.metric("falcosecurity_scap_n_evts_total") or 0, time.monotonic()
        rest = sample_agent(agent, seconds)
        r1, t1 = agent.metric("falcosecurity_scap_n_evts_total") or 0, time.monotonic()
        # "At rest" means no workload of ours: other processes on the host still produce
        # events, and their rate is printed so the CPU figure can be read against it.
        print(
            f"at rest: CPU {rest[0]:.2f} %, RSS {rest[1]:.1f} MB (peak {rest[2]:.1f} MB), "
            f"{(r1 - r0) / (t1 - t0):.0f} kernel events/s from other processes "
            f"(load average {loadavg()})"
        )
        # The metrics page is refreshed once a second: rates are over the time between reads.
        e0, t0 = agent.metric("falcosecurity_scap_n_evts_total") or 0, time.monotonic()
        d0 = agent.metric("falcosecurity_scap_n_drops_total") or 0
        load = sample_agent(agent, seconds, lambda: workload(seconds))
        e1, t1 = agent.metric("falcosecurity_scap_n_evts_total") or 0, time.monotonic()
        d1 = agent.metric("falcosecurity_scap_n_drops_total") or 0
        print(
            f"under load: CPU {load[0]:.2f} %, RSS {load[1]:.1f} MB (peak {load[2]:.1f} MB), "
            f"{(e1 - e0) / (t1 - t0):.0f} kernel events/s, {d1 - d0:.0f} drops; workload "
            f"{load[3]:.0f} iterations/s = {100 * load[3] / base_rate:.1f} % of its rate alone "
            f"(load average {loadavg()})"
        )
    finally:
        agent.stop()


if __name__ == "__main__":
    main()
