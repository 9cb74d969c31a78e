//! Plugin fields at evaluation time: [`SourceFields`] answers a plugin source's events,
//! [`SyscallExtension`] adds the fields of plugins that extract from syscall events.

use std::collections::HashMap;
use std::ffi::{CStr, CString};

use peregrine_engine::capture_file::ScapEncoder;
use peregrine_engine::EventExtension;
use peregrine_event::{Event, EventType};
use peregrine_filter::fields::{self, FieldId as F};
use peregrine_filter::{Extracted, FieldArg, FieldRequest, FieldSource, Slot};

use crate::plugin::{OwnedEvent, Plugin};
use crate::{Host, PluginError};

/// Counts a plugin's failures and logs them without flooding: the first of each kind at once,
/// then at the 2nd, 4th, 8th, … occurrence with the count.
#[derive(Debug, Default)]
pub struct ErrorLog {
    counts: HashMap<String, u64>,
    /// Failures so far, all kinds.
    pub total: u64,
}

impl ErrorLog {
    pub fn report(&mut self, e: &PluginError) {
        self.total += 1;
        let key = match e {
            PluginError::Extract { plugin, field, .. } => format!("{plugin}/{field}"),
            other => other.to_string(),
        };
        let n = self.counts.entry(key).or_default();
        *n += 1;
        if n.is_power_of_two() {
            log::warn!("{} ({} time(s))", e.safe(), n);
        }
    }
}

/// The event type plugin events carry (looked up once; the table always has it).
static PLUGIN_EVENT: std::sync::LazyLock<EventType> =
    std::sync::LazyLock::new(|| EventType::from_name("pluginevent").unwrap_or(EventType::PROCEXIT));

/// The plugin fields asked for so far and their values for the current event: a field that
/// several rules (or a rule and its output) read is extracted once per event.
///
/// Each extraction is still its own `extract_fields` call of one field. Asking a plugin for
/// several fields in one call was tried and gives wrong values with plugins built on Falco's
/// Rust SDK (`falco_plugin` 0.5.1, our test plugins): it builds each value in a bump arena
/// and drops the buffer before returning, so the next field's value overwrites the previous
/// one's; libsinsp asks one field per call, so plugins are only ever tested that way.
#[derive(Debug, Default)]
pub struct FieldCache {
    wanted: Vec<Wanted>,
    /// The event the values are of (its number).
    event: Option<u64>,
    /// Scratch for one call's result.
    results: Vec<Result<Extracted, PluginError>>,
    /// Calls into plugins so far.
    pub calls: u64,
}

#[derive(Debug)]
struct Wanted {
    /// The request's registration number and own argument (its identity).
    dyn_id: u32,
    arg: FieldArg,
    /// Where the field is: the plugin (index in the host) and the field's number.
    plugin: usize,
    index: u32,
    value: Cached,
}

#[derive(Debug)]
enum Cached {
    /// Not extracted from the current event yet.
    Pending,
    Got(Extracted),
    /// Extracted and refused (the error was reported).
    Failed,
}

