//! The engine: every event goes through the state engine, then through the rules of its type,
//! and each match becomes an alert — the same path for live capture and capture-file replay.
//!
//! Key decisions:
//! - **An immutable [`Engine`] and a mutable [`Pipeline`]**. The engine (compiled rules plus
//!   settings) is shared behind an `Arc` and never changes; the pipeline owns the [`State`] and
//!   every scratch buffer. Reload builds a new engine and publishes it through an
//!   [`EngineHandle`]; the pipeline picks it up between two events, so no event is lost or
//!   evaluated half by one engine and half by the other, and the state survives the swap.
//! - **No allocation for an event that matches nothing**: the rule index is probed with the
//!   event type taken straight from the record header before any field source is built, and
//!   evaluation reuses the pipeline's scratch. Only a match allocates (its output text and
//!   typed fields).
//! - **Alerts leave through a small trait** ([`AlertSink`]) that receives a borrowed [`Match`]:
//!   the Falco text/JSON shapes belong to the outputs crate, so this crate renders only the
//!   rule's own output format and never a second Falco formatter.
//! - **Replay is deterministic**: alert time is event time, and replay converts each capture
//!   event into the kernel record layout ([`replay`]) so that it reaches the rules through the
//!   very code the live agent runs.

#![forbid(unsafe_code)]

pub mod capture_file;
pub mod extra;
pub mod interest;
pub mod replay;
mod stats;
pub mod tap;

#[cfg(feature = "live")]
pub mod live;

pub use stats::{LatencyHistogram, RuleLatency, Stats, LATENCY_BUCKETS, RULE_LATENCY_BUCKETS};

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use peregrine_event::{Event, EventTypeSet};
use peregrine_filter::format::OutputValue;
use peregrine_filter::source::{Extracted, FieldRequest, FieldSource};
use peregrine_rules::{Matching, Rule, RuleIdx, RuleSet, Scratch};
use peregrine_state::{State, StateConfig};

/// How the engine evaluates (Falco's `rule_matching` and the source name of its alerts).
#[derive(Clone, Debug)]
pub struct Settings {
    /// `first` stops at the first matching rule of an event (Falco's default), `all` reports
    /// every matching rule.
    pub matching: Matching,
    /// One event in `latency_sample` has its evaluation timed for the histogram, and each
    /// rule of its type on its own for the per-rule latency (0 = never); sampling keeps the
    /// clock reads off most events.
    pub latency_sample: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            matching: Matching::First,
            latency_sample: 64,
        }
    }
}

/// The compiled rules and settings; immutable once built.
#[derive(Debug)]
pub struct Engine {
    rules: RuleSet,
    settings: Settings,
    extras: extra::Extras,
}

impl Engine {
    pub fn new(rules: RuleSet, settings: Settings) -> Engine {
        Engine {
            rules,
            settings,
            extras: extra::Extras::default(),
        }
    }

    /// An engine whose alerts carry Falco's `append_output` additions; fails when an extra
    /// output or field does not compile for a rule it applies to.
    pub fn with_append_output(
        rules: RuleSet,
        settings: Settings,
        append: &[extra::AppendOutput],
    ) -> Result<Engine, extra::ExtraOutputError> {
        let extras = extra::Extras::compile(&rules, append)?;
        Ok(Engine {
            rules,
            settings,
            extras,
        })
    }

    pub fn rules(&self) -> &RuleSet {
        &self.rules
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Every event type an active rule can match.
    pub fn event_types(&self) -> EventTypeSet {
        self.rules.event_types()
    }

    /// The opened paths the active rules (and their `append_output` fields) can need: what
    /// the kernel must not shed ([`peregrine_rules::shed`]).
    pub fn path_needs(&self) -> peregrine_rules::shed::PathNeeds {
        let extra = self.extras.field_names();
        let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
        peregrine_rules::shed::path_needs(&self.rules, &extra)
    }
}

/// Where the current engine is published; cloned into whoever reloads. The pipeline checks
/// one atomic per event and takes the lock only when the generation changed.
#[derive(Debug)]
pub struct EngineHandle {
    current: Mutex<Arc<Engine>>,
    generation: AtomicU64,
}

impl EngineHandle {
    pub fn new(engine: Engine) -> Arc<EngineHandle> {
        Arc::new(EngineHandle {
            current: Mutex::new(Arc::new(engine)),
            generation: AtomicU64::new(0),
        })
    }

    /// Publishes a new engine; pipelines switch to it before their next event.
    pub fn swap(&self, engine: Engine) {
        let mut cur = self.current.lock().unwrap_or_else(|p| p.into_inner());
        *cur = Arc::new(engine);
        self.generation.fetch_add(1, Ordering::Release);
    }

