//! The typed event model shared by every stage of Peregrine.
//!
//! Capture decodes kernel records into these types, capture files decode into the same types,
//! and the rule engine indexes rules by [`EventType`]. Keeping the event vocabulary in one small
//! crate with no dependencies means the rules crate can reason about event types (e.g. the set
//! of types a rule can match) without depending on the kernel side, and vice versa.

mod event_type;
mod syscall_table;

pub use event_type::{EventType, EventTypeSet};
