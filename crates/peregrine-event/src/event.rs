//! A decoded event: a validated record bound to its schema.
//!
//! Decoding checks the record once (lengths, parameter count against the schema); parameter
//! values are decoded lazily and borrowed from the record, so an event that no rule looks at
//! costs one header parse.

use std::fmt;

use crate::raw::{RawRecord, RecordError, KIND_PROCEXIT, KIND_SYSCALL, KIND_SYSCALL_ENTER};
use crate::schema::{schema_for, ParamInfo, Schema};
use crate::value::{Render, Value, ValueError};
use crate::EventType;

/// Direction of an event; the kernel emits exit events only (Falco's `<`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    Enter,
    Exit,
}

#[derive(Clone, Copy, Debug)]
pub struct Event<'a> {
    pub raw: RawRecord<'a>,
    pub schema: &'static Schema,
    /// ns since the epoch (the kernel's boot-time clock plus the offset given to `decode`).
    pub ts: u64,
}

impl<'a> Event<'a> {
    /// Decodes one record. `boot_to_epoch_ns` converts the kernel's boot-time timestamps
    /// (CLOCK_BOOTTIME, which keeps counting across suspend) to wall-clock time.
    pub fn decode(buf: &'a [u8], boot_to_epoch_ns: u64) -> Result<Self, RecordError> {
        let raw = RawRecord::parse(buf)?;
        let schema = schema_for(raw.kind, raw.nr).ok_or(RecordError::UnknownKind {
            kind: raw.kind,
            nr: raw.nr,
        })?;
        if raw.nparams() != schema.params.len() {
            return Err(RecordError::ParamCount {
                name: schema.name,
                got: raw.nparams(),
                expected: schema.params.len(),
            });
        }
        Ok(Event {
            raw,
            schema,
            ts: raw.ts_boot_ns.wrapping_add(boot_to_epoch_ns),
        })
    }

    /// The `evt.type` name.
    pub fn name(&self) -> &'static str {
        self.schema.name
    }

    /// The event type, for rule indexing: read from the record header (one array index), so
    /// generic syscall events get their syscall's type too.
    pub fn event_type(&self) -> Option<EventType> {
        match self.raw.kind {
            KIND_SYSCALL | KIND_SYSCALL_ENTER => EventType::from_syscall_nr(u32::from(self.raw.nr)),
            KIND_PROCEXIT => Some(EventType::PROCEXIT),
            _ => None,
        }
    }

    /// Exit, except for the enter events of old captures replayed as Falco replays them.
    pub fn direction(&self) -> Direction {
        if self.raw.kind == KIND_SYSCALL_ENTER {
            Direction::Enter
        } else {
            Direction::Exit
        }
    }

    pub fn tid(&self) -> u32 {
        self.raw.tid
    }

    pub fn pid(&self) -> u32 {
        self.raw.pid
    }

    pub fn cpu(&self) -> u16 {
        self.raw.cpu
    }

    /// Every parameter with its schema entry and decoded value.
    pub fn params(
        &self,
    ) -> impl Iterator<Item = (&'static ParamInfo, Result<Value<'a>, ValueError>)> + '_ {
        self.schema
            .params
            .iter()
            .zip(self.raw.params())
            .map(|(info, bytes)| (info, Value::decode(info.ty, bytes)))
    }

    /// The parameter called `name` (`evt.arg.<name>`), if the schema has it.
    pub fn param(&self, name: &str) -> Option<Result<Value<'a>, ValueError>> {
        let i = self.schema.index_of(name)?;
        let info = &self.schema.params[i];
        self.raw.param(i).map(|b| Value::decode(info.ty, b))
    }

    /// The parameters rendered `name=value …`, as sysdig's `%evt.info`.
    pub fn info(&self) -> Info<'_, 'a> {
        Info(self, None)
    }

    /// [`Event::info`] with fd lists rendered as Falco does, with each descriptor's type
    /// character (`4:p1`), which `typechar` looks up in the caller's fd table.
    pub fn info_with<'e>(&'e self, typechar: &'e dyn Fn(i64) -> u8) -> Info<'e, 'a> {
        Info(self, Some(typechar))
    }
}

/// Display adaptor for [`Event::info`].
pub struct Info<'e, 'a>(&'e Event<'a>, Option<&'e dyn Fn(i64) -> u8>);

impl fmt::Display for Info<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (info, value)) in self.0.params().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            match value {
                Ok(Value::FdList(l)) if self.1.is_some() => {
                    write!(f, "{}=", info.name)?;
                    l.write(f, |fd| self.1.map_or(b'?', |t| t(fd)))?
                }
                Ok(v) => write!(
                    f,
                    "{}={}",
                    info.name,
                    Render {
                        ty: info.ty,
                        value: &v
                    }
                )?,
                Err(_) => write!(f, "{}=<invalid>", info.name)?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raw::tests::build;
    use crate::raw::KIND_SYSCALL;

    #[test]
    fn decodes_openat() {
        let rec = build(
            KIND_SYSCALL,
            257,
            &[
                &3i64.to_le_bytes(),
                &(-100i64).to_le_bytes(),
                b"/etc/passwd\0",
                &0o2000000u32.to_le_bytes(),
                &0u32.to_le_bytes(),
                &2049u32.to_le_bytes(),
                &1234u64.to_le_bytes(),
            ],
        );
        let ev = Event::decode(&rec, 10).expect("decodes");
        assert_eq!(ev.name(), "openat");
        assert_eq!(ev.ts, 1010);
        assert_eq!(ev.param("fd"), Some(Ok(Value::Int(3))));
        assert_eq!(ev.param("name"), Some(Ok(Value::Str(b"/etc/passwd"))));
        assert_eq!(
            ev.info().to_string(),
            "fd=3 dirfd=-100(AT_FDCWD) name=/etc/passwd flags=4097(O_RDONLY|O_CLOEXEC) mode=0 \
             dev=2049 ino=1234"
        );
        assert_eq!(ev.param("nosuch"), None);
    }

    #[test]
    fn rejects_wrong_param_count() {
        let rec = build(KIND_SYSCALL, 257, &[&3i64.to_le_bytes()]);
        assert_eq!(
            Event::decode(&rec, 0).err(),
            Some(RecordError::ParamCount {
                name: "openat",
                got: 1,
                expected: 7
            })
        );
    }
}