    /// The engine published last.
    pub fn load(&self) -> Arc<Engine> {
        self.current
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }
}

/// One rule match, borrowed from the pipeline for the duration of [`AlertSink::alert`].
#[derive(Debug)]
pub struct Match<'a> {
    /// Event time, ns since the epoch.
    pub time_ns: u64,
    pub rule: &'a Rule,
    /// The rule's output format rendered for the event (no time/priority prefix).
    pub output: &'a str,
    /// Falco's `output_fields`: each field of the output format with its typed value.
    pub output_fields: &'a [(String, OutputValue)],
    /// `append_output` `extra_fields`: they join `output_fields` in the JSON only.
    pub extra_fields: &'a [(String, OutputValue)],
    /// The process that made the event, when the state knows it: what a response acts on.
    pub subject: Option<&'a Subject>,
}

/// The identity of an event's process at match time (the state crate's type, which the
/// response crate shares).
pub use peregrine_state::thread::Subject;

/// Receives the matches of the pipeline (the outputs crate, a test collector, a counter).
pub trait AlertSink {
    fn alert(&mut self, m: &Match<'_>);

    /// Called once after an event's matches, with the state they were made in (the event
    /// already applied, as the rules saw it): a sink that keeps context for its alerts (the
    /// alert store's process ancestry) reads it here, once per event, instead of the
    /// pipeline handing the state to every match.
    fn matched_event(&mut self, _state: &State) {}
}

/// Counts matches per rule name; the sink of tests and benches.
#[derive(Debug, Default)]
pub struct CountingSink {
    pub counts: std::collections::BTreeMap<String, u64>,
}

impl AlertSink for CountingSink {
    fn alert(&mut self, m: &Match<'_>) {
        *self.counts.entry(m.rule.name.clone()).or_default() += 1;
    }
}

impl<F: FnMut(&Match<'_>)> AlertSink for F {
    fn alert(&mut self, m: &Match<'_>) {
        self(m)
    }
}

/// The evaluation loop of one plugin event source (`k8s_audit`): no state and no event types;
/// each event goes through the active rules of its source and each match reaches the same
/// [`AlertSink`] as syscall matches do. One per source thread, as Falco runs one event loop
/// per source.
pub struct SourcePipeline {
    engine: Arc<Engine>,
    handle: Option<Arc<EngineHandle>>,
    seen_generation: u64,
    source: String,
    scratch: Scratch,
    matched: Vec<RuleIdx>,
    values: Extracted,
    output: String,
    /// Events evaluated.
    pub events: u64,
    /// Matches per rule name (the statistics printed at exit).
    pub counts: std::collections::BTreeMap<String, u64>,
}

impl SourcePipeline {
    pub fn new(engine: Arc<Engine>, source: &str) -> SourcePipeline {
        SourcePipeline {
            engine,
            handle: None,
            seen_generation: 0,
            source: source.to_string(),
            scratch: Scratch::new(),
            matched: Vec::new(),
            values: Extracted::default(),
            output: String::new(),
            events: 0,
            counts: Default::default(),
        }
    }

    /// A pipeline that follows the engine published in `handle` (reload).
    pub fn with_handle(handle: Arc<EngineHandle>, source: &str) -> SourcePipeline {
        let mut p = SourcePipeline::new(handle.load(), source);
        p.seen_generation = handle.generation();
        p.handle = Some(handle);
        p
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// Evaluates the source's rules on the event `src` describes (time `time_ns`).
    pub fn process(&mut self, src: &mut dyn FieldSource, time_ns: u64, sink: &mut dyn AlertSink) {
        if let Some(h) = &self.handle {
            let g = h.generation();
            if g != self.seen_generation {
                self.seen_generation = g;
                self.engine = h.load();
            }
        }
        self.events += 1;
        let engine = &*self.engine;
        engine.rules.evaluate_source(
            &self.source,
            src,
            engine.settings.matching,
            &mut self.scratch,
            &mut self.matched,
        );
        for &idx in &self.matched {
            let Some(rule) = engine.rules.rule(idx) else {
                continue;
            };
            // The name is copied on a rule's first match only.
            match self.counts.get_mut(&rule.name) {
                Some(n) => *n += 1,
                None => {
                    self.counts.insert(rule.name.clone(), 1);
                }
            }
            self.output.clear();
            let format = engine
                .extras
                .format(idx as usize)
                .unwrap_or_else(|| rule.output_format());
            format.render(src, &mut self.values, &mut self.output);
            let fields = format.values(src, &mut self.values);
            let mut extra_fields = Vec::new();
            engine
                .extras
                .fields(idx as usize, src, &mut self.values, &mut extra_fields);
            sink.alert(&Match {
                time_ns,
                rule,
                output: &self.output,
                output_fields: &fields,
                extra_fields: &extra_fields,
                subject: None,
            });
        }
    }
}

/// Fields that something beside the state supplies for syscall events: the fields of loaded
/// plugins whose extraction applies to the `syscall` source (`peregrine-plugins`). The
/// pipeline hands it the requests for [`peregrine_filter::fields::FieldId::PluginField`] only,
/// and every event first if [`EventExtension::parses`] (a plugin's `parse_event`).
pub trait EventExtension: Send {
    /// Appends the values of a plugin field for `ev` to `out` (nothing on failure: the
    /// extension reports its own errors).
    fn extract(&mut self, ev: &Event<'_>, evtnum: u64, req: &FieldRequest, out: &mut Extracted);

    /// Whether [`EventExtension::parse`] wants every event.
    fn parses(&self) -> bool {
        false
    }

    /// Sees every event before the rules do.
    fn parse(&mut self, _ev: &Event<'_>, _evtnum: u64) {}
}

/// The state's field source with an extension's fields on top.
struct Extended<'a, 'e> {
    inner: &'a mut dyn FieldSource,
    ext: &'a mut dyn EventExtension,
    ev: &'a Event<'e>,
    evtnum: u64,
}

impl<'a, 'e> Extended<'a, 'e> {
    /// `src` itself, or `src` with the extension's fields on top when one is loaded (the
    /// wrapper then lives in `slot`).
    fn over(
        src: &'a mut dyn FieldSource,
        ext: Option<&'a mut (dyn EventExtension + 'static)>,
        ev: &'a Event<'e>,
        evtnum: u64,
        slot: &'a mut Option<Extended<'a, 'e>>,
    ) -> &'a mut dyn FieldSource {
        match ext {
            None => src,
            Some(ext) => slot.insert(Extended {
                inner: src,
                ext,
                ev,
                evtnum,
            }),
        }
    }
}

impl FieldSource for Extended<'_, '_> {
    fn event_type(&self) -> peregrine_event::EventType {
        self.inner.event_type()
    }

