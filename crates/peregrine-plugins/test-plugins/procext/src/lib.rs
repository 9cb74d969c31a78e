//! `procext`: a Falco extraction plugin built with Falco's Rust SDK that adds fields to
//! syscall events (its `extract_event_sources` is `["syscall"]`), for the plugin host's tests.
//!
//! Fields: `procext.dir` (`enter`/`exit`, from the event code's parity as libscap numbers
//! them), `procext.code` (the scap event code), `procext.tidmod[N]` (the thread id modulo N).
//! `init_config` `{"garbage": true}` makes `procext.dir` return bytes that are not UTF-8, which
//! the host must refuse and report with the plugin's name.

use falco_event::events::{AnyEventPayload, RawEvent};
use falco_plugin::anyhow::{self, Error};
use falco_plugin::base::{Json, Plugin};
use falco_plugin::extract::{field, ExtractFieldInfo, ExtractPlugin, ExtractRequest};
use falco_plugin::schemars::JsonSchema;
use falco_plugin::serde::Deserialize;
use falco_plugin::tables::TablesInput;
use falco_plugin::{extract_plugin, plugin};
use std::ffi::{CStr, CString};

#[derive(JsonSchema, Deserialize, Default)]
#[schemars(crate = "falco_plugin::schemars")]
#[serde(crate = "falco_plugin::serde", deny_unknown_fields)]
pub struct Config {
    /// Return invalid UTF-8 from procext.dir.
    garbage: Option<bool>,
}

pub struct ProcExt {
    garbage: bool,
}

impl Plugin for ProcExt {
    const NAME: &'static CStr = c"procext";
    const PLUGIN_VERSION: &'static CStr = c"1.2.0";
    const DESCRIPTION: &'static CStr =
        c"Fields derived from syscall events: a test extraction plugin";
    const CONTACT: &'static CStr = c"peregrine tests";
    type ConfigType = Json<Config>;

    fn new(_input: Option<&TablesInput>, Json(config): Json<Config>) -> Result<Self, Error> {
        Ok(ProcExt {
            garbage: config.garbage.unwrap_or(false),
        })
    }
}

/// Any event of the `syscall` source, undecoded.
pub struct SyscallEvent<'a>(RawEvent<'a>);

impl AnyEventPayload for SyscallEvent<'_> {
    const SOURCES: &'static [Option<&'static str>] = &[Some("syscall")];
    const EVENT_TYPES: &'static [u16] = &[];
}

impl<'a> From<&RawEvent<'a>> for SyscallEvent<'a> {
    fn from(raw: &RawEvent<'a>) -> Self {
        SyscallEvent(RawEvent {
            metadata: raw.metadata.clone(),
            len: raw.len,
            event_type: raw.event_type,
            nparams: raw.nparams,
            payload: raw.payload,
        })
    }
}

impl ProcExt {
    fn extract_dir(&mut self, req: ExtractRequest<Self>) -> Result<CString, Error> {
        if self.garbage {
            return Ok(CString::new(vec![0xff, 0xfe, b'x'])?);
        }
        let ev = req.event.event()?;
        Ok(CString::from(if ev.0.event_type % 2 == 0 {
            c"enter"
        } else {
            c"exit"
        }))
    }

    fn extract_code(&mut self, req: ExtractRequest<Self>) -> Result<u64, Error> {
        Ok(u64::from(req.event.event()?.0.event_type))
    }

    fn extract_tidmod(&mut self, req: ExtractRequest<Self>, m: u64) -> Result<u64, Error> {
        if m == 0 {
            anyhow::bail!("procext.tidmod[0]: division by zero");
        }
        Ok(req.event.event()?.0.metadata.tid as u64 % m)
    }
}

impl ExtractPlugin for ProcExt {
    type ExtractContext = ();
    type Event<'a> = SyscallEvent<'a>;
    const EXTRACT_FIELDS: &'static [ExtractFieldInfo<Self>] = &[
        field("procext.dir", &Self::extract_dir).with_description("enter or exit"),
        field("procext.code", &Self::extract_code).with_description("The scap event code"),
        field("procext.tidmod", &Self::extract_tidmod)
            .with_description("The thread id modulo the argument"),
    ];
}

plugin!(ProcExt);
extract_plugin!(ProcExt);
