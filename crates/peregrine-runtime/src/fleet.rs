//! The agent's side of the fleet (`fleet.enabled`): its alerts and response records already go
//! to JetStream through the spooled fleet output the outputs crate builds from the `fleet`
//! block; this module runs the heartbeat beside it, with the agent's digests and counters.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use peregrine_config::Config;
use peregrine_fleet::{AgentCounters, AgentInfo, HeartbeatPublisher};
use peregrine_web::metrics::{FileDigest, RunInfo};

/// The running totals the heartbeat reads.
#[derive(Default)]
struct Totals {
    events: AtomicU64,
    drops: AtomicU64,
    alerts: AtomicU64,
}

/// A running heartbeat.
pub(crate) struct FleetFeed {
    totals: Arc<Totals>,
    heartbeat: HeartbeatPublisher,
}

/// SHA-256 over the files' names and digests, in order: one value to compare across hosts.
fn digest(files: &[FileDigest]) -> String {
    let text: String = files
        .iter()
        .map(|f| format!("{} {}\n", f.file_name, f.sha256))
        .collect();
    peregrine_web::metrics::sha256_hex(text.as_bytes())
}

impl FleetFeed {
    /// Starts the heartbeat when `fleet.enabled`; a heartbeat that cannot start is logged and
    /// left out (detection and the alerts go on).
    pub fn start(config: &Config, run: &RunInfo) -> Option<FleetFeed> {
        let fleet = &config.fleet;
        if !fleet.enabled {
            return None;
        }
        let info = AgentInfo {
            version: env!("CARGO_PKG_VERSION").to_string(),
            engine_version: peregrine_rules::version::ENGINE_VERSION.to_string(),
            rules_hash: digest(&run.rules_files),
            config_hash: digest(&run.config_files),
        };
        let totals = Arc::new(Totals::default());
        let t = totals.clone();
        let source = Arc::new(move || AgentCounters {
            events: t.events.load(Ordering::Relaxed),
            drops: t.drops.load(Ordering::Relaxed),
            alerts: t.alerts.load(Ordering::Relaxed),
        });
        match HeartbeatPublisher::start(fleet, info, source) {
            Ok(heartbeat) => {
                log::info!(
                    "fleet: host '{}' publishing to {} (alerts on {}, heartbeat every {:?})",
                    fleet.host,
                    fleet.url(),
                    fleet.alert_subject(),
                    fleet.heartbeat_interval
                );
                Some(FleetFeed { totals, heartbeat })
            }
            Err(e) => {
                log::warn!("fleet: no heartbeat: {e}");
                None
            }
        }
    }

    /// The agent's totals so far.
    pub fn update(&self, events: u64, drops: u64, alerts: u64) {
        self.totals.events.store(events, Ordering::Relaxed);
        self.totals.drops.store(drops, Ordering::Relaxed);
        self.totals.alerts.store(alerts, Ordering::Relaxed);
    }

    /// Sends the last heartbeat (marked stopping) and stops.
    pub fn stop(self) {
        self.heartbeat.stop();
    }
}

/// `peregrine server`'s options beyond the configuration file.
#[derive(Clone, Debug)]
pub struct ServeArgs {
    /// `--store`: a `postgres://` URL (PostgreSQL) or the path of a SQLite file.
    pub store: String,
    /// `--coverage-window`.
    pub coverage_window: std::time::Duration,
    /// `--expect-hosts`: a file with one host per line (`#` comments).
    pub expect_hosts: Option<std::path::PathBuf>,
}

/// The hosts of an `--expect-hosts` file: one per line, blank lines and `#` comments skipped.
pub fn expected_hosts(text: &str) -> std::result::Result<Vec<String>, String> {
    let mut hosts = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let name = line.split('#').next().unwrap_or("").trim();
        if name.is_empty() {
            continue;
        }
        if peregrine_config::fleet::host_token(name) != name {
            return Err(format!(
                "line {}: '{}' is not a fleet host name (letters, digits, '-' and '_')",
                i + 1,
                peregrine_filter::escape::terminal_safe(name)
            ));
        }
        hosts.push(name.to_string());
    }
    Ok(hosts)
}

/// `--store` as the log shows it: a URL without its password.
fn store_name(url_or_path: &str) -> String {
    let shown = match url_or_path.split_once("://") {
        Some((scheme, rest)) => match rest.split_once('@') {
            Some((cred, host)) => {
                let user = cred.split(':').next().unwrap_or("");
                format!("{scheme}://{user}@{host}")
            }
            None => url_or_path.to_string(),
        },
        None => url_or_path.to_string(),
    };
    peregrine_filter::escape::terminal_safe(&shown)
}

