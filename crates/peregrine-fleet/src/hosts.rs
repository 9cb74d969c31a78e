//! The hosts the server has heard from, and coverage: which expected hosts reported within
//! the window.
//!
//! A host's last report is the time the stream received its latest heartbeat (JetStream's
//! timestamp), not the agent's clock: a skewed agent clock cannot make a dead node look
//! alive, and a server catching up from the stream after a restart sees the true ages.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use serde_json::{json, Value};

use crate::message::Heartbeat;

/// What the server knows of one host.
#[derive(Clone, Debug, Default)]
pub struct Host {
    /// The latest heartbeat (by stream time).
    pub heartbeat: Option<Heartbeat>,
    /// When the stream received it, ns since the epoch.
    pub last_seen_ns: u64,
    /// Alerts stored for this host since the server started.
    pub alerts: u64,
}

/// Counters of the server, for `/metrics`.
#[derive(Debug, Default)]
pub struct Counters {
    pub alerts_stored: AtomicU64,
    /// Alerts delivered again that the store already had.
    pub duplicates: AtomicU64,
    pub heartbeats: AtomicU64,
    pub bad_alerts: AtomicU64,
    pub bad_heartbeats: AtomicU64,
    /// Store inserts that failed (the batch is redelivered).
    pub store_errors: AtomicU64,
}

/// The hosts and the coverage rule.
pub struct Registry {
    hosts: Mutex<BTreeMap<String, Host>>,
    /// `--expect-hosts`; `None`: every host seen is expected.
    expected: Option<BTreeSet<String>>,
    window: Duration,
    pub counters: Counters,
}

