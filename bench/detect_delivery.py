#!/usr/bin/env python3
# Alert delivery with detection running (run by bench/detect_delivery.sh; issue #14's bench):
#
#  - a private nats-server with JetStream on a loopback port (temp dir), a file-backed stream
#    for `peregrine.>`, and a plain subscriber on the same subjects in this process;
#  - the release agent, live, with one rule that fires on every open of a marker file, dedup
#    off, stdout and syslog off, a spooled `nats_output` with `jetstream: true` (each publish
#    acknowledged by the stream before it leaves the spool);
#  - a load generator (bench/storm_load.c `pace`) opening the marker RATE times a second for
#    SECONDS.
#
# Reported: alerts raised (rule matches), the rates at which they were committed into the spool
# and delivered (acknowledged) to NATS while the load ran (from the agent's /metrics), the
# subscriber's count, how long the spool took to drain after the load, and the latency from the
# event (the kernel timestamp in the alert's `time`) to the subscriber receiving it
# (p50/p99/max). The subscriber takes one wall-clock timestamp per socket read, before parsing,
# so its own parsing cost is not counted; a backlog in its socket buffer is.
#
# Usage: detect_delivery.py AGENT STORM_LOAD NATS_SERVER [RATE] [SECONDS]
import calendar
import json
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

from benchlib import (
    free_port,
    loadavg,
    metrics,
    paced_load,
    pick,
    spawn_agent,
    stop,
    wait_agent,
    write_config,
)


class Nats:
    """Just enough of the NATS text protocol: CONNECT, SUB, PUB, PING/PONG, MSG."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buf = b""
        self._line()  # INFO
        self.sock.sendall(b'CONNECT {"verbose":false,"pedantic":false,"headers":false}\r\nPING\r\n')
        while self._line() != b"PONG":
            pass

    def _fill(self):
        data = self.sock.recv(1 << 20)
        if not data:
            raise EOFError("nats closed the connection")
        self.buf += data

    def _line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def request(self, subject, payload):
        inbox = "_INBOX.bench"
        body = json.dumps(payload).encode()
        self.sock.sendall(
            f"SUB {inbox} 99\r\nPUB {subject} {inbox} {len(body)}\r\n".encode() + body + b"\r\n"
        )
        while True:
            line = self._line()
            if line.startswith(b"MSG"):
                n = int(line.split()[-1])
                while len(self.buf) < n + 2:
                    self._fill()
                reply, self.buf = self.buf[:n], self.buf[n + 2 :]
                return json.loads(reply)
            if line == b"PING":
                self.sock.sendall(b"PONG\r\n")


class Subscriber(threading.Thread):
    """Counts the messages on `peregrine.>` and records event → receipt latency (ns)."""

    TIME = re.compile(rb'"time":"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\.(\d+)Z"')

    def __init__(self, port):
        super().__init__(daemon=True)
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock.sendall(b'CONNECT {"verbose":false,"pedantic":false}\r\nSUB peregrine.> 1\r\nPING\r\n')
        self.sock.settimeout(None)
        self.count = 0
        self.latencies = []
        self.unparsed = 0
        self.epoch = {}  # "YYYY-MM-DDTHH:MM:SS" -> seconds since the epoch

    def seconds(self, prefix):
        s = self.epoch.get(prefix)
        if s is None:
            s = calendar.timegm(time.strptime(prefix.decode(), "%Y-%m-%dT%H:%M:%S"))
            self.epoch[prefix] = s
        return s

    def run(self):
        buf = b""
        while True:
            data = self.sock.recv(1 << 20)
            now = time.time_ns()
            if not data:
                return
            buf += data
            while True:
                end = buf.find(b"\r\n")
                if end < 0:
                    break
                line = buf[:end]
                if line.startswith(b"MSG "):
                    n = int(line.rsplit(b" ", 1)[1])
                    if len(buf) < end + 2 + n + 2:
                        break
                    payload = buf[end + 2 : end + 2 + n]
                    buf = buf[end + 2 + n + 2 :]
                    self.count += 1
                    m = self.TIME.search(payload)
                    if m:
                        frac = m.group(2)[:9].ljust(9, b"0")
                        event = self.seconds(m.group(1)) * 1_000_000_000 + int(frac)
                        self.latencies.append(now - event)
                    else:
                        self.unparsed += 1
                    continue
                buf = buf[end + 2 :]
                if line == b"PING":
                    self.sock.sendall(b"PONG\r\n")


def pct(sorted_ns, p):
    i = min(len(sorted_ns) - 1, max(0, round(p / 100 * len(sorted_ns)) - 1))
    return sorted_ns[i] / 1e6


def main():
    agent_bin, load_bin, nats_bin = sys.argv[1:4]
    rate = float(sys.argv[4]) if len(sys.argv) > 4 else 25000
    seconds = float(sys.argv[5]) if len(sys.argv) > 5 else 10
    tmp = tempfile.mkdtemp(prefix="peregrine-detect-delivery-")
    procs = []
    try:
        port = free_port()
        nats = subprocess.Popen(
            [nats_bin, "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", f"{tmp}/js"],
            stdout=subprocess.DEVNULL,
            stderr=open(f"{tmp}/nats.log", "w"),
        )
        procs.append(nats)
        for _ in range(100):
            try:
                client = Nats(port)
                break
            except OSError:
                time.sleep(0.1)
        else:
            raise SystemExit("nats-server did not start: " + open(f"{tmp}/nats.log").read())
        created = client.request(
            "$JS.API.STREAM.CREATE.PEREGRINE",
            {
                "name": "PEREGRINE",
                "subjects": ["peregrine.>"],
                "storage": "file",
                "max_bytes": 256 << 20,
                "discard": "old",
                "num_replicas": 1,
            },
        )
        if "error" in created:
            raise SystemExit(f"stream: {created['error']}")
        sub = Subscriber(port)
        sub.start()

        marker = f"{tmp}/marker"
        open(marker, "w").close()
        rules = f"{tmp}/rules.yaml"
        with open(rules, "w") as f:
            f.write(
                f"""- rule: Bench delivery marker
  desc: every open of the bench's marker file
  condition: evt.type in (open, openat, openat2) and fd.name = {marker}
  output: bench marker opened by %proc.name (file=%fd.name)
  priority: WARNING
