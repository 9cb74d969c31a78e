//! `ticker`: a Falco source plugin built with Falco's Rust SDK, for the plugin host's tests and
//! benchmark. `open_params` is the number of events to produce (`"100"`), then the source ends;
//! each event's payload is `tick N` and its fields are `ticker.n`, `ticker.msg`, `ticker.even`.
//!
//! `init_config` (JSON, with the schema the SDK derives): `batch` events per `next_batch`
//! (default 64) and `fail_after`, the number of events after which `next_batch` returns an
//! error instead (the host must report it with the plugin's name and carry on).

use falco_event::events::{Event, EventMetadata};
use falco_event::fields::{FromBytes, FromBytesError, ToBytes};
use falco_plugin::anyhow::{self, Error};
use falco_plugin::base::{Json, Plugin};
use falco_plugin::event::{EventSource, PluginEvent};
use falco_plugin::extract::{field, ExtractFieldInfo, ExtractPlugin, ExtractRequest};
use falco_plugin::schemars::JsonSchema;
use falco_plugin::serde::Deserialize;
use falco_plugin::source::{EventBatch, EventInput, SourcePlugin, SourcePluginInstance};
use falco_plugin::tables::TablesInput;
use falco_plugin::FailureReason;
use std::ffi::{CStr, CString};
use std::io::Write;

#[derive(JsonSchema, Deserialize, Default)]
#[schemars(crate = "falco_plugin::schemars")]
#[serde(crate = "falco_plugin::serde", deny_unknown_fields)]
pub struct Config {
    /// Events per batch.
    batch: Option<u64>,
    /// Fail `next_batch` once this many events were produced.
    fail_after: Option<u64>,
}

pub struct Ticker {
    batch: u64,
    fail_after: Option<u64>,
}

impl Plugin for Ticker {
    const NAME: &'static CStr = c"ticker";
    const PLUGIN_VERSION: &'static CStr = c"0.3.1";
    const DESCRIPTION: &'static CStr = c"Counts ticks: a test source plugin";
    const CONTACT: &'static CStr = c"peregrine tests";
    type ConfigType = Json<Config>;

    fn new(_input: Option<&TablesInput>, Json(config): Json<Config>) -> Result<Self, Error> {
        Ok(Ticker {
            batch: config.batch.unwrap_or(64).max(1),
            fail_after: config.fail_after,
        })
    }
}

pub struct TickerInstance {
    next: u64,
    total: u64,
}

/// The payload of a ticker event, written `tick N`.
#[derive(Debug)]
pub struct Tick(u64);

impl EventSource for Tick {
    const SOURCE: Option<&'static str> = Some("ticker");
}

impl FromBytes<'_> for Tick {
    fn from_bytes(buf: &mut &[u8]) -> Result<Self, FromBytesError> {
        let text = std::str::from_utf8(buf).map_err(|_| FromBytesError::InvalidLength)?;
        let n = text
            .strip_prefix("tick ")
            .and_then(|n| n.parse().ok())
            .ok_or(FromBytesError::InvalidLength)?;
        *buf = &buf[buf.len()..];
        Ok(Tick(n))
    }
}

impl ToBytes for Tick {
    fn binary_size(&self) -> usize {
        format!("tick {}", self.0).len()
    }

    fn write<W: Write>(&self, mut writer: W) -> std::io::Result<()> {
        write!(writer, "tick {}", self.0)
    }

    fn default_repr() -> impl ToBytes {
        Tick(0)
    }
}

type TickEvent<'a> = Event<PluginEvent<Tick>>;

fn payload(event: &EventInput<TickEvent<'_>>) -> Result<u64, Error> {
    Ok(event.event()?.params.event_data.0)
}

impl SourcePluginInstance for TickerInstance {
    type Plugin = Ticker;

    fn next_batch(&mut self, plugin: &mut Ticker, batch: &mut EventBatch) -> Result<(), Error> {
        if self.next >= self.total {
            return Err(anyhow::anyhow!("done").context(FailureReason::Eof));
        }
        let end = (self.next + plugin.batch).min(self.total);
        while self.next < end {
            if plugin.fail_after.is_some_and(|f| self.next >= f) {
                anyhow::bail!("the ticker broke after {} ticks", self.next);
            }
            batch.add(Event {
                metadata: EventMetadata {
                    ts: 1_700_000_000_000_000_000 + self.next * 1000,
                    tid: -1,
                },
                params: PluginEvent {
                    plugin_id: Ticker::PLUGIN_ID,
                    event_data: Tick(self.next),
                },
            })?;
            self.next += 1;
        }
        Ok(())
    }
}

impl SourcePlugin for Ticker {
    type Instance = TickerInstance;
    const EVENT_SOURCE: &'static CStr = c"ticker";
    const PLUGIN_ID: u32 = 999;
    type Event<'a> = TickEvent<'a>;

    fn open(&mut self, params: Option<&str>) -> Result<TickerInstance, Error> {
        let total = match params.map(str::trim) {
            None | Some("") => 10,
            Some(p) => p
                .parse()
                .map_err(|_| anyhow::anyhow!("open_params must be a number of ticks, not {p:?}"))?,
        };
        Ok(TickerInstance { next: 0, total })
    }

    fn event_to_string(&mut self, event: &EventInput<TickEvent>) -> Result<CString, Error> {
        let n = payload(event)?;
        Ok(CString::new(format!("tick number {n}"))?)
    }
}

impl Ticker {
    fn extract_n(&mut self, req: ExtractRequest<Self>) -> Result<u64, Error> {
        payload(req.event)
    }

    fn extract_msg(&mut self, req: ExtractRequest<Self>) -> Result<CString, Error> {
        let n = payload(req.event)?;
        Ok(CString::new(format!("tick {n}"))?)
    }

    fn extract_even(&mut self, req: ExtractRequest<Self>) -> Result<bool, Error> {
        Ok(payload(req.event)? % 2 == 0)
    }
}

impl ExtractPlugin for Ticker {
    type ExtractContext = ();
    type Event<'a> = TickEvent<'a>;
    const EXTRACT_FIELDS: &'static [ExtractFieldInfo<Self>] = &[
        field("ticker.n", &Self::extract_n).with_description("The tick's number"),
        field("ticker.msg", &Self::extract_msg).with_description("The tick's text"),
        field("ticker.even", &Self::extract_even).with_description("Whether the number is even"),
    ];
}

use falco_plugin::{extract_plugin, plugin, source_plugin};

plugin!(Ticker);
source_plugin!(Ticker);
extract_plugin!(Ticker);
