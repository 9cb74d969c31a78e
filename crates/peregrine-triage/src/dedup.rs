//! Fingerprint deduplication: the first alert of a fingerprint goes out at once, its repeats
//! inside the window are only counted, and one summary alert closes the window.
//!
//! A fingerprint is the rule plus the values of a few output fields: by default
//! `container.id`, `proc.exepath` and the rule's key field — the first of [`KEY_FIELDS`] the
//! rule's output prints (the file, path or peer an alert is about). Overrides per rule (glob)
//! or tag change the fields or the window, or turn deduplication off for those rules. Fields
//! are read from the alert, so a field the rule's output does not print is empty in every
//! fingerprint of that rule.
//!
//! Key decisions:
//! - **A window is opened by the alert that goes out and closed by the clock**, not by the
//!   next alert: [`Dedup::tick`] (called by the agent at least once a second) emits the
//!   summaries that are due even when the noisy process has stopped.
//! - **Bounded memory**: at most `max_fingerprints` open windows. A new fingerprint beyond it
//!   closes the window that would close soonest (its summary goes out early, counted as an
//!   eviction), so a flood of distinct fingerprints costs summaries, never memory or alerts.
//!   A window keeps its first alert, from which the summary is made: with typical alerts of
//!   about a kilobyte, the default bound of 10,000 windows holds about 10 MB at most.
//! - Time is the agent's clock in nanoseconds, passed in by the caller, so tests drive it.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use peregrine_filter::compile::glob;
use peregrine_filter::format::OutputValue;
use peregrine_outputs::Alert;

use crate::matcher::push_field_text;
use crate::timefmt::format_rfc3339;

/// The fields every default fingerprint holds.
pub const DEFAULT_FIELDS: [&str; 2] = ["container.id", "proc.exepath"];
/// Candidates for the rule's key field, in order: the first one the alert carries joins the
/// default fingerprint.
pub const KEY_FIELDS: [&str; 5] = [
    "fd.name",
    "fs.path.name",
    "fs.path.target",
    "fd.rip",
    "evt.arg.path",
];
/// The default window.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(60);
/// The default bound on open windows.
pub const DEFAULT_MAX_FINGERPRINTS: usize = 10_000;

/// `dedup` (Peregrine extension).
#[derive(Clone, Debug, PartialEq)]
pub struct DedupConfig {
    pub enabled: bool,
    pub window: Duration,
    /// `None`: [`DEFAULT_FIELDS`] plus the rule's key field.
    pub fields: Option<Vec<String>>,
    pub max_fingerprints: usize,
    /// The first override whose rules or tags match an alert applies to it.
    pub overrides: Vec<DedupOverride>,
}

impl Default for DedupConfig {
    fn default() -> Self {
        DedupConfig {
            enabled: false,
            window: DEFAULT_WINDOW,
            fields: None,
            max_fingerprints: DEFAULT_MAX_FINGERPRINTS,
            overrides: Vec::new(),
        }
    }
}

/// One `dedup.overrides` entry: applies to alerts whose rule matches one of `rules` (names
/// or globs) or that carry one of `tags`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DedupOverride {
    pub rules: Vec<String>,
    pub tags: Vec<String>,
    /// `false`: these alerts are never deduplicated.
    pub enabled: Option<bool>,
    pub fields: Option<Vec<String>>,
    pub window: Option<Duration>,
}

impl DedupOverride {
    fn applies(&self, alert: &Alert) -> bool {
        self.rules.iter().any(|p| glob(p, &alert.rule))
            || alert.tags.iter().any(|t| self.tags.contains(t))
    }
}

/// What deduplication has done since start.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DedupStats {
    /// Repeats held back (each counted in a summary).
    pub suppressed: u64,
    /// Summary alerts emitted.
    pub summaries: u64,
    /// Windows closed early because `max_fingerprints` was reached.
    pub evicted: u64,
    /// Windows open now.
    pub fingerprints: u64,
}

struct Window {
    first: Alert,
    last_time_ns: u64,
    repeats: u64,
    /// Key in `closing`.
    closes: (u64, u64),
    window: Duration,
}

