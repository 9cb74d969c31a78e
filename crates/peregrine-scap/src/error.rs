//! Typed errors of the reader, writer and checker.
//!
//! Every error carries the byte offset (in the decompressed stream) where the problem starts,
//! because the first thing anyone does with a bad capture is look at it with a hex dump.

use thiserror::Error;

/// A problem in a capture file, at `offset` bytes into the (decompressed) stream.
#[derive(Debug, Error)]
#[error("{kind} (at byte {offset})")]
pub struct ScapError {
    pub offset: u64,
    pub kind: ErrorKind,
}

impl ScapError {
    pub fn new(offset: u64, kind: ErrorKind) -> Self {
        ScapError { offset, kind }
    }
}

#[derive(Debug, Error)]
pub enum ErrorKind {
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error(
        "not a scap file: first block type is {0:#010x}, expected the section header 0x0a0d0d0a"
    )]
    NotScap(u32),
    #[error("byte-swapped section header: big-endian captures are not supported")]
    ByteSwapped,
    #[error("invalid byte-order magic {0:#010x}, expected 0x1a2b3c4d")]
    BadMagic(u32),
    #[error("unsupported scap version {major}.{minor} (this reader handles major version 1)")]
    Version { major: u16, minor: u16 },
    #[error("truncated {what}: needed {needed} bytes, {available} available")]
    Truncated {
        what: &'static str,
        needed: u64,
        available: u64,
    },
    #[error("block type {block_type:#x} has invalid length {len}")]
    BadBlockLength { block_type: u32, len: u32 },
    #[error("block trailer {trailer} does not match the header length {len}")]
    BadTrailer { len: u32, trailer: u32 },
    #[error("malformed {what}: {detail}")]
    Malformed { what: &'static str, detail: String },
    #[error("unexpected block type {0:#x} after the first event block")]
    UnexpectedBlock(u32),
    #[error("invalid event: {0}")]
    BadEvent(String),
}

impl ErrorKind {
    pub(crate) fn malformed(what: &'static str, detail: impl Into<String>) -> Self {
        ErrorKind::Malformed {
            what,
            detail: detail.into(),
        }
    }
}

/// Opening a capture failed while reading its metadata; what was read before the error is kept.
#[derive(Debug, Error)]
#[error("{error}")]
pub struct OpenError {
    #[source]
    pub error: ScapError,
    /// The metadata read before the error.
    pub partial: Box<crate::Metadata>,
}
