//! scap capture files: a streaming reader, a writer of the current layout, and a strict
//! checker — the format Falco, sysdig and Stratoshark read and write.
//!
//! Why a crate of its own: capture files are the project's portable test and replay input,
//! and their format (pcapng-style blocks, nine process-list versions, v1 events without a
//! parameter count, PPM event codes) has nothing to do with the kernel record layout of
//! `peregrine-event`. Keeping it here lets replay, tests and tools share one decoder.
//!
//! Key design decision: events stream as borrowed [`ScapEvent`]s over one reused block buffer
//! (constant memory, zero copies of parameter bytes), while metadata — small and needed as a
//! whole by the state engine — is decoded eagerly into owned [`Metadata`]. Old event layouts
//! are *not* rewritten while reading: [`convert`] documents, per `(code, nparams)`, which
//! conversion libscap would apply, so a consumer can choose to port or ignore them.
//!
//! Nothing here panics on file contents: every read is bounds-checked and every problem is a
//! [`ScapError`] with the byte offset where it starts.

#![forbid(unsafe_code)]

pub mod check;
pub mod convert;
mod dump;
mod error;
pub mod event;
mod model;
pub mod reader;
pub mod table;
pub mod writer;

pub use check::{check, CheckError, Summary};
pub use dump::{dump, dump_reader, DumpStats};
pub use error::{ErrorKind, OpenError, ScapError};
pub use event::{OwnedEvent, Params, ScapEvent};
pub use model::*;
pub use reader::{ReadStats, Reader};
pub use writer::{FileOut, Writer};

/// A capture read whole: its metadata, events, and the error that ended reading early, if any
/// (what was read before the error is kept).
#[derive(Debug)]
pub struct Capture {
    pub metadata: Metadata,
    pub events: Vec<OwnedEvent>,
    pub error: Option<ScapError>,
}

/// Reads a whole capture from bytes (gzip or plain) into memory. For tests and small files;
/// use [`Reader`] to stream.
pub fn read_all(bytes: &[u8]) -> Capture {
    let mut rd = match Reader::new(bytes) {
        Ok(r) => r,
        Err(e) => {
            return Capture {
                metadata: *e.partial,
                events: Vec::new(),
                error: Some(e.error),
            }
        }
    };
    let mut events = Vec::new();
    let error = loop {
        match rd.next_event() {
            Ok(Some(e)) => events.push(e.to_owned_event()),
            Ok(None) => break None,
            Err(e) => break Some(e),
        }
    };
    Capture {
        metadata: rd.into_metadata(),
        events,
        error,
    }
}