/// The deduplicator; one per agent, on the thread that hands alerts to the outputs.
pub struct Dedup {
    cfg: DedupConfig,
    windows: HashMap<String, Window>,
    /// Open windows by closing time (and a sequence number for ties) → fingerprint.
    closing: BTreeMap<(u64, u64), String>,
    seq: u64,
    stats: DedupStats,
}

fn ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl Dedup {
    pub fn new(cfg: DedupConfig) -> Dedup {
        Dedup {
            cfg,
            windows: HashMap::new(),
            closing: BTreeMap::new(),
            seq: 0,
            stats: DedupStats::default(),
        }
    }

    pub fn enabled(&self) -> bool {
        self.cfg.enabled
    }

    pub fn stats(&self) -> DedupStats {
        DedupStats {
            fingerprints: self.windows.len() as u64,
            ..self.stats
        }
    }

    /// The fingerprint of an alert and its window, or `None` when it is not deduplicated.
    fn fingerprint(&self, alert: &Alert) -> Option<(String, Duration)> {
        let ov = self.cfg.overrides.iter().find(|o| o.applies(alert));
        if !ov.and_then(|o| o.enabled).unwrap_or(self.cfg.enabled) {
            return None;
        }
        let window = ov.and_then(|o| o.window).unwrap_or(self.cfg.window);
        let fields = ov
            .and_then(|o| o.fields.as_ref())
            .or(self.cfg.fields.as_ref());
        // Unit and record separators cannot appear in a rule name Falco accepts nor confuse
        // one field's end with the next one's start.
        let mut key = alert.rule.clone();
        let mut push = |f: &str| {
            key.push('\u{1e}');
            key.push_str(f);
            key.push('\u{1f}');
            push_field_text(alert, f, &mut key);
        };
        match fields {
            Some(list) => list.iter().for_each(|f| push(f)),
            None => {
                DEFAULT_FIELDS.iter().for_each(|f| push(f));
                let has = |f: &&&str| {
                    alert
                        .output_fields
                        .iter()
                        .any(|(k, v)| k == **f && *v != OutputValue::Null)
                };
                if let Some(k) = KEY_FIELDS.iter().find(has) {
                    push(k);
                }
            }
        }
        Some((key, window))
    }

    /// Offers one alert at `now_ns` (the agent's clock): summaries that are due are pushed to
    /// `out` first, then the alert itself unless it repeats an open window.
    pub fn offer(&mut self, alert: Alert, now_ns: u64, out: &mut Vec<Alert>) {
        self.tick(now_ns, out);
        let Some((key, window)) = self.fingerprint(&alert) else {
            out.push(alert);
            return;
        };
        if let Some(w) = self.windows.get_mut(&key) {
            w.repeats += 1;
            w.last_time_ns = w.last_time_ns.max(alert.time_ns);
            self.stats.suppressed += 1;
            return;
        }
        if self.windows.len() >= self.cfg.max_fingerprints.max(1) {
            if let Some((_, victim)) = self.closing.pop_first() {
                if let Some(w) = self.windows.remove(&victim) {
                    self.stats.evicted += 1;
                    self.close(w, out);
                }
            }
        }
        self.seq += 1;
        let closes = (now_ns.saturating_add(ns(window)), self.seq);
        self.closing.insert(closes, key.clone());
        self.windows.insert(
            key,
            Window {
                first: alert.clone(),
                last_time_ns: alert.time_ns,
                repeats: 0,
                closes,
                window,
            },
        );
        out.push(alert);
    }

    /// Closes the windows due at `now_ns`, pushing a summary for each that saw repeats.
    pub fn tick(&mut self, now_ns: u64, out: &mut Vec<Alert>) {
        while let Some(entry) = self.closing.first_entry() {
            if entry.key().0 > now_ns {
                break;
            }
            let key = entry.remove();
            if let Some(w) = self.windows.remove(&key) {
                self.close(w, out);
            }
        }
    }

    /// Closes every open window (at exit), pushing the summaries owed.
    pub fn flush(&mut self, out: &mut Vec<Alert>) {
        self.closing.clear();
        let windows: Vec<Window> = self.windows.drain().map(|(_, w)| w).collect();
        let mut windows = windows;
        windows.sort_by_key(|w| w.closes);
        for w in windows {
            self.close(w, out);
        }
    }

    fn close(&mut self, w: Window, out: &mut Vec<Alert>) {
        self.closing.remove(&w.closes);
        if w.repeats == 0 {
            return;
        }
        self.stats.summaries += 1;
        out.push(summary(w));
    }
}