    fn extract(&mut self, field: &FieldRequest, out: &mut Extracted) {
        if field.id == peregrine_filter::fields::FieldId::PluginField {
            self.ext.extract(self.ev, self.evtnum, field, out);
        } else {
            self.inner.extract(field, out);
        }
    }
}

/// The per-thread half of the engine: state, scratch buffers and statistics.
pub struct Pipeline {
    extension: Option<Box<dyn EventExtension>>,
    engine: Arc<Engine>,
    handle: Option<Arc<EngineHandle>>,
    seen_generation: u64,
    state: State,
    scratch: Scratch,
    matched: Vec<RuleIdx>,
    values: Extracted,
    output: String,
    stats: Stats,
    until_sample: u32,
    /// The console's event tap ([`tap`]), when one is attached.
    tap: Option<Arc<tap::Tap>>,
}

impl Pipeline {
    /// A pipeline over a fixed engine.
    pub fn new(engine: Arc<Engine>, state: StateConfig) -> Pipeline {
        let rules = engine.rules.rules().len();
        Pipeline {
            extension: None,
            engine,
            handle: None,
            seen_generation: 0,
            state: State::new(state),
            scratch: Scratch::new(),
            matched: Vec::new(),
            values: Extracted::default(),
            output: String::new(),
            stats: Stats::new(rules),
            until_sample: 0,
            tap: None,
        }
    }

    /// A pipeline that follows the engine published in `handle` (reload).
    pub fn with_handle(handle: Arc<EngineHandle>, state: StateConfig) -> Pipeline {
        let generation = handle.generation();
        let mut p = Pipeline::new(handle.load(), state);
        p.seen_generation = generation;
        p.handle = Some(handle);
        p
    }

    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    /// Adds fields (and event parsing) from beside the state: loaded plugins'.
    pub fn set_extension(&mut self, ext: Box<dyn EventExtension>) {
        self.extension = Some(ext);
    }

    pub fn state(&self) -> &State {
        &self.state
    }

