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

/// Extracts a plugin field for an event of `source`: the registered field's plugin, if it
/// extracts from that source.
fn extract_plugin_field(
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
    let Some(pf) = fields::plugin_field(*dyn_id).and_then(|i| i.plugin) else {
        return;
    };
    let Some(p) = host.get(pf.plugin) else { return };
    if !p.extracts_from(source) {
        return;
    }
    if let Err(e) = p.extract(event, evtnum, c_source, pf.index, arg, out) {
        errors.report(&e);
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
                extract_plugin_field(
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
        extract_plugin_field(
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