impl Registry {
    pub fn new(expected: Option<BTreeSet<String>>, window: Duration) -> Registry {
        Registry {
            hosts: Mutex::new(BTreeMap::new()),
            expected,
            window,
            counters: Counters::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Host>> {
        // A panic while holding the lock leaves a usable table.
        self.hosts.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A heartbeat the stream received at `received_ns`. An older one (a redelivery after a
    /// newer one) does not move the host back.
    pub fn heartbeat(&self, hb: Heartbeat, received_ns: u64) {
        let mut hosts = self.lock();
        let h = hosts.entry(hb.host.clone()).or_default();
        if received_ns >= h.last_seen_ns {
            h.last_seen_ns = received_ns;
            h.heartbeat = Some(hb);
        }
    }

    /// `n` alerts stored for `host`.
    pub fn alerts(&self, host: &str, n: u64) {
        self.lock().entry(host.to_string()).or_default().alerts += n;
    }

    /// (expected, reporting, missing hosts) at `now_ns`.
    pub fn coverage(&self, now_ns: u64) -> (usize, usize, Vec<String>) {
        let hosts = self.lock();
        let window = u64::try_from(self.window.as_nanos()).unwrap_or(u64::MAX);
        let covered =
            |h: &Host| h.last_seen_ns > 0 && now_ns.saturating_sub(h.last_seen_ns) <= window;
        let expected: Vec<&str> = match &self.expected {
            Some(e) => e.iter().map(String::as_str).collect(),
            None => hosts
                .iter()
                .filter(|(_, h)| h.last_seen_ns > 0)
                .map(|(k, _)| k.as_str())
                .collect(),
        };
        let missing: Vec<String> = expected
            .iter()
            .filter(|name| !hosts.get(**name).is_some_and(covered))
            .map(|s| s.to_string())
            .collect();
        let reporting = hosts.values().filter(|h| covered(h)).count();
        (expected.len(), reporting, missing)
    }

    /// The `/api/v1/fleet/hosts` document.
    pub fn document(&self, now_ns: u64) -> Value {
        let (expected_n, reporting, missing) = self.coverage(now_ns);
        let window = u64::try_from(self.window.as_nanos()).unwrap_or(u64::MAX);
        let hosts = self.lock();
        let mut names: BTreeSet<&str> = hosts.keys().map(String::as_str).collect();
        if let Some(e) = &self.expected {
            names.extend(e.iter().map(String::as_str));
        }
        let rows: Vec<Value> = names
            .into_iter()
            .map(|name| {
                let h = hosts.get(name).cloned().unwrap_or_default();
                let hb = h.heartbeat.unwrap_or_default();
                let seen = h.last_seen_ns > 0;
                let covered = seen && now_ns.saturating_sub(h.last_seen_ns) <= window;
                json!({
                    "host": name,
                    "labels": hb.labels,
                    "last_seen_ns": seen.then_some(h.last_seen_ns),
                    "age_s": seen.then(|| now_ns.saturating_sub(h.last_seen_ns) / 1_000_000_000),
                    "version": hb.version,
                    "engine_version": hb.engine_version,
                    "rules_hash": hb.rules_hash,
                    "config_hash": hb.config_hash,
                    "events": hb.events,
                    "drops": hb.drops,
                    "agent_alerts": hb.alerts,
                    "uptime_s": hb.uptime_s,
                    "stopping": hb.stopping,
                    "alerts": h.alerts,
                    "expected": self.expected.as_ref().is_none_or(|e| e.contains(name)),
                    "covered": covered,
                })
            })
            .collect();
        json!({
            "window_s": self.window.as_secs(),
            "expected": expected_n,
            "reporting": reporting,
            "missing": missing,
            "hosts": rows,
        })
    }

    /// The server's series in Prometheus's text format.
    pub fn prometheus_text(&self, now_ns: u64) -> String {
        let (expected, reporting, missing) = self.coverage(now_ns);
        let c = &self.counters;
        let n = |a: &AtomicU64| a.load(Ordering::Relaxed);
        format!(
            "# HELP peregrine_fleet_hosts_expected Hosts expected to report.\n\
             # TYPE peregrine_fleet_hosts_expected gauge\n\
             peregrine_fleet_hosts_expected {expected}\n\
             # HELP peregrine_fleet_hosts_reporting Hosts whose last heartbeat is within the coverage window.\n\
             # TYPE peregrine_fleet_hosts_reporting gauge\n\
             peregrine_fleet_hosts_reporting {reporting}\n\
             # HELP peregrine_fleet_hosts_missing Expected hosts with no heartbeat within the coverage window.\n\
             # TYPE peregrine_fleet_hosts_missing gauge\n\
             peregrine_fleet_hosts_missing {}\n\
             # HELP peregrine_fleet_alerts_stored_total Alerts stored from the stream (rate() is the ingest rate).\n\
             # TYPE peregrine_fleet_alerts_stored_total counter\n\
             peregrine_fleet_alerts_stored_total {}\n\
             # HELP peregrine_fleet_duplicates_total Alerts delivered again that were already stored.\n\
             # TYPE peregrine_fleet_duplicates_total counter\n\
             peregrine_fleet_duplicates_total {}\n\
             # HELP peregrine_fleet_heartbeats_total Heartbeats received.\n\
             # TYPE peregrine_fleet_heartbeats_total counter\n\
             peregrine_fleet_heartbeats_total {}\n\
             # HELP peregrine_fleet_bad_messages_total Malformed or foreign messages, acknowledged and skipped.\n\
             # TYPE peregrine_fleet_bad_messages_total counter\n\
             peregrine_fleet_bad_messages_total{{stream=\"alerts\"}} {}\n\
             peregrine_fleet_bad_messages_total{{stream=\"heartbeats\"}} {}\n\
             # HELP peregrine_fleet_store_errors_total Store inserts that failed (the batch is delivered again).\n\
             # TYPE peregrine_fleet_store_errors_total counter\n\
             peregrine_fleet_store_errors_total {}\n",
            missing.len(),
            n(&c.alerts_stored),
            n(&c.duplicates),
            n(&c.heartbeats),
            n(&c.bad_alerts),
            n(&c.bad_heartbeats),
            n(&c.store_errors),
        )
    }
}

impl peregrine_web::fleet_api::FleetView for Registry {
    fn hosts(&self) -> Value {
        self.document(peregrine_store::writer::now_ns())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn beat(host: &str) -> Heartbeat {
        Heartbeat {
            kind: crate::message::HEARTBEAT_KIND.into(),
            host: host.into(),
            version: "0.1.0".into(),
            ..Heartbeat::default()
        }
    }

    const S: u64 = 1_000_000_000;

    #[test]
    fn coverage_against_an_expected_list() {
        let expected = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        let r = Registry::new(Some(expected), Duration::from_secs(10));
        r.heartbeat(beat("a"), 100 * S);
        r.heartbeat(beat("b"), 85 * S);
        r.heartbeat(beat("x"), 100 * S);
        let (e, reporting, missing) = r.coverage(100 * S);
        assert_eq!((e, reporting), (3, 2));
        assert_eq!(missing, vec!["b", "c"]);
        let doc = r.document(100 * S);
        assert_eq!(doc["hosts"].as_array().map(Vec::len), Some(4));
        assert_eq!(doc["hosts"][3]["host"], "x");
        assert_eq!(doc["hosts"][3]["expected"], false);
        assert_eq!(doc["hosts"][2]["last_seen_ns"], Value::Null);
    }

    #[test]
    fn every_host_seen_is_expected_and_old_beats_do_not_win() {
        let r = Registry::new(None, Duration::from_secs(10));
        r.heartbeat(beat("a"), 100 * S);
        r.heartbeat(beat("a"), 50 * S);
        r.heartbeat(beat("b"), 50 * S);
        let (e, reporting, missing) = r.coverage(105 * S);
        assert_eq!((e, reporting, missing), (2, 1, vec!["b".to_string()]));
        assert!(r
            .prometheus_text(105 * S)
            .contains("peregrine_fleet_hosts_missing 1\n"));
    }
}