"""
            )
        config = write_config(
            tmp,
            f"""nats_output:
  enabled: true
  url: nats://127.0.0.1:{port}
  subject: peregrine.alerts
  jetstream: true
  spool: {{dir: {tmp}/spool}}
""",
        )
        agent = spawn_agent(agent_bin, config, rules)
        procs.append(agent)
        addr = wait_agent(agent)

        # The subscriber's count with each poll.
        steady, opened, took, t1 = paced_load(
            load_bin, marker, rate, seconds, addr, lambda: (sub.count,)
        )
        (ta, ma, ca), (tb, mb, cb) = steady[0], steady[-1]
        window = max(tb - ta, 1e-9)
        d = lambda name, **l: pick(mb, name, **l) - pick(ma, name, **l)
        # Drain: until every alert the engine raised reached the subscriber or was counted lost
        # (a full queue or spool), or 120 s.
        end = time.monotonic() + 120
        while time.monotonic() < end:
            m2 = metrics(addr)
            raised = pick(m2, "falcosecurity_falco_rules_matches_total")
            lost = pick(m2, "peregrine_output_queue_drops_total", output="nats") + pick(
                m2, "peregrine_output_spool_drops_total", output="nats"
            )
            if sub.count + lost >= raised and pick(m2, "peregrine_output_spool_pending", output="nats") == 0:
                break
            time.sleep(0.2)
        drained = time.monotonic() - t1
        time.sleep(1.2)
        m2 = metrics(addr)
        raised = pick(m2, "falcosecurity_falco_rules_matches_total")
        print(f"load average after: {loadavg()}")
        print(f"generator: {opened} opens in {took:.2f} s ({opened / took:,.0f}/s)")
        print(
            f"steady window {window:.1f} s: alerts raised {d('falcosecurity_falco_rules_matches_total') / window:,.0f}/s, "
            f"into the spool {d('peregrine_output_spooled_total', output='nats') / window:,.0f}/s, "
            f"delivered (JetStream-acknowledged) {d('peregrine_output_delivered_total', output='nats') / window:,.0f}/s, "
            f"at the subscriber {(cb - ca) / window:,.0f}/s"
        )
        print(
            f"in all: {opened} opens, {raised:.0f} alerts raised, kernel drops "
            f"{pick(m2, 'falcosecurity_scap_n_drops_total'):.0f}; delivered "
            f"{pick(m2, 'peregrine_output_delivered_total', output='nats'):.0f}, at the subscriber {sub.count}; "
            f"lost: queue {pick(m2, 'peregrine_output_queue_drops_total', output='nats'):.0f}, "
            f"spool {pick(m2, 'peregrine_output_spool_drops_total', output='nats'):.0f}; "
            f"spool drained {drained:.2f} s after the load"
        )
        lat = sorted(sub.latencies)
        if lat:
            print(
                f"event -> subscriber (ms): p50 {pct(lat, 50):.1f}  p90 {pct(lat, 90):.1f}  "
                f"p99 {pct(lat, 99):.1f}  max {lat[-1] / 1e6:.1f}  ({len(lat)} alerts)"
            )
        ttd = [
            (k, v)
            for k, v in m2.items()
            if k.startswith("peregrine_time_to_detect_seconds_bucket")
        ]
        count = pick(m2, "peregrine_time_to_detect_seconds_count")
        if count:
            for k, v in ttd:
                if v >= 0.99 * count:
                    print(f"time to detect (agent histogram): p99 <= {k.split('le=')[1].strip('}')} s")
                    break
    finally:
        for p in reversed(procs):
            stop(p)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