impl FieldCache {
    /// Appends the values of plugin field `field` for `event` (number `evtnum`, of `source`).
    #[allow(clippy::too_many_arguments)]
    fn extract(
        &mut self,
        host: &Host,
        event: &[u8],
        evtnum: u64,
        (source, c_source): (&str, &CStr),
        field: &FieldRequest,
        out: &mut Extracted,
        errors: &mut ErrorLog,
    ) {
        let FieldArg::Plugin(dyn_id, arg) = &field.arg else {
            return;
        };
        if self.event != Some(evtnum) {
            self.event = Some(evtnum);
            for w in &mut self.wanted {
                w.value = Cached::Pending;
            }
        }
        let i = match self
            .wanted
            .iter()
            .position(|w| w.dyn_id == *dyn_id && w.arg == **arg)
        {
            Some(i) => i,
            None => {
                let Some(pf) = fields::plugin_field(*dyn_id).and_then(|i| i.plugin) else {
                    return;
                };
                let Some(plugin) = host.plugins.iter().position(|p| p.name == pf.plugin) else {
                    return;
                };
                if !host.plugins[plugin].extracts_from(source) {
                    return;
                }
                self.wanted.push(Wanted {
                    dyn_id: *dyn_id,
                    arg: (**arg).clone(),
                    plugin,
                    index: pf.index,
                    value: Cached::Pending,
                });
                self.wanted.len() - 1
            }
        };
        let w = &mut self.wanted[i];
        if matches!(w.value, Cached::Pending) {
            let Some(p) = host.plugins.get(w.plugin) else {
                return;
            };
            self.results.clear();
            self.calls += 1;
            let call = p.extract_many(
                event,
                evtnum,
                c_source,
                &[(w.index, &w.arg)],
                &mut self.results,
            );
            w.value =
                match call.and_then(|()| self.results.pop().unwrap_or(Ok(Extracted::default()))) {
                    Ok(vals) => Cached::Got(vals),
                    Err(e) => {
                        errors.report(&e);
                        Cached::Failed
                    }
                };
        }
        if let Cached::Got(vals) = &w.value {
            for v in vals.iter() {
                crate::plugin::push_value(v, out);
            }
        }
    }
}

/// One event of a plugin source as a [`FieldSource`]: the event-generic `evt.*` fields, and
/// the fields of every loaded plugin that extracts from the source.
pub struct SourceFields<'a> {
    pub host: &'a Host,
    /// The plugin whose source produced the event.
    pub plugin: &'a Plugin,
    pub event: &'a OwnedEvent,
    /// `evt.num`: the event's sequence number in its source.
    pub num: u64,
    pub hostname: &'a str,
    pub c_source: &'a CStr,
    pub errors: &'a mut ErrorLog,
    /// The plugin fields' values, batched per event (kept across the source's events).
    pub cache: &'a mut FieldCache,
}

impl FieldSource for SourceFields<'_> {
    fn event_type(&self) -> EventType {
        *PLUGIN_EVENT
    }

    fn extract(&mut self, field: &FieldRequest, out: &mut Extracted) {
        let ts = self.event.ts();
        let mut s = String::new();
        match field.id {
            F::PluginField => {
                let source = self.plugin.event_source.as_deref().unwrap_or("");
                self.cache.extract(
                    self.host,
                    &self.event.bytes,
                    self.num,
                    (source, self.c_source),
                    field,
                    out,
                    self.errors,
                );
            }
            F::EvtNum => out.push(Slot::UInt(self.num)),
            F::EvtRawtime => out.push(Slot::UInt(ts)),
            F::EvtRawtimeS => out.push(Slot::UInt(ts / 1_000_000_000)),
            F::EvtRawtimeNs => out.push(Slot::UInt(ts % 1_000_000_000)),
            id @ (F::EvtTime
            | F::EvtTimeS
            | F::EvtTimeIso8601
            | F::EvtDatetime
            | F::EvtDatetimeS)
                if peregrine_filter::format::format_time(id, ts, &mut s) =>
            {
                out.push_str(&s)
            }
            F::EvtSource => out.push_str(self.plugin.event_source.as_deref().unwrap_or("")),
            F::EvtPluginname => out.push_str(&self.plugin.name),
            F::EvtPlugininfo => match self.plugin.event_to_string(self.event, self.num) {
                Ok(s) => out.push_str(&s),
                Err(e) => self.errors.report(&e),
            },
            F::EvtHostname => out.push_str(self.hostname),
            F::EvtIsAsync => out.push(Slot::Bool(false)),
            _ => {}
        }
    }
}

/// The fields of plugins that extract from syscall events, and their `parse_event`: the
/// event is encoded in scap form (the layout plugins read) once per event that needs it.
pub struct SyscallExtension {
    host: Host,
    encoder: ScapEncoder,
    /// The encoded event and its number (`None`: the event has no scap form).
    cache: Option<(u64, Option<Vec<u8>>)>,
    parses: bool,
    fields: FieldCache,
    pub errors: ErrorLog,
}