/// The alert that closes a window: the first alert's rule, priority, source, tags and fields,
/// its message replaced by the count, and the counts and times added to `output_fields`.
fn summary(w: Window) -> Alert {
    let mut a = w.first;
    let first_ns = a.time_ns;
    let secs = w.window.as_secs_f64();
    a.output = format!(
        "{}: repeated {} times in {}s (after the alert of {})",
        a.rule,
        w.repeats,
        secs,
        format_rfc3339(first_ns)
    );
    a.time_ns = w.last_time_ns;
    a.output_fields.extend([
        ("dedup.count".to_string(), OutputValue::UInt(w.repeats)),
        (
            "dedup.first_time".to_string(),
            OutputValue::Str(format_rfc3339(first_ns)),
        ),
        (
            "dedup.last_time".to_string(),
            OutputValue::Str(format_rfc3339(w.last_time_ns)),
        ),
        ("dedup.window".to_string(), OutputValue::Double(secs)),
    ]);
    a
}

#[cfg(test)]
mod tests {
    use super::*;
    use peregrine_filter::priority::Priority;

    const S: u64 = 1_000_000_000;

    fn alert(t: u64, rule: &str, container: &str, exe: &str) -> Alert {
        let mut a = Alert::new(t, rule, Priority::Warning, "msg");
        a.tags = vec!["filesystem".into()];
        a.output_fields = vec![
            ("container.id".into(), OutputValue::Str(container.into())),
            ("proc.exepath".into(), OutputValue::Str(exe.into())),
            ("fd.name".into(), OutputValue::Str("/etc/shadow".into())),
            ("proc.pid".into(), OutputValue::UInt(t)),
        ];
        a
    }

    fn on() -> DedupConfig {
        DedupConfig {
            enabled: true,
            window: Duration::from_secs(10),
            ..DedupConfig::default()
        }
    }

