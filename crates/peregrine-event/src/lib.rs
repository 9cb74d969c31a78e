//! The typed event model shared by every stage of Peregrine.
//!
//! Capture decodes kernel records into these types, capture files decode into the same types,
//! and the rule engine indexes rules by [`EventType`]. Keeping the event vocabulary in one small
//! crate with no dependencies means the rules crate can reason about event types (e.g. the set
//! of types a rule can match) without depending on the kernel side, and vice versa.
//!
//! Decoding of kernel records ([`raw`] → [`Event`]) is zero-copy: an [`Event`] borrows the
//! record, parameters are decoded on demand into borrowed [`Value`]s, and a malformed record is
//! a [`RecordError`], never a panic. Parameter names, types and flag renderings are Falco's
//! ([`schema`], [`flags`]).

#![forbid(unsafe_code)]

pub mod builder;
mod event;
mod event_type;
pub mod flags;
pub mod le;
pub mod raw;
pub mod schema;
mod syscall_table;
pub mod time;
pub mod value;

pub use event::{Direction, Event, Info};
pub use event_type::{EventType, EventTypeSet};
pub use raw::{RawRecord, RecordError};
pub use schema::{ParamInfo, ParamType, Schema};
pub use syscall_table::nr;
pub use value::{FdList, Render, SockAddr, SockTuple, Value, ValueError};
