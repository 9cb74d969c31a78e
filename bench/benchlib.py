"""Helpers shared by the bench harnesses (bench/*.py), which run as `python3 bench/X.py`."""

import os
import re
import socket
import subprocess
import threading
import time
import urllib.request


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def metrics(addr):
    page = urllib.request.urlopen(f"http://{addr}/metrics", timeout=10).read().decode()
    out = {}
    for line in page.splitlines():
        if line.startswith("#") or " " not in line:
            continue
        name, value = line.rsplit(" ", 1)
        out[name] = float(value)
    return out


def pick(m, name, **labels):
    """Sum of the samples of `name` whose labels include `labels`."""
    total = 0.0
    for k, v in m.items():
        base, _, rest = k.partition("{")
        if base != name:
            continue
        if all(f'{lk}="{lv}"' in rest for lk, lv in labels.items()):
            total += v
    return total


def spawn_agent(agent_bin, config, rules):
    """The agent with `config` and `rules`, its log (info) on a pipe for `wait_agent`."""
    env = dict(os.environ, PEREGRINE_LOG="info", PEREGRINE_DEFAULT_CONFIG="")
    return subprocess.Popen(
        [agent_bin, "-c", config, "-r", rules],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    )


def wait_agent(agent):
    """Waits (60 s at most) until the agent captures; returns its web server's address."""
    addr = None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = agent.stderr.readline()
        if not line:
            raise SystemExit("agent exited during start-up")
        m = re.search(r"listening on http://(\S+)", line)
        if m:
            addr = m.group(1)
        if "capturing" in line:
            break
    if addr is None:
        raise SystemExit("the agent's web server did not start")
    threading.Thread(target=lambda: [None for _ in agent.stderr], daemon=True).start()
    time.sleep(1)
    return addr


def write_config(tmp, extra):
    """`tmp`/falco.yaml for a bench agent: JSON alerts, stdout, syslog and dedup off, the web
    server and /metrics on a free loopback port; then `extra` (YAML). Returns its path."""
    config = f"{tmp}/falco.yaml"
    with open(config, "w") as f:
        f.write(
            """json_output: true
stdout_output: {enabled: false}
syslog_output: {enabled: false}
dedup: {enabled: false}
base_syscalls: {repair: false}
webserver: {enabled: true, listen_address: 127.0.0.1, listen_port: 0, prometheus_metrics_enabled: true}
metrics: {enabled: true}
"""
            + extra
        )
    return config


def paced_load(load_bin, marker, rate, seconds, addr, sample):
    """Runs bench/storm_load.c `pace` (opening `marker` `rate` times a second for `seconds`)
    while polling the agent's /metrics at `addr`. The agent refreshes /metrics once a second:
    poll faster and keep the polls where the counters moved, each stamped with when it was
    first seen, so a rate is taken between two refreshes rather than between two arbitrary
    reads; `sample()` (a tuple) is read at the same moment. Returns the steady polls (from the
    first refresh 1 s into the load to the last one before its end; else the last two), each
    `(time, metrics, *sample())`; the generator's opens and seconds; when the load ended (as
    time.monotonic())."""
    print(f"rate {rate:.0f} opens/s for {seconds:.0f} s; load average before: {loadavg()}")
    gen = subprocess.Popen(
        [load_bin, "pace", marker, str(rate), str(seconds)], stdout=subprocess.PIPE, text=True
    )
    t0 = time.monotonic()
    polls = []
    last = None
    while gen.poll() is None:
        m = metrics(addr)
        now = time.monotonic()
        key = pick(m, "falcosecurity_falco_rules_matches_total")
        if key != last:
            polls.append((now, m) + sample())
            last = key
        time.sleep(0.1)
    t1 = time.monotonic()
    out = gen.stdout.read().split()
    steady = [p for p in polls if t0 + 1 <= p[0] <= t1]
    if len(steady) < 2:
        steady = polls[-2:]
    return steady, int(out[1]), float(out[2]), t1


def stop(proc, timeout=30):
    """SIGTERM, then SIGKILL if `proc` has not exited `timeout` seconds later."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
