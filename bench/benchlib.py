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
