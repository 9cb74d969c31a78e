//! Falco's rule-triggered capture (`capture.*` in falco.yaml): the agent hands every event to
//! a [`Recorder`] after the pipeline, which keeps a rolling window and writes it, and what
//! follows, to a scap file when a qualifying rule matches.

use std::path::{Path, PathBuf};
use std::time::Duration;

use peregrine_config::{CaptureMode, RuleCapture};
use peregrine_engine::capture_file::{machine_info, ScapEncoder, Window};
use peregrine_engine::{AlertSink, Match, Pipeline};
use peregrine_event::Event;
use peregrine_scap::{FileOut, MachineInfo, Writer};
use peregrine_state::users::UserDb;
use peregrine_state::State;

use crate::capture::{close_capture, open_capture};
use crate::error::Result;

/// How far back the rolling window of rule-triggered capture reaches.
const WINDOW_AGE: Duration = Duration::from_secs(5);
/// And how many bytes it may hold (encoded events), whichever limit comes first.
const WINDOW_BYTES: usize = 64 << 20;

/// A capture file being written after an alert.
struct Active {
    writer: Writer<FileOut>,
    path: PathBuf,
    /// Events after this time (ns since the epoch) end the capture.
    deadline_ns: u64,
}

/// Falco's rule-triggered capture: keeps a rolling window of recent events and, when a
/// qualifying rule matches, writes the window plus the following `capture_duration` (or
/// `capture.default_duration`) to `<path_prefix>_<rule>_<time>.scap`. A match during an
/// active capture extends it. Write errors end that capture (logged), never the agent.
pub struct Recorder {
    cfg: RuleCapture,
    enc: ScapEncoder,
    window: Window,
    active: Option<Active>,
    users: Option<UserDb>,
    machine: MachineInfo,
}

/// File-name-safe form of a rule name.
fn safe_name(rule: &str) -> String {
    rule.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Forwards matches to the agent's sink and notes the capture they ask for.
struct Tee<'a> {
    inner: &'a mut dyn AlertSink,
    mode: CaptureMode,
    default_ms: u64,
    /// The first qualifying rule of this event and its duration (ms).
    trigger: Option<(String, u64)>,
}

impl AlertSink for Tee<'_> {
    fn alert(&mut self, m: &Match<'_>) {
        self.inner.alert(m);
        let wanted = match self.mode {
            CaptureMode::Rules => m.rule.capture,
            CaptureMode::AllRules => true,
        };
        if wanted {
            let ms = match u64::from(m.rule.capture_duration) {
                0 => self.default_ms,
                ms => ms,
            };
            match &mut self.trigger {
                Some((_, d)) => *d = (*d).max(ms),
                None => self.trigger = Some((m.rule.name.clone(), ms)),
            }
        }
    }

    fn matched_event(&mut self, state: &peregrine_state::State) {
        self.inner.matched_event(state);
    }
}

impl Recorder {
    /// `None` unless `capture.enabled`.
    /// `host_root`: where the host's `/etc` (the capture's user list) and `/proc` are.
    pub fn new(cfg: &RuleCapture, host_root: &Path) -> Option<Recorder> {
        cfg.enabled.then(|| Recorder {
            cfg: cfg.clone(),
            enc: ScapEncoder::new(),
            window: Window::new(WINDOW_AGE.as_nanos() as u64, WINDOW_BYTES),
            active: None,
            users: UserDb::load(host_root),
            machine: machine_info(&peregrine_state::host_path(host_root, "/proc")),
        })
    }

    /// Runs one event through `pipe` (alerts go to `sink`) and records it.
    pub fn process(&mut self, pipe: &mut Pipeline, ev: &Event<'_>, sink: &mut dyn AlertSink) {
        let mut tee = Tee {
            inner: sink,
            mode: self.cfg.mode,
            default_ms: self.cfg.default_duration_ms,
            trigger: None,
        };
        pipe.process(ev, &mut tee);
        let trigger = tee.trigger;
        if let Err(e) = self.record(ev, pipe.state(), trigger) {
            log::error!("rule-triggered capture: {e:#}");
            self.active = None;
        }
    }

    fn record(
        &mut self,
        ev: &Event<'_>,
        state: &State,
        trigger: Option<(String, u64)>,
    ) -> Result<()> {
        let Some(owned) = self.enc.to_owned(ev) else {
            return Ok(());
        };
        if self.active.as_ref().is_some_and(|a| ev.ts > a.deadline_ns) {
            self.finish();
        }
        self.window.push(owned);
        if let Some((rule, ms)) = trigger {
            let deadline_ns = ev.ts.saturating_add(ms.saturating_mul(1_000_000));
            match &mut self.active {
                Some(a) => {
                    a.deadline_ns = a.deadline_ns.max(deadline_ns);
                    if let Some(last) = self.window.iter().last() {
                        a.writer.write_owned(last)?;
                    }
                }
                None => {
                    let path = PathBuf::from(format!(
                        "{}_{}_{}.scap",
                        self.cfg.path_prefix,
                        safe_name(&rule),
                        ev.ts
                    ));
                    let mut writer =
                        open_capture(&path, false, state, self.users.as_ref(), &self.machine)?;
                    // The window ends with this very event.
                    for e in self.window.iter() {
                        writer.write_owned(e)?;
                    }
                    log::info!("rule '{rule}' triggered a capture: {}", path.display());
                    self.active = Some(Active {
                        writer,
                        path,
                        deadline_ns,
                    });
                }
            }
            return Ok(());
        }
        if let (Some(a), Some(last)) = (&mut self.active, self.window.iter().last()) {
            a.writer.write_owned(last)?;
        }
        Ok(())
    }

    /// Finishes the capture in progress, if any.
    pub fn finish(&mut self) {
        if let Some(a) = self.active.take() {
            if let Err(e) = close_capture(a.writer, &a.path) {
                log::error!("rule-triggered capture: {e:#}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_names_become_file_name_safe() {
        assert_eq!(
            safe_name("Read sensitive file/untrusted (x)"),
            "Read_sensitive_file_untrusted__x_"
        );
    }
}