    fn field<'a>(a: &'a Alert, k: &str) -> &'a OutputValue {
        &a.output_fields.iter().find(|(f, _)| f == k).expect(k).1
    }

    #[test]
    fn first_goes_out_repeats_are_summarised_on_time() {
        let mut d = Dedup::new(on());
        let mut out = Vec::new();
        for i in 0..1000 {
            // Different pids: not a fingerprint field.
            d.offer(alert(100 + i, "R", "c1", "/bin/cat"), i * 1000, &mut out);
        }
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].time_ns, 100);
        d.tick(10 * S - 1, &mut out);
        assert_eq!(out.len(), 1, "not due yet");
        d.tick(10 * S, &mut out);
        assert_eq!(out.len(), 2);
        let s = &out[1];
        assert_eq!((s.rule.as_str(), s.priority), ("R", Priority::Warning));
        assert_eq!(s.tags, vec!["filesystem".to_string()]);
        assert!(
            s.output.starts_with("R: repeated 999 times in 10s"),
            "{}",
            s.output
        );
        assert_eq!(field(s, "dedup.count"), &OutputValue::UInt(999));
        assert_eq!(
            field(s, "dedup.first_time"),
            &OutputValue::Str(format_rfc3339(100))
        );
        assert_eq!(
            field(s, "dedup.last_time"),
            &OutputValue::Str(format_rfc3339(1099))
        );
        assert_eq!(s.time_ns, 1099);
        let st = d.stats();
        assert_eq!((st.suppressed, st.summaries, st.fingerprints), (999, 1, 0));
        // A new window after the old one closed: the next alert goes out again.
        d.offer(alert(5, "R", "c1", "/bin/cat"), 11 * S, &mut out);
        assert_eq!(out.len(), 3);
    }

    #[test]
    fn a_window_without_repeats_closes_silently() {
        let mut d = Dedup::new(on());
        let mut out = Vec::new();
        d.offer(alert(1, "R", "c1", "/bin/cat"), 0, &mut out);
        d.tick(20 * S, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(d.stats().summaries, 0);
    }

    #[test]
    fn distinct_fingerprints_are_distinct_alerts() {
        let mut d = Dedup::new(on());
        let mut out = Vec::new();
        d.offer(alert(1, "R", "c1", "/bin/cat"), 0, &mut out);
        d.offer(alert(2, "R", "c2", "/bin/cat"), 0, &mut out);
        d.offer(alert(3, "R", "c1", "/bin/dd"), 0, &mut out);
        d.offer(alert(4, "Other", "c1", "/bin/cat"), 0, &mut out);
        let mut other_file = alert(5, "R", "c1", "/bin/cat");
        other_file.output_fields[2].1 = OutputValue::Str("/etc/passwd".into());
        d.offer(other_file, 0, &mut out);
        d.offer(alert(6, "R", "c1", "/bin/cat"), 0, &mut out);
        assert_eq!(out.len(), 5);
        assert_eq!(d.stats().fingerprints, 5);
        d.flush(&mut out);
        assert_eq!(out.len(), 6, "one summary at exit, for the one repeat");
    }

    #[test]
    fn overrides_change_fields_window_or_turn_it_off() {
        let mut cfg = on();
        cfg.overrides = vec![
            DedupOverride {
                rules: vec!["Noisy *".into()],
                fields: Some(vec![]),
                window: Some(Duration::from_secs(1)),
                ..DedupOverride::default()
            },
            DedupOverride {
                tags: vec!["never_dedup".into()],
                enabled: Some(false),
                ..DedupOverride::default()
            },
        ];
        let mut d = Dedup::new(cfg);
        let mut out = Vec::new();
        // Rule only: distinct containers collapse.
        d.offer(alert(1, "Noisy one", "c1", "/a"), 0, &mut out);
        d.offer(alert(2, "Noisy one", "c2", "/b"), 0, &mut out);
        assert_eq!(out.len(), 1);
        d.tick(S, &mut out);
        assert_eq!(out.len(), 2, "the 1 s window of the override");
        let mut exempt = alert(3, "R", "c1", "/a");
        exempt.tags.push("never_dedup".into());
        d.offer(exempt.clone(), 0, &mut out);
        d.offer(exempt, 0, &mut out);
        assert_eq!(out.len(), 4);
        // Off globally, on for one rule.
        let mut d = Dedup::new(DedupConfig {
            overrides: vec![DedupOverride {
                rules: vec!["Only".into()],
                enabled: Some(true),
                ..DedupOverride::default()
            }],
            ..DedupConfig::default()
        });
        let mut out = Vec::new();
        for r in ["Only", "Only", "Else", "Else"] {
            d.offer(alert(1, r, "c", "/x"), 0, &mut out);
        }
        assert_eq!(out.len(), 3);
    }

    #[test]
    fn memory_is_bounded_and_evictions_counted() {
        let mut cfg = on();
        cfg.max_fingerprints = 3;
        let mut d = Dedup::new(cfg);
        let mut out = Vec::new();
        for c in ["a", "b", "c"] {
            d.offer(alert(1, "R", c, "/x"), 0, &mut out);
            d.offer(alert(2, "R", c, "/x"), 0, &mut out);
        }
        assert_eq!(out.len(), 3);
        // A fourth fingerprint evicts the oldest window, whose summary goes out now.
        d.offer(alert(3, "R", "d", "/x"), S, &mut out);
        assert_eq!(out.len(), 5);
        assert_eq!(
            field(&out[3], "container.id"),
            &OutputValue::Str("a".into())
        );
        assert_eq!(field(&out[3], "dedup.count"), &OutputValue::UInt(1));
        let st = d.stats();
        assert_eq!((st.evicted, st.fingerprints, st.summaries), (1, 3, 1));
    }

    #[test]
    fn key_field_joins_the_default_fingerprint_only_when_printed() {
        let d = Dedup::new(on());
        let a = alert(1, "R", "c", "/x");
        let (k, _) = d.fingerprint(&a).expect("on");
        assert!(k.contains("fd.name\u{1f}/etc/shadow"));
        let mut b = a.clone();
        b.output_fields.retain(|(f, _)| f != "fd.name");
        b.output_fields
            .push(("fs.path.name".into(), OutputValue::Str("/p".into())));
        let (k, _) = d.fingerprint(&b).expect("on");
        assert!(k.contains("fs.path.name\u{1f}/p") && !k.contains("fd.name"));
    }
}