/// `syscall`, for `evtsrc`.
const SYSCALL: &CStr = c"syscall";

impl SyscallExtension {
    pub fn new(host: Host) -> SyscallExtension {
        let parses = host
            .plugins
            .iter()
            .any(|p| p.parses(fields::SYSCALL_SOURCE));
        SyscallExtension {
            host,
            encoder: ScapEncoder::new(),
            cache: None,
            parses,
            fields: FieldCache::default(),
            errors: ErrorLog::default(),
        }
    }

    /// The scap form of `ev` (cached per event number).
    fn encoded(&mut self, ev: &Event<'_>, evtnum: u64) -> Option<&[u8]> {
        if self.cache.as_ref().is_none_or(|(n, _)| *n != evtnum) {
            let bytes = self.encoder.to_owned(ev).and_then(|o| encode(&o));
            self.cache = Some((evtnum, bytes));
        }
        self.cache.as_ref().and_then(|(_, b)| b.as_deref())
    }
}

/// An owned scap event as one buffer in the plugin API's layout: the 26-byte header, the
/// parameter lengths (u16, or u32 for `EF_LARGE_PAYLOAD` events), then the values.
pub fn encode(e: &peregrine_scap::OwnedEvent) -> Option<Vec<u8>> {
    let large = peregrine_scap::table::lookup(e.ppm_type)
        .is_some_and(|i| i.flags & peregrine_scap::table::ef::LARGE_PAYLOAD != 0);
    let width = if large { 4 } else { 2 };
    let data: usize = e.params.iter().map(Vec::len).sum();
    let len = 26 + width * e.params.len() + data;
    let mut out = Vec::with_capacity(len);
    out.extend_from_slice(&e.ts.to_le_bytes());
    out.extend_from_slice(&e.tid.to_le_bytes());
    out.extend_from_slice(&u32::try_from(len).ok()?.to_le_bytes());
    out.extend_from_slice(&e.ppm_type.to_le_bytes());
    out.extend_from_slice(&u32::try_from(e.params.len()).ok()?.to_le_bytes());
    for p in &e.params {
        if large {
            out.extend_from_slice(&u32::try_from(p.len()).ok()?.to_le_bytes());
        } else {
            out.extend_from_slice(&u16::try_from(p.len()).ok()?.to_le_bytes());
        }
    }
    for p in &e.params {
        out.extend_from_slice(p);
    }
    Some(out)
}

impl EventExtension for SyscallExtension {
    fn extract(&mut self, ev: &Event<'_>, evtnum: u64, req: &FieldRequest, out: &mut Extracted) {
        if self.encoded(ev, evtnum).is_none() {
            return;
        }
        let Some((_, Some(bytes))) = self.cache.take() else {
            return;
        };
        self.fields.extract(
            &self.host,
            &bytes,
            evtnum,
            (fields::SYSCALL_SOURCE, SYSCALL),
            req,
            out,
            &mut self.errors,
        );
        self.cache = Some((evtnum, Some(bytes)));
    }

    fn parses(&self) -> bool {
        self.parses
    }

    fn parse(&mut self, ev: &Event<'_>, evtnum: u64) {
        if self.encoded(ev, evtnum).is_none() {
            return;
        }
        let Some((_, Some(bytes))) = self.cache.take() else {
            return;
        };
        for p in &self.host.plugins {
            if p.parses(fields::SYSCALL_SOURCE) {
                if let Err(e) = p.parse_event(&bytes, evtnum, SYSCALL) {
                    self.errors.report(&e);
                }
            }
        }
        self.cache = Some((evtnum, Some(bytes)));
    }
}

/// The C form of a plugin's source name, for `evtsrc`.
pub fn c_source(p: &Plugin) -> CString {
    CString::new(p.event_source.clone().unwrap_or_default()).unwrap_or_default()
}
