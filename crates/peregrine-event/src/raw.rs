//! Zero-copy view of one kernel record (`bpf/include/peregrine_record.h`).
//!
//! The constants below mirror the C header; the capture crate asserts at compile time, against
//! bindgen's rendering of that header, that they agree, so a layout change cannot slip through.
//! Parsing validates every length before any slice is taken: a malformed or truncated record is
//! an error value, never a panic, and parameters are borrowed from the record buffer.

use thiserror::Error;

/// `PG_RECORD_VERSION`.
pub const RECORD_VERSION: u16 = 1;
/// `sizeof(struct pg_record_hdr)`.
pub const HDR_SIZE: usize = 32;
/// Byte offsets of `struct pg_record_hdr` fields.
pub const OFF_TS: usize = 0;
pub const OFF_TID: usize = 8;
pub const OFF_PID: usize = 12;
pub const OFF_LEN: usize = 16;
pub const OFF_KIND: usize = 20;
pub const OFF_NR: usize = 22;
pub const OFF_NPARAMS: usize = 24;
pub const OFF_CPU: usize = 26;
pub const OFF_VERSION: usize = 28;
/// `PG_MAX_PARAMS`.
pub const MAX_PARAMS: usize = 32;
/// `PG_MAX_SYSCALLS`.
pub const MAX_SYSCALLS: usize = 512;
/// `PG_PROCEXIT_SLOT`: interest-map slot enabling procexit records.
pub const PROCEXIT_SLOT: usize = MAX_SYSCALLS - 1;
/// `PG_KIND_SYSCALL`.
pub const KIND_SYSCALL: u16 = 1;
/// `PG_KIND_PROCEXIT`.
pub const KIND_PROCEXIT: u16 = 2;
/// Not written by the kernel: a syscall *enter* event of an old capture that Falco still hands
/// to its rules (libscap's converter passes e.g. `open` and `execve` enter events through).
/// It uses the exit's schema with only the parameters the enter event carries.
pub const KIND_SYSCALL_ENTER: u16 = 3;

/// The header fields a record's writer chooses; `len`, `nparams` and `version` follow from
/// the record itself.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Header {
    pub ts_boot_ns: u64,
    pub tid: u32,
    pub pid: u32,
    pub kind: u16,
    pub nr: u16,
    pub cpu: u16,
}

impl Header {
    /// Writes the header into the first [`HDR_SIZE`] bytes of `rec`, which must already hold
    /// the whole record: its length is taken as the record's `len`. Callers that fill a reused
    /// buffer in place (the capture-file converter) write the header last with this.
    ///
    /// # Panics
    /// If `rec` is shorter than [`HDR_SIZE`]; writers size their buffer before calling.
    pub fn write(&self, rec: &mut [u8], nparams: u16) {
        let len = rec.len() as u32;
        rec[OFF_TS..OFF_TS + 8].copy_from_slice(&self.ts_boot_ns.to_le_bytes());
        rec[OFF_TID..OFF_TID + 4].copy_from_slice(&self.tid.to_le_bytes());
        rec[OFF_PID..OFF_PID + 4].copy_from_slice(&self.pid.to_le_bytes());
        rec[OFF_LEN..OFF_LEN + 4].copy_from_slice(&len.to_le_bytes());
        rec[OFF_KIND..OFF_KIND + 2].copy_from_slice(&self.kind.to_le_bytes());
        rec[OFF_NR..OFF_NR + 2].copy_from_slice(&self.nr.to_le_bytes());
        rec[OFF_NPARAMS..OFF_NPARAMS + 2].copy_from_slice(&nparams.to_le_bytes());
        rec[OFF_CPU..OFF_CPU + 2].copy_from_slice(&self.cpu.to_le_bytes());
        rec[OFF_VERSION..OFF_VERSION + 2].copy_from_slice(&RECORD_VERSION.to_le_bytes());
    }

    /// A whole record as the kernel lays it out: header, parameter lengths, values. Lengths
    /// are not checked against `u16`/[`MAX_PARAMS`]; callers that take user input check first.
    pub fn encode<P: AsRef<[u8]>>(&self, params: &[P]) -> Vec<u8> {
        let mut b = vec![0u8; HDR_SIZE];
        for p in params {
            b.extend_from_slice(&(p.as_ref().len() as u16).to_le_bytes());
        }
        for p in params {
            b.extend_from_slice(p.as_ref());
        }
        self.write(&mut b, params.len() as u16);
        b
    }
}

/// Why a record was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RecordError {
    #[error("record of {0} bytes is shorter than the {HDR_SIZE}-byte header")]
    ShortHeader(usize),
    #[error("record says {declared} bytes but {available} are available")]
    BadLength { declared: usize, available: usize },
    #[error("record version {0} is not {RECORD_VERSION}")]
    Version(u16),
    #[error("{0} parameters exceed the maximum of {MAX_PARAMS}")]
    TooManyParams(usize),
    #[error("parameter lengths ({needed} bytes) overrun the {len}-byte record")]
    ParamsOverrun { needed: usize, len: usize },
    #[error("unknown record kind {kind} (syscall {nr})")]
    UnknownKind { kind: u16, nr: u16 },
    #[error("record has {got} parameters, its schema {name} expects {expected}")]
    ParamCount {
        name: &'static str,
        got: usize,
        expected: usize,
    },
}

