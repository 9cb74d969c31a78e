//! Alert triage between the engine and the outputs: silences drop the alerts someone has
//! said they do not want to hear about (counted per silence), then fingerprint
//! deduplication lets the first alert of a kind through at once and folds its repeats into
//! one summary per window. Routing to outputs is the outputs crate's (`Route`).
//!
//! Key decision: triage runs on the thread that hands alerts to the outputs, before the
//! dispatcher, and owns no thread of its own. Deduplication is single-threaded state
//! ([`Dedup`], `&mut`); silences are shared with the web server's API ([`Silences`], one
//! lock), so creating one takes effect at the next alert. The agent calls [`Triage::tick`]
//! from its loop (at least once a second) so that summaries go out on time when the noise
//! stops; the cost is that a summary can be up to one tick late. Internal alerts (drop
//! notices, the metrics snapshot) do not pass through triage.

#![forbid(unsafe_code)]

pub mod dedup;
pub mod matcher;
pub mod silence;
pub mod timefmt;

use std::path::PathBuf;
use std::sync::Arc;

pub use dedup::{Dedup, DedupConfig, DedupOverride, DedupStats};
pub use matcher::Matcher;
pub use silence::{ApiError, Silence, SilenceCount, Silences, State};

use peregrine_outputs::Alert;

/// The default `state_dir`.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/peregrine";

/// A silence, a state file or a triage setting that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TriageError {
    /// A bad value; `key` is its path (`silences[2].matchers[0]`, `silence.ends_at`).
    #[error("invalid value for '{key}': {reason}")]
    Invalid { key: String, reason: String },
    #[error("silences state file {}: {reason}", path.display())]
    State { path: PathBuf, reason: String },
}

/// Text from a user, a peer or a file made safe for a log line or an error message.
pub(crate) fn printable(s: &str) -> String {
    const MAX: usize = 128;
    let mut shown: String = s.chars().take(MAX).collect();
    if s.chars().nth(MAX).is_some() {
        shown.push('…');
    }
    peregrine_filter::escape::terminal_safe(&shown)
}

/// The triage keys of the configuration (Peregrine extensions).
#[derive(Clone, Debug, PartialEq)]
pub struct TriageConfig {
    pub dedup: DedupConfig,
    /// `silences`: from the configuration, always in force.
    pub silences: Vec<Silence>,
    /// `silences_api.enabled`: the HTTP API on the web server.
    pub api_enabled: bool,
    /// `state_dir`: where the API's silences are kept.
    pub state_dir: PathBuf,
}

impl Default for TriageConfig {
    fn default() -> Self {
        TriageConfig {
            dedup: DedupConfig::default(),
            silences: Vec::new(),
            api_enabled: false,
            state_dir: PathBuf::from(DEFAULT_STATE_DIR),
        }
    }
}

/// Everything triage counted, for `/metrics` and the exit summary.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TriageSnapshot {
    pub dedup_enabled: bool,
    pub dedup: DedupStats,
    pub silences: Vec<SilenceCount>,
}

impl TriageSnapshot {
    /// The exit summary's lines (none when triage did nothing and is off).
    pub fn summary_lines(&self) -> Vec<String> {
        let mut lines = Vec::new();
        let d = &self.dedup;
        if self.dedup_enabled || d.suppressed > 0 {
            lines.push(format!(
                "Deduplication: {} repeated alerts held back, {} summaries sent, {} windows evicted",
                d.suppressed, d.summaries, d.evicted
            ));
        }
        if !self.silences.is_empty() {
            let total: u64 = self.silences.iter().map(|s| s.suppressed).sum();
            let each: Vec<String> = self
                .silences
                .iter()
                .filter(|s| s.suppressed > 0)
                .map(|s| format!("{}: {}", s.id, s.suppressed))
                .collect();
            lines.push(if each.is_empty() {
                format!("Silenced alerts: {total}")
            } else {
                format!("Silenced alerts: {total} ({})", each.join(", "))
            });
        }
        lines
    }
}

/// Silences, then deduplication, for one agent.
pub struct Triage {
    pub silences: Arc<Silences>,
    dedup: Dedup,
}

impl Triage {
    pub fn new(dedup: DedupConfig, silences: Arc<Silences>) -> Triage {
        Triage {
            silences,
            dedup: Dedup::new(dedup),
        }
    }

    /// Builds the silence store (reading the API's silences back from `state_dir` when the
    /// API is on) and the deduplicator.
    pub fn from_config(cfg: &TriageConfig) -> Result<Triage, TriageError> {
        let file = cfg
            .api_enabled
            .then(|| cfg.state_dir.join(silence::STATE_FILE));
        let silences = Arc::new(Silences::new(cfg.silences.clone(), file)?);
        Ok(Triage::new(cfg.dedup.clone(), silences))
    }

    /// Offers one alert at `now_ns` (the agent's clock, ns since the epoch); what is to be
    /// sent — due summaries, then the alert unless it is silenced or a repeat — is pushed to
    /// `out`.
    pub fn offer(&mut self, alert: Alert, now_ns: u64, out: &mut Vec<Alert>) {
        if self.silences.check(&alert, now_ns).is_some() {
            self.dedup.tick(now_ns, out);
            return;
        }
        self.dedup.offer(alert, now_ns, out);
    }

    /// The summaries due at `now_ns`.
    pub fn tick(&mut self, now_ns: u64, out: &mut Vec<Alert>) {
        self.dedup.tick(now_ns, out);
    }

    /// At exit: every summary still owed.
    pub fn flush(&mut self, out: &mut Vec<Alert>) {
        self.dedup.flush(out);
    }

    pub fn snapshot(&self, now_ns: u64) -> TriageSnapshot {
        TriageSnapshot {
            dedup_enabled: self.dedup.enabled(),
            dedup: self.dedup.stats(),
            silences: self.silences.counts(now_ns),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use peregrine_filter::format::OutputValue;
    use peregrine_filter::priority::Priority;
    use std::time::Duration;

    #[test]
    fn silenced_alerts_are_counted_and_open_no_window() {
        let s = Silence::from_json(
            &serde_json::json!({"name": "quiet", "matchers": ["container.id=c1"]}),
            "silences[0]",
            silence::Origin::Config,
            None,
            0,
        )
        .expect("valid");
        let mut t = Triage::new(
            DedupConfig {
                enabled: true,
                window: Duration::from_secs(5),
                ..DedupConfig::default()
            },
            Arc::new(Silences::new(vec![s], None).expect("silences")),
        );
        let mut out = Vec::new();
        for c in ["c1", "c1", "c2", "c2", "c2"] {
            let mut a = Alert::new(1, "R", Priority::Error, "o");
            a.output_fields = vec![("container.id".into(), OutputValue::Str(c.into()))];
            t.offer(a, 0, &mut out);
        }
        assert_eq!(out.len(), 1);
        t.flush(&mut out);
        assert_eq!(out.len(), 2);
        let snap = t.snapshot(0);
        assert_eq!(snap.silences[0].suppressed, 2);
        assert_eq!((snap.dedup.suppressed, snap.dedup.summaries), (2, 1));
        assert_eq!(
            snap.summary_lines(),
            vec![
                "Deduplication: 2 repeated alerts held back, 1 summaries sent, 0 windows evicted"
                    .to_string(),
                "Silenced alerts: 2 (quiet: 2)".to_string()
            ]
        );
    }
}
