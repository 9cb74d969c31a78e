//! The event parameters the state handlers read, resolved to positions once per schema.
//!
//! Key decision: handlers name a parameter by a [`K`] key, never by a string. The position of
//! every key in every schema is computed once (a table of `u8` per syscall number), so a
//! lookup is two array indexes; a scan of the schema's names per lookup cost hundreds of
//! comparisons per `execve` (about 30 parameters, about 30 lookups).
//!
//! Each key also carries the [`Shape`] of its parameter, so the handlers' common reads (an
//! integer of 4 or 8 bytes, a string) take a short path without matching on the schema's
//! parameter type per read.

use std::sync::LazyLock;

use peregrine_event::flags::Conv;
use peregrine_event::raw::{KIND_PROCEXIT, KIND_SYSCALL, MAX_SYSCALLS};
use peregrine_event::schema::{schema_for, ParamType};

/// Marks a key the schema does not have.
const ABSENT: u8 = u8::MAX;

macro_rules! keys {
    ($($key:ident $name:literal,)*) => {
        /// A parameter a handler reads (its name in the schema is in [`NAMES`]).
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        #[repr(u8)]
        pub(crate) enum K { $($key,)* }

        /// The schema name of each [`K`], in declaration order.
        const NAMES: &[&str] = &[$($name,)*];

        /// Every [`K`], for tests that check a read for each.
        #[cfg(test)]
        pub(crate) const ALL: &[K] = &[$(K::$key,)*];
    };
}

keys! {
    Res "res", Fd "fd", Fd1 "fd1", Fd2 "fd2", Oldfd "oldfd", Dirfd "dirfd", Name "name",
    Path "path", Flags "flags", Dev "dev", Ino "ino", Cmd "cmd", Domain "domain", Type "type",
    Proto "proto", Tuple "tuple", Addr "addr", Exe "exe", Args "args", Comm "comm", Cwd "cwd",
    Env "env", Cgroups "cgroups", TrustedExepath "trusted_exepath", Filename "filename",
    Ptid "ptid", Tty "tty", Loginuid "loginuid", Uid "uid", Gid "gid", Euid "euid",
    Egid "egid", CapPermitted "cap_permitted", CapInheritable "cap_inheritable",
    CapEffective "cap_effective", ExeIno "exe_ino", ExeInoCtime "exe_ino_ctime",
    ExeInoMtime "exe_ino_mtime", Fdlimit "fdlimit", VmSize "vm_size", VmRss "vm_rss",
    VmSwap "vm_swap", PgftMaj "pgft_maj", PgftMin "pgft_min", Vpgid "vpgid", Vpid "vpid",
    Vtid "vtid", PidnsInitStartTs "pidns_init_start_ts", ReaperTid "reaper_tid", Data "data",
    Mode "mode", Level "level", Optname "optname", Val "val",
}

pub(crate) const NKEYS: usize = NAMES.len();

/// The row of procexit records, after one row per syscall number.
const PROCEXIT_ROW: usize = MAX_SYSCALLS;

/// How a parameter's bytes read, for the short paths of the state handlers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Shape {
    /// The schema has no such parameter.
    Absent,
    /// A signed integer with no conversion (`Fd`, `Errno`, `Pid`, `Int`).
    Signed,
    /// An unsigned integer with no conversion (`Uint`, `Uid`, `Gid`, `Mode`, `AbsTime`).
    Unsigned,
    /// A NUL-terminated string (`Str`, `Path`, `RelPath`).
    Text,
    /// Bytes taken as they are (`Bytes`, `List`).
    Raw,
    /// Open flags converted to `PPM_O_*` (every open reads them).
    OpenFlags,
    /// Anything else (flags with a conversion, socket addresses …): the general decoder.
    Other,
}