/// Runs `peregrine server` until SIGINT or SIGTERM: the streams' consumers into the store,
/// and the console API (alerts of every host, `/api/v1/fleet/hosts`) with `/metrics`.
pub fn serve(config: &Config, args: &ServeArgs) -> crate::error::Result<i32> {
    use crate::error::{Context, RuntimeError};
    use std::sync::atomic::AtomicBool;
    let web = config
        .webserver
        .as_ref()
        .filter(|w| w.enabled)
        .ok_or_else(|| {
            RuntimeError::Invalid(
                "peregrine server serves the console: webserver.enabled must be true".into(),
            )
        })?;
    if !config.console.enabled {
        return Err(RuntimeError::Invalid(
            "peregrine server serves the console API: set console.enabled and a credential \
             (console.token, console.read_only_token or console.users)"
                .into(),
        ));
    }
    let expected = match &args.expect_hosts {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("--expect-hosts: cannot read {}", p.display()))?;
            let hosts = expected_hosts(&text).map_err(|e| {
                RuntimeError::Invalid(format!("--expect-hosts {}: {e}", p.display()))
            })?;
            Some(hosts.into_iter().collect())
        }
        None => None,
    };
    // The URL's password is not repeated in an error: the store's errors name the server only.
    let store = peregrine_store::open(&args.store).context("--store")?;
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, stop.clone()).context("installing signal handlers")?;
    }
    let dyn_store = store.clone();
    // The console's live queue and overview, fed with each batch the server stores.
    let live = Arc::new(peregrine_web::console::Live::counting_arrivals());
    let seeded = live.clone();
    let server = peregrine_fleet::FleetServer::start(peregrine_fleet::ServerOptions {
        fleet: config.fleet.clone(),
        store: dyn_store.clone(),
        coverage_window: args.coverage_window,
        expected,
        alerts_max_age: None,
        on_stored: Some(live.on_stored()),
        hold_until: Some(Arc::new(move || seeded.is_seeded())),
    })
    .context("starting the fleet server")?;
    let registry = server.registry.clone();
    let reg = registry.clone();
    let st = store.clone();
    let metrics_text: peregrine_web::server::MetricsText = Arc::new(move || {
        let mut text = reg.prometheus_text(peregrine_store::writer::now_ns());
        text.push_str(&format!(
            "# HELP peregrine_fleet_store_bytes Bytes of the alert store on disk.\n\
             # TYPE peregrine_fleet_store_bytes gauge\n\
             peregrine_fleet_store_bytes {}\n",
            st.size_bytes().unwrap_or(0)
        ));
        text
    });
    let extras = peregrine_web::Extras {
        alerts: Some(peregrine_web::alerts_api::Api {
            store: dyn_store,
            // The agents' rules are theirs: the server lists none.
            rules: Arc::new(Vec::new),
        }),
        console: Some(config.console.clone()),
        metrics_text: Some(metrics_text),
        fleet: Some(registry),
        live: Some(live),
        ..peregrine_web::Extras::default()
    };
    let metrics = (config.metrics.enabled && web.prometheus_metrics_enabled).then(|| {
        Arc::new(peregrine_web::MetricsSnapshot::default) as Arc<dyn peregrine_web::Collect>
    });
    let versions = peregrine_web::Versions::peregrine(&peregrine_rules::version::ENGINE_VERSION);
    let web = peregrine_web::WebServer::start_pending_with(web, &versions, metrics, extras)?;
    web.set_ready();
    let scheme = if config.webserver.as_ref().is_some_and(|w| w.ssl_enabled) {
        "https"
    } else {
        "http"
    };
    // On stdout: what a script (or a test) reads to find the console.
    println!(
        "peregrine server: console on {scheme}://{}",
        web.local_addr()
    );
    log::info!(
        "fleet server: consuming {} (prefix '{}'), store {}, coverage window {:?}",
        config.fleet.url(),
        config.fleet.subject_prefix,
        store_name(&args.store),
        args.coverage_window
    );
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    server.stop();
    web.shutdown();
    Ok(0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn expected_hosts_file() {
        assert_eq!(
            super::expected_hosts("# fleet\nnode-1\n\n node_2  # db\n").expect("ok"),
            vec!["node-1", "node_2"]
        );
        assert_eq!(
            super::store_name("postgres://fleet:s3cret@db:5432/alerts"),
            "postgres://fleet@db:5432/alerts"
        );
        assert_eq!(super::store_name("/var/lib/f.db"), "/var/lib/f.db");
        assert!(super::expected_hosts("a.b\n")
            .expect_err("bad")
            .contains("line 1"));
    }
}
