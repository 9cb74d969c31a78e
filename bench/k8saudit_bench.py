#!/usr/bin/env python3
"""Harness of bench/k8saudit.sh: file and webhook throughput of the k8s_audit source, RSS at rest."""
import glob
import http.client
import json
import os
import re
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time

from benchlib import free_port

BINARY, K8S, N = sys.argv[1], sys.argv[2], int(sys.argv[3])
RULES = os.path.join(K8S, "rules", "k8s_audit_rules.yaml")
BATCH = 500


def events():
    """Every Event of the trace files (fal_01_003's malformed line and the kind-less plugin
    test object left out)."""
    out = []
    for f in sorted(glob.glob(os.path.join(K8S, "events", "*.json"))):
        for line in open(f):
            try:
                j = json.loads(line)
            except ValueError:
                continue
            if isinstance(j, dict) and j.get("kind") == "Event" and "stageTimestamp" in j:
                out.append(line.strip())
    return out


def config(d, open_params):
    p = os.path.join(d, "falco.yaml")
    with open(p, "w") as f:
        f.write(
            "load_plugins: [k8saudit, json]\n"
            "plugins:\n"
            "  - {name: k8saudit, library_path: libk8saudit.so, init_config: '', open_params: '%s'}\n"
            "  - {name: json, library_path: libjson.so, init_config: ''}\n"
            "json_output: true\nsyslog_output: {enabled: false}\ndedup: {enabled: false}\n" % open_params
        )
    return p


def agent(cfg):
    return subprocess.Popen(
        ["taskset", "-c", "0", BINARY, "-c", cfg, "-r", RULES, "--enable-source", "k8s_audit"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PEREGRINE_CONFIG": ""},
    )


def alerts(stderr):
    m = re.search(r"Events detected: (\d+)", stderr)
    return int(m.group(1)) if m else -1


def processed(stderr):
    m = re.search(r"Events processed: (\d+)", stderr)
    return int(m.group(1)) if m else -1


def rss_kb(pid):
    for line in open("/proc/%d/status" % pid):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return -1


def file_run(d, lines, n):
    path = os.path.join(d, "events-%d.json" % n)
    with open(path, "w") as f:
        for i in range(n):
            f.write(lines[i % len(lines)])
            f.write("\n")
    cfg = config(d, path)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.monotonic()
    p = agent(cfg)
    _, err = p.communicate()
    dt = time.monotonic() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    os.unlink(path)
    return dt, cpu, processed(err), alerts(err)


def webhook_run(d, lines, n):
    port = free_port()
    p = agent(config(d, "http://127.0.0.1:%d/k8s-audit" % port))
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.05)
    time.sleep(2)
    rest = rss_kb(p.pid)
    bodies = []
    for start in range(0, n, BATCH):
        items = [lines[i % len(lines)] for i in range(start, min(n, start + BATCH))]
        bodies.append(('{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[%s]}' % ",".join(items)).encode())
    os.sched_setaffinity(0, {1})
    t = time.monotonic()
    for b in bodies:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        c.request("POST", "/k8s-audit", body=b, headers={"Content-Type": "application/json"})
        r = c.getresponse()
        r.read()
        assert r.status == 200, r.status
        c.close()
    peak = rss_kb(p.pid)
    p.send_signal(signal.SIGTERM)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    _, err = p.communicate()
    dt = time.monotonic() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return dt, cpu, processed(err), rest, peak


def main():
    lines = events()
    with tempfile.TemporaryDirectory() as d:
        base, base_cpu, _, _ = file_run(d, lines, 1)
        dt, cpu, got, hits = file_run(d, lines, N)
        # Wall time depends on what else runs on the core; CPU time is the agent's own cost.
        print("file:    %d events (%d alerts) in %.2f s wall, %.2f s CPU (start-up %.2f s wall, %.2f s CPU excluded): "
              "%.0f events/s wall, %.0f events per CPU-second; processed %d"
              % (N, hits, dt, cpu, base, base_cpu, (N - 1) / max(dt - base, 1e-9),
                 (N - 1) / max(cpu - base_cpu, 1e-9), got))
        dt, cpu, got, rest, peak = webhook_run(d, lines, N)
        print("webhook: %d events in %d-event batches in %.2f s wall, agent %.2f s CPU (start-up included): "
              "%.0f events/s wall, %.0f events per CPU-second; processed %d"
              % (N, BATCH, dt, cpu, N / dt, N / max(cpu, 1e-9), got))
        print("memory:  RSS at rest with the webhook open %.1f MB, after the run %.1f MB"
              % (rest / 1024, peak / 1024))
        print("load average: %s" % " ".join(open("/proc/loadavg").read().split()[:3]))


main()
