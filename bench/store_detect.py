#!/usr/bin/env python3
# The alert store with detection running (run by `bench/store.sh detect`; issues #16, #17):
#
#  - the release agent, live, with one rule that fires on every open of a marker file, dedup
#    off, stdout and syslog off, and the alert store on (a SQLite file in a temporary
#    directory, the default ancestry depth);
#  - a load generator (bench/storm_load.c `pace`) opening the marker RATE times a second for
#    SECONDS.
#
# Reported, from the agent's /metrics: alerts raised (rule matches) and stored per second in
# the steady window, alerts the store's queue dropped, and the CPU the agent used while loaded:
# all its threads, and the store's writer thread (`alert-store`) alone, as alerts per
# CPU-second.
#
# Usage: store_detect.py AGENT STORM_LOAD [RATE] [SECONDS]
import os
import shutil
import sys
import tempfile
import time

from benchlib import loadavg, metrics, paced_load, pick, spawn_agent, stop, wait_agent, write_config

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(stat_path):
    """utime + stime of a process or thread, in seconds (0 when it is gone)."""
    try:
        with open(stat_path) as f:
            rest = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(rest[11]) + int(rest[12])) / TICK


def writer_thread(pid):
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                if f.read().strip() == "alert-store":
                    return f"/proc/{pid}/task/{tid}/stat"
        except OSError:
            pass
    return None


def main():
    agent_bin, load_bin = sys.argv[1:3]
    rate = float(sys.argv[3]) if len(sys.argv) > 3 else 25000
    seconds = float(sys.argv[4]) if len(sys.argv) > 4 else 10
    tmp = tempfile.mkdtemp(prefix="peregrine-store-detect-")
    agent = None
    try:
        marker = f"{tmp}/marker"
        open(marker, "w").close()
        rules = f"{tmp}/rules.yaml"
        with open(rules, "w") as f:
            f.write(
                f"""- rule: Bench store marker
  desc: every open of the bench's marker file
  condition: evt.type in (open, openat, openat2) and fd.name = {marker}
  output: bench marker opened by %proc.name (file=%fd.name pid=%proc.pid cmdline=%proc.cmdline)
  priority: WARNING
  tags: [bench, filesystem]
"""
            )
        config = write_config(tmp, f"alert_store: {{enabled: true, path: {tmp}/alerts.db}}\n")
        agent = spawn_agent(agent_bin, config, rules)
        addr = wait_agent(agent)
        wstat = writer_thread(agent.pid)
        if wstat is None:
            raise SystemExit("no alert-store thread in the agent")

        # The agent's and the writer's CPU time with each poll.
        steady, opened, took, t1 = paced_load(
            load_bin,
            marker,
            rate,
            seconds,
            addr,
            lambda: (cpu_seconds(f"/proc/{agent.pid}/stat"), cpu_seconds(wstat)),
        )
        (ta, ma, ca, wa), (tb, mb, cb, wb) = steady[0], steady[-1]
        window = max(tb - ta, 1e-9)
        d = lambda name: pick(mb, name) - pick(ma, name)
        raised = d("falcosecurity_falco_rules_matches_total")
        stored = d("peregrine_alert_store_inserted_total")
        # Drain: until every raised alert is stored or counted dropped/failed, or 60 s.
        end = time.monotonic() + 60
        while time.monotonic() < end:
            m2 = metrics(addr)
            total = pick(m2, "falcosecurity_falco_rules_matches_total")
            done = sum(
                pick(m2, f"peregrine_alert_store_{k}_total")
                for k in ("inserted", "dropped", "failed")
            )
            if done >= total:
                break
            time.sleep(0.2)
        drained = time.monotonic() - t1
        time.sleep(1.2)
        m2 = metrics(addr)
        print(f"load average after: {loadavg()}")
        print(f"generator: {opened} opens in {took:.2f} s ({opened / took:,.0f}/s)")
        print(
            f"steady window {window:.1f} s: alerts raised {raised / window:,.0f}/s, "
            f"stored {stored / window:,.0f}/s; agent CPU {(cb - ca) / window:.2f} cores "
            f"({stored / max(cb - ca, 1e-9):,.0f} stored alerts per agent CPU-second), "
            f"store writer thread {(wb - wa) / window:.2f} cores "
            f"({stored / max(wb - wa, 1e-9):,.0f} stored alerts per writer CPU-second)"
        )
        print(
            f"in all: {pick(m2, 'falcosecurity_falco_rules_matches_total'):.0f} alerts raised, "
            f"kernel drops {pick(m2, 'falcosecurity_scap_n_drops_total'):.0f}; stored "
            f"{pick(m2, 'peregrine_alert_store_inserted_total'):.0f}, dropped (queue full) "
            f"{pick(m2, 'peregrine_alert_store_dropped_total'):.0f}, failed "
            f"{pick(m2, 'peregrine_alert_store_failed_total'):.0f}; drained {drained:.2f} s "
            f"after the load; store {pick(m2, 'peregrine_alert_store_size_bytes') / 1e6:.1f} MB"
        )
    finally:
        if agent is not None:
            stop(agent)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
