//! Falco's rule-triggered capture (`capture.*` in falco.yaml): the agent hands every event to
//! a [`Recorder`] after the pipeline, which keeps a rolling window and writes it, and what
//! follows, to a scap file when a qualifying rule matches. The same window serves the
//! `capture` response action ([`Recorder::respond`]): each request is a file of its own,
//! with its own look back, duration and size limit, beside Falco's.

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
use crate::error::{Context as _, Result};

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

/// A `capture` response action's file being written.
struct Response {
    active: Active,
    max_bytes: u64,
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
    /// The `capture` response actions' files in progress.
    responses: Vec<Response>,
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
        Self::with_response(cfg, host_root, None)
    }

    /// [`Recorder::new`], also on (with at least `response_window` of look back) when
    /// response policies have `capture` actions; Falco's own captures stay off unless
    /// `capture.enabled`.
    pub fn with_response(
        cfg: &RuleCapture,
        host_root: &Path,
        response_window: Option<Duration>,
    ) -> Option<Recorder> {
        let age = response_window.map_or(WINDOW_AGE, |w| w.max(WINDOW_AGE));
        (cfg.enabled || response_window.is_some()).then(|| Recorder {
            cfg: cfg.clone(),
            enc: ScapEncoder::new(),
            window: Window::new(
                u64::try_from(age.as_nanos()).unwrap_or(u64::MAX),
                WINDOW_BYTES,
            ),
            active: None,
            responses: Vec::new(),
            users: UserDb::load(host_root),
            machine: machine_info(&peregrine_state::host_path(host_root, "/proc")),
        })
    }

    /// Starts the file a `capture` response action asked for: the window's events from
    /// `before_ns` ahead of the alert's event (which the window already holds: the agent
    /// asks right after the event), then what follows until `after_ns` past it or
    /// `max_bytes`. Errors are logged; the agent goes on.
    pub fn respond(&mut self, req: &peregrine_response::capture::Request, state: &State) {
        let started = (|| -> Result<Response> {
            if let Some(dir) = req.path.parent() {
                use std::os::unix::fs::DirBuilderExt;
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
            }
            let mut writer =
                open_capture(&req.path, false, state, self.users.as_ref(), &self.machine)?;
            let from = req.event_ns.saturating_sub(req.before_ns);
            for e in self.window.iter().filter(|e| e.ts >= from) {
                if writer.position() >= req.max_bytes {
                    break;
                }
                writer.write_owned(e)?;
            }
            Ok(Response {
                active: Active {
                    writer,
                    path: req.path.clone(),
                    deadline_ns: req.event_ns.saturating_add(req.after_ns),
                },
                max_bytes: req.max_bytes,
            })
        })();
        match started {
            Ok(r) => {
                log::info!("response capture: writing {}", r.active.path.display());
                self.responses.push(r);
            }
            Err(e) => log::error!("response capture: {e:#}"),
        }
    }

    /// Hands the newest event of the window to the response captures; ends those past
    /// their deadline or size.
    fn feed_responses(&mut self, ts: u64) {
        let last = self.window.iter().last();
        let mut i = 0;
        while i < self.responses.len() {
            let r = &mut self.responses[i];
            let done = ts > r.active.deadline_ns || r.active.writer.position() >= r.max_bytes;
            let failed = match (done, last) {
                (false, Some(e)) => r.active.writer.write_owned(e).err(),
                _ => None,
            };
            if let Some(e) = &failed {
                log::error!("response capture: writing {}: {e}", r.active.path.display());
            }
            if done || failed.is_some() {
                let r = self.responses.swap_remove(i);
                finish_one(r.active);
            } else {
                i += 1;
            }
        }
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
        // Falco's captures only when `capture.enabled` (the recorder may be on for the
        // response actions alone).
        let trigger = tee.trigger.filter(|_| self.cfg.enabled);
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
            if let Some(a) = self.active.take() {
                finish_one(a);
            }
        }
        self.window.push(owned);
        if !self.responses.is_empty() {
            self.feed_responses(ev.ts);
        }
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

    /// Finishes the captures in progress, if any.
    pub fn finish(&mut self) {
        if let Some(a) = self.active.take() {
            finish_one(a);
        }
        for r in self.responses.drain(..) {
            finish_one(r.active);
        }
    }
}

fn finish_one(a: Active) {
    if let Err(e) = close_capture(a.writer, &a.path) {
        log::error!("capture: {e:#}");
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