impl Shape {
    fn of(ty: ParamType) -> Shape {
        use ParamType as T;
        match ty {
            t if t.is_signed_int() => Shape::Signed,
            t if t.is_unsigned_int() => Shape::Unsigned,
            T::Str | T::Path | T::RelPath(_) => Shape::Text,
            T::Bytes | T::List => Shape::Raw,
            T::Flags(_, Conv::OpenFlags) => Shape::OpenFlags,
            _ => Shape::Other,
        }
    }
}

/// Where each key is in one schema, and its shape.
#[derive(Debug)]
pub(crate) struct Row {
    pub pos: [u8; NKEYS],
    pub shape: [Shape; NKEYS],
}

static NONE: Row = Row {
    pos: [ABSENT; NKEYS],
    shape: [Shape::Absent; NKEYS],
};

/// Positions of every key, one row per syscall number, then procexit's.
static POSITIONS: LazyLock<Box<[Row]>> = LazyLock::new(|| {
    (0..=PROCEXIT_ROW)
        .map(|slot| {
            let mut row = Row {
                pos: [ABSENT; NKEYS],
                shape: [Shape::Absent; NKEYS],
            };
            let schema = if slot == PROCEXIT_ROW {
                schema_for(KIND_PROCEXIT, 0)
            } else {
                u16::try_from(slot)
                    .ok()
                    .and_then(|nr| schema_for(KIND_SYSCALL, nr))
            };
            if let Some(s) = schema {
                for ((pos, shape), name) in row.pos.iter_mut().zip(&mut row.shape).zip(NAMES) {
                    if let Some(i) = s.index_of(name).and_then(|i| u8::try_from(i).ok()) {
                        *pos = i;
                        *shape = Shape::of(s.params[usize::from(i)].ty);
                    }
                }
            }
            row
        })
        .collect()
});

/// The key positions and shapes for a record of `kind`/`nr` (every key absent for anything
/// else).
pub(crate) fn row(kind: u16, nr: u16) -> &'static Row {
    let slot = match kind {
        KIND_SYSCALL => usize::from(nr),
        KIND_PROCEXIT => PROCEXIT_ROW,
        _ => return &NONE,
    };
    POSITIONS.get(slot).unwrap_or(&NONE)
}

/// The key positions for a record of `kind`/`nr` (every key absent for anything else).
pub(crate) fn positions(kind: u16, nr: u16) -> &'static [u8; NKEYS] {
    &row(kind, nr).pos
}

/// The position of `k` in a row from [`positions`].
pub(crate) fn position(row: &[u8; NKEYS], k: K) -> Option<usize> {
    let p = row[k as usize];
    (p != ABSENT).then_some(usize::from(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_resolve_to_the_schema_positions() {
        let open = positions(KIND_SYSCALL, 257);
        let s = schema_for(KIND_SYSCALL, 257).expect("openat schema");
        for (k, name) in [(K::Fd, "fd"), (K::Dirfd, "dirfd"), (K::Flags, "flags")] {
            let i = position(open, k).expect("openat has it");
            assert_eq!(s.params[i].name, name);
        }
        assert_eq!(position(open, K::Tuple), None);
        let exit = positions(KIND_PROCEXIT, 0);
        let s = schema_for(KIND_PROCEXIT, 0).expect("procexit schema");
        assert_eq!(
            position(exit, K::ReaperTid).map(|i| s.params[i].name),
            Some("reaper_tid")
        );
        assert_eq!(position(positions(99, 0), K::Res), None);
        let open = row(KIND_SYSCALL, 257);
        for (k, shape) in [
            (K::Fd, Shape::Signed),
            (K::Name, Shape::Text),
            (K::Flags, Shape::OpenFlags),
            (K::Tuple, Shape::Absent),
        ] {
            assert_eq!(open.shape[k as usize], shape, "{k:?}");
        }
        let exec = row(KIND_SYSCALL, 59);
        assert_eq!(exec.shape[K::Args as usize], Shape::Raw);
        assert_eq!(exec.shape[K::Uid as usize], Shape::Unsigned);
    }
}