/// A validated record: header fields plus borrowed parameter values.
#[derive(Clone, Copy, Debug)]
pub struct RawRecord<'a> {
    pub ts_boot_ns: u64,
    pub tid: u32,
    pub pid: u32,
    pub kind: u16,
    pub nr: u16,
    pub cpu: u16,
    lens: &'a [u8],
    values: &'a [u8],
}

fn u16_at(b: &[u8], off: usize) -> u16 {
    u16::from_le_bytes([b[off], b[off + 1]])
}

fn u32_at(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]])
}

impl<'a> RawRecord<'a> {
    /// Validates `buf` as one record (trailing bytes beyond the declared length are ignored:
    /// the ring buffer may pad).
    pub fn parse(buf: &'a [u8]) -> Result<Self, RecordError> {
        if buf.len() < HDR_SIZE {
            return Err(RecordError::ShortHeader(buf.len()));
        }
        let len = u32_at(buf, OFF_LEN) as usize;
        if len < HDR_SIZE || len > buf.len() {
            return Err(RecordError::BadLength {
                declared: len,
                available: buf.len(),
            });
        }
        let version = u16_at(buf, OFF_VERSION);
        if version != RECORD_VERSION {
            return Err(RecordError::Version(version));
        }
        let nparams = u16_at(buf, OFF_NPARAMS) as usize;
        if nparams > MAX_PARAMS {
            return Err(RecordError::TooManyParams(nparams));
        }
        let rec = &buf[..len];
        let values_at = HDR_SIZE + 2 * nparams;
        if values_at > len {
            return Err(RecordError::ParamsOverrun {
                needed: values_at,
                len,
            });
        }
        let lens = &rec[HDR_SIZE..values_at];
        let total: usize = lens
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]) as usize)
            .sum();
        if values_at + total > len {
            return Err(RecordError::ParamsOverrun {
                needed: values_at + total,
                len,
            });
        }
        let ts_boot_ns = u64::from_le_bytes(
            rec[OFF_TS..OFF_TS + 8]
                .try_into()
                .map_err(|_| RecordError::ShortHeader(len))?,
        );
        Ok(RawRecord {
            ts_boot_ns,
            tid: u32_at(rec, OFF_TID),
            pid: u32_at(rec, OFF_PID),
            kind: u16_at(rec, OFF_KIND),
            nr: u16_at(rec, OFF_NR),
            cpu: u16_at(rec, OFF_CPU),
            lens,
            values: &rec[values_at..values_at + total],
        })
    }

    /// Number of parameters.
    pub fn nparams(&self) -> usize {
        self.lens.len() / 2
    }

    /// Parameter lengths in order: what [`RawRecord::params`] slices by, for callers that
    /// index [`RawRecord::values`] themselves.
    pub fn param_lens(&self) -> impl Iterator<Item = usize> + 'a {
        self.lens
            .chunks_exact(2)
            .map(|c| usize::from(u16::from_le_bytes([c[0], c[1]])))
    }

    /// Parameter values in order (an empty slice is an absent value).
    pub fn params(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        let values = self.values;
        let mut at = 0usize;
        self.lens.chunks_exact(2).map(move |c| {
            let n = u16::from_le_bytes([c[0], c[1]]) as usize;
            // parse() checked that the lengths sum to values.len().
            let v = values.get(at..at + n).unwrap_or(&[]);
            at += n;
            v
        })
    }

    /// Every parameter's bytes, concatenated in order (with [`RawRecord::params`]' lengths,
    /// a consumer can index parameters by offset instead of re-walking the lengths).
    pub fn values(&self) -> &'a [u8] {
        self.values
    }

    /// Parameter `i`, if present.
    pub fn param(&self, i: usize) -> Option<&'a [u8]> {
        self.params().nth(i)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Builds a record the way the kernel does (used by tests across the crate).
    pub(crate) fn build(kind: u16, nr: u16, params: &[&[u8]]) -> Vec<u8> {
        let header = Header {
            ts_boot_ns: 1_000,
            tid: 42,
            pid: 41,
            kind,
            nr,
            cpu: 3,
        };
        header.encode(params)
    }

    fn check(buf: &[u8], expected: Result<Vec<&[u8]>, RecordError>) {
        let got = RawRecord::parse(buf).map(|r| r.params().collect::<Vec<_>>());
        assert_eq!(got, expected);
    }

    #[test]
    fn parses_and_rejects() {
        let good = build(KIND_SYSCALL, 257, &[b"ab", b"", b"cde"]);
        check(&good, Ok(vec![b"ab", b"", b"cde"]));
        let r = RawRecord::parse(&good).unwrap();
        assert_eq!(
            (r.tid, r.pid, r.nr, r.cpu, r.ts_boot_ns),
            (42, 41, 257, 3, 1000)
        );
        assert_eq!(r.param_lens().collect::<Vec<_>>(), [2, 0, 3]);
        check(&good[..10], Err(RecordError::ShortHeader(10)));
        check(
            &good[..good.len() - 1],
            Err(RecordError::BadLength {
                declared: good.len(),
                available: good.len() - 1,
            }),
        );
        let mut bad_len = good.clone();
        bad_len[HDR_SIZE] = 200; // first parameter claims 200 bytes
        check(
            &bad_len,
            Err(RecordError::ParamsOverrun {
                needed: HDR_SIZE + 6 + 200 + 3,
                len: good.len(),
            }),
        );
        let mut bad_version = good.clone();
        bad_version[OFF_VERSION] = 9;
        check(&bad_version, Err(RecordError::Version(9)));
        let mut many = good;
        many[OFF_NPARAMS] = 40;
        check(&many, Err(RecordError::TooManyParams(40)));
    }
}