    /// The state, for seeding (from /proc or a capture's metadata) before the first event.
    pub fn state_mut(&mut self) -> &mut State {
        &mut self.state
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Offers every event, after the state took it in, to `tap` while someone watches.
    pub fn set_tap(&mut self, tap: Arc<tap::Tap>) {
        self.tap = Some(tap);
    }

    /// Switches to a newly published engine, if any. Per-rule counters follow their rules by
    /// name into the new rule set; event counters and the histogram carry on.
    fn follow_reload(&mut self) {
        let Some(h) = &self.handle else { return };
        let g = h.generation();
        if g != self.seen_generation {
            self.seen_generation = g;
            let old = std::mem::replace(&mut self.engine, h.load());
            self.stats.rekey_rules(
                old.rules.rules().iter().map(|r| r.name.as_str()),
                self.engine.rules.rules().iter().map(|r| r.name.as_str()),
            );
            self.stats.reloads += 1;
        }
    }

    /// Decodes and processes one kernel record; an undecodable record is counted and skipped.
    pub fn process_record(&mut self, rec: &[u8], boot_to_epoch_ns: u64, sink: &mut dyn AlertSink) {
        match Event::decode(rec, boot_to_epoch_ns) {
            Ok(ev) => self.process(&ev, sink),
            Err(_) => self.stats.decode_errors += 1,
        }
    }

    /// Updates the state with `ev`, evaluates the rules of its type and hands each match to
    /// `sink`.
    pub fn process(&mut self, ev: &Event<'_>, sink: &mut dyn AlertSink) {
        self.follow_reload();
        self.stats.events += 1;
        self.state.update(ev);
        let evtnum = self.stats.events;
        if let Some(ext) = self.extension.as_mut().filter(|e| e.parses()) {
            ext.parse(ev, evtnum);
        }
        // An unwatched tap costs one relaxed load (+12 instructions per record in
        // bench/replay-cost.sh's callgrind pass with PG_REPLAY_TAP=1, 0.5%).
        if let Some(tap) = &self.tap {
            if tap.watching() {
                let mut src = self.state.source(ev);
                tap.offer(ev, &mut src, &mut self.scratch, &mut self.values);
            }
        }
        let engine = &*self.engine;
        let Some(t) = ev.event_type() else { return };
        if engine.rules.rules_for(t).is_empty() {
            return;
        }
        let timed = if engine.settings.latency_sample == 0 {
            None
        } else if self.until_sample == 0 {
            self.until_sample = engine.settings.latency_sample - 1;
            Some(Instant::now())
        } else {
            self.until_sample -= 1;
            None
        };
        self.stats.evaluated += 1;
        let mut src = self.state.source(ev);
        {
            let mut slot = None;
            let ext = self.extension.as_deref_mut();
            let fs = Extended::over(&mut src, ext, ev, evtnum, &mut slot);
            if let Some(start) = timed {
                // Each rule timed on its own: a clock pair per rule of the type, on one event in
                // `latency_sample`. Cost (bench/replay-cost.sh, callgrind, Falco's stable rules,
                // 502Error.scap): 2,476 instructions per record before per-rule timing, 2,477
                // after (the whole replay 9,099 → 9,112), 2,489 with an unwatched tap attached
                // as with the console on (PG_REPLAY_TAP=1, +0.5%).
                let stats = &mut self.stats;
                engine.rules.evaluate_timed(
                    fs,
                    engine.settings.matching,
                    &mut self.scratch,
                    &mut self.matched,
                    |idx, ns| stats.record_rule(idx, ns),
                );
                self.stats.latency.record(start.elapsed());
            } else {
                engine.rules.evaluate(
                    fs,
                    engine.settings.matching,
                    &mut self.scratch,
                    &mut self.matched,
                );
            }
        }
        // Only an event that matched pays for the lookup (a clone of two counted strings).
        let subject = (!self.matched.is_empty())
            .then(|| src.event_process())
            .flatten()
            .map(|p| Subject {
                pid: p.pid,
                tid: i64::from(ev.tid()),
                start_ts: p.start_ts,
                container_id: p.container_id.clone(),
            });
        for &idx in &self.matched {
            let Some(rule) = engine.rules.rule(idx) else {
                continue;
            };
            self.stats.count_match(idx);
            self.output.clear();
            let format = engine
                .extras
                .format(idx as usize)
                .unwrap_or_else(|| rule.output_format());
            let mut slot = None;
            let ext = self.extension.as_deref_mut();
            let out_src = Extended::over(&mut src, ext, ev, evtnum, &mut slot);
            format.render(out_src, &mut self.values, &mut self.output);
            let fields = format.values(out_src, &mut self.values);
            let mut extra_fields = Vec::new();
            engine
                .extras
                .fields(idx as usize, out_src, &mut self.values, &mut extra_fields);
            sink.alert(&Match {
                time_ns: ev.ts,
                rule,
                output: &self.output,
                output_fields: &fields,
                extra_fields: &extra_fields,
                subject: subject.as_ref(),
            });
        }
        // The source's borrow of the state ends here (it has a destructor).
        drop(src);
        if !self.matched.is_empty() {
            sink.matched_event(&self.state);
        }
    }

    /// Per-rule match counts by name (rules with no match are left out), the rules of the
    /// current set first, then those a reload removed.
    pub fn rule_counts(&self) -> Vec<(&str, u64)> {
        let current = self
            .stats
            .rule_matches
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .filter_map(|(i, n)| {
                let r = self.engine.rules.rule(i as RuleIdx)?;
                Some((r.name.as_str(), *n))
            });
        let retired = self
            .stats
            .retired_matches
            .iter()
            .map(|(name, n)| (name.as_str(), *n));
        current.chain(retired).collect()
    }
}

#[cfg(test)]
mod tests;
