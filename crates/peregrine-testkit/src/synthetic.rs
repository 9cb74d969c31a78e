//! Synthetic events for tests: a [`FieldSource`] built from an event type and a handful of
//! field values, so the compiler, the rules loader and the output formatter can be tested
//! without a kernel, a capture file or a state engine.
//!
//! Key decision: values are given as plain Rust values or strings and converted to the
//! field's catalogue type when they are set, exactly as the state engine would produce them
//! (`fd.num` from `"3"` becomes an integer, `fd.sip` from `"10.0.0.1"` an address). A test
//! therefore exercises the same typed comparisons as production, and a value that could not
//! come from a real event (`"abc"` for `fd.num`) fails loudly at construction, not as a
//! silent non-match.
//!
//! ```
//! use peregrine_testkit::synthetic::SyntheticEvent;
//! let ev = SyntheticEvent::new("openat")
//!     .with("fd.name", "/etc/shadow")
//!     .with("fd.num", 3i64)
//!     .with("proc.aname[2]", "sshd")
//!     .with("evt.arg.flags", "O_RDONLY");
//! # let _ = ev;
//! ```

use peregrine_event::EventType;
use peregrine_filter::fields::{self, FieldError, FieldId, FieldType};
use peregrine_filter::format;
use peregrine_filter::source::{Extracted, FieldArg, FieldRequest, FieldSource, Slot};
use std::collections::HashMap;
use std::net::IpAddr;

/// A value handed to [`SyntheticEvent::with`], before conversion to the field's type.
#[derive(Clone, Debug, PartialEq)]
pub enum SynthValue {
    Str(String),
    Bytes(Vec<u8>),
    Int(i64),
    UInt(u64),
    Bool(bool),
    Double(f64),
    Ip(IpAddr),
    /// Several values, for list fields (`fd.types`) and any-ancestor fields (`proc.aname`).
    List(Vec<SynthValue>),
}

macro_rules! synth_from {
    ($($t:ty => $v:ident($conv:expr)),* $(,)?) => {
        $(impl From<$t> for SynthValue {
            fn from(x: $t) -> Self {
                SynthValue::$v($conv(x))
            }
        })*
    };
}

synth_from! {
    &str => Str(|s: &str| s.to_string()),
    String => Str(|s| s),
    &[u8] => Bytes(|b: &[u8]| b.to_vec()),
    Vec<u8> => Bytes(|b| b),
    i64 => Int(|i| i),
    i32 => Int(i64::from),
    u64 => UInt(|u| u),
    u32 => UInt(u64::from),
    u16 => UInt(u64::from),
    bool => Bool(|b| b),
    f64 => Double(|d| d),
    IpAddr => Ip(|ip| ip),
}

impl From<Vec<&str>> for SynthValue {
    fn from(v: Vec<&str>) -> Self {
        SynthValue::List(v.into_iter().map(SynthValue::from).collect())
    }
}

impl From<Vec<SynthValue>> for SynthValue {
    fn from(v: Vec<SynthValue>) -> Self {
        SynthValue::List(v)
    }
}

/// Why a synthetic event could not be built.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SynthError {
    #[error("unknown event type '{0}'")]
    UnknownEventType(String),
    #[error("malformed field reference '{0}': expected name or name[arg]")]
    Syntax(String),
    #[error(transparent)]
    Field(#[from] FieldError),
    #[error("value {value} does not fit field {field} of type {ty}")]
    BadValue {
        field: String,
        value: String,
        ty: FieldType,
    },
}

/// One stored, typed value (strings own their bytes; the [`Extracted`] arena gets a copy).
#[derive(Clone, Debug, PartialEq)]
enum Stored {
    Slot(Slot),
    Bytes(Vec<u8>),
}

/// An event made of an event type and field values; fields without a value extract nothing
/// (Falco's `<NA>` / `exists` false). A few values are derived, as the engine derives them,
/// unless set explicitly: `evt.type` from the event type; `evt.time*`, `evt.datetime*` and
/// `evt.rawtime.s/.ns` from `evt.rawtime`; `proc.aname[0]`/`[1]` (and the other ancestor
/// fields) from `proc.name`/`proc.pname`, and `proc.aname` without index from the parent
/// plus every level set.
#[derive(Clone, Debug)]
pub struct SyntheticEvent {
    ty: EventType,
    values: HashMap<FieldRequest, Vec<Stored>>,
}

impl SyntheticEvent {
    /// An event of type `evt_type` (`"openat"`, `"execve"`, `"procexit"`, …).
    ///
    /// # Panics
    /// If the name is not an event type: this is a test helper and a typo should stop the
    /// test. Use [`SyntheticEvent::try_new`] to handle the error instead.
    pub fn new(evt_type: &str) -> Self {
        match Self::try_new(evt_type) {
            Ok(e) => e,
            Err(e) => panic!("SyntheticEvent::new: {e}"),
        }
    }

    pub fn try_new(evt_type: &str) -> Result<Self, SynthError> {
        let ty = EventType::from_name(evt_type)
            .ok_or_else(|| SynthError::UnknownEventType(evt_type.to_string()))?;
        Ok(Self::of_type(ty))
    }

    pub fn of_type(ty: EventType) -> Self {
        SyntheticEvent {
            ty,
            values: HashMap::new(),
        }
    }

    /// Sets `field` (`name`, `name[arg]` or `evt.arg.NAME`) to `value`, converted to the
    /// field's type; a [`SynthValue::List`] gives the field several values.
    ///
    /// # Panics
    /// If the field is unknown or the value does not fit its type (see [`Self::try_with`]).
    pub fn with(mut self, field: &str, value: impl Into<SynthValue>) -> Self {
        if let Err(e) = self.set(field, value) {
            panic!("SyntheticEvent::with({field:?}): {e}");
        }
        self
    }

    /// Like [`Self::with`], returning the error instead of panicking.
    pub fn try_with(
        mut self,
        field: &str,
        value: impl Into<SynthValue>,
    ) -> Result<Self, SynthError> {
        self.set(field, value)?;
        Ok(self)
    }

    /// Sets a field in place (replacing earlier values of the same field and argument).
    pub fn set(&mut self, field: &str, value: impl Into<SynthValue>) -> Result<(), SynthError> {
        let (name, arg) = split_field(field)?;
        let req = fields::resolve(name, arg)?;
        let ty = fields::info(req.id).ty;
        let mut value = value.into();
        // Time-string fields given as a timestamp get their text, as the engine renders it.
        if let SynthValue::UInt(ns) = value {
            let mut text = String::new();
            if format::format_time(req.id, ns, &mut text) {
                value = SynthValue::Str(text);
            }
        }
        let mut stored = Vec::new();
        convert(field, ty, value, &mut stored)?;
        self.values.insert(req, stored);
        Ok(())
    }

    /// Removes a field's value (it then extracts nothing).
    pub fn unset(&mut self, field: &str) -> Result<(), SynthError> {
        let (name, arg) = split_field(field)?;
        let req = fields::resolve(name, arg)?;
        self.values.remove(&req);
        Ok(())
    }
}

impl FieldSource for SyntheticEvent {
    fn event_type(&self) -> EventType {
        self.ty
    }

    fn extract(&mut self, field: &FieldRequest, out: &mut Extracted) {
        if !self.push_stored(field, out) {
            self.derive(field, out);
        }
    }
}

impl SyntheticEvent {
    /// Values the engine derives from others: `evt.type` from the event type, the time
    /// fields from `evt.rawtime`.
    fn derive(&self, field: &FieldRequest, out: &mut Extracted) {
        if field.id == FieldId::EvtType {
            out.push_str(self.ty.name());
            return;
        }
        if let Some((own, parent)) = ancestor_sources(field.id) {
            self.derive_ancestor(field, own, parent, out);
            return;
        }
        let raw = FieldRequest {
            id: FieldId::EvtRawtime,
            arg: FieldArg::None,
        };
        let Some([Stored::Slot(Slot::UInt(ns))]) = self.values.get(&raw).map(Vec::as_slice) else {
            return;
        };
        let mut text = String::new();
        match field.id {
            FieldId::EvtRawtimeS => out.push(Slot::UInt(ns / 1_000_000_000)),
            FieldId::EvtRawtimeNs => out.push(Slot::UInt(ns % 1_000_000_000)),
            id if format::format_time(id, *ns, &mut text) => out.push_str(&text),
            _ => {}
        }
    }
}

/// For the ancestor fields, the field giving level 0 (the process) and level 1 (the parent).
fn ancestor_sources(id: FieldId) -> Option<(FieldId, FieldId)> {
    Some(match id {
        FieldId::ProcAname => (FieldId::ProcName, FieldId::ProcPname),
        FieldId::ProcAexe => (FieldId::ProcExe, FieldId::ProcPexe),
        FieldId::ProcAexepath => (FieldId::ProcExepath, FieldId::ProcPexepath),
        FieldId::ProcAcmdline => (FieldId::ProcCmdline, FieldId::ProcPcmdline),
        FieldId::ProcApid => (FieldId::ProcPid, FieldId::ProcPpid),
        _ => return None,
    })
}

impl SyntheticEvent {
    fn push_stored(&self, req: &FieldRequest, out: &mut Extracted) -> bool {
        let Some(vals) = self.values.get(req) else {
            return false;
        };
        for v in vals {
            match v {
                Stored::Slot(s) => out.push(*s),
                Stored::Bytes(b) => out.push_bytes(b),
            }
        }
        true
    }

    /// `proc.aname[0]` is `proc.name`, `proc.aname[1]` is `proc.pname`, and `proc.aname`
    /// (any ancestor) lists the parent and every level set explicitly, nearest first — the
    /// lineage the state engine walks.
    fn derive_ancestor(
        &self,
        field: &FieldRequest,
        own: FieldId,
        parent: FieldId,
        out: &mut Extracted,
    ) {
        let plain = |id| FieldRequest {
            id,
            arg: FieldArg::None,
        };
        match field.arg {
            FieldArg::Index(0) => {
                self.push_stored(&plain(own), out);
            }
            FieldArg::Index(1) => {
                self.push_stored(&plain(parent), out);
            }
            FieldArg::None => {
                let mut levels: Vec<i64> = self
                    .values
                    .keys()
                    .filter(|r| r.id == field.id)
                    .filter_map(|r| match r.arg {
                        FieldArg::Index(i) if i >= 1 => Some(i),
                        _ => None,
                    })
                    .collect();
                levels.sort_unstable();
                if levels.first() != Some(&1) {
                    self.push_stored(&plain(parent), out);
                }
                for i in levels {
                    self.push_stored(
                        &FieldRequest {
                            id: field.id,
                            arg: FieldArg::Index(i),
                        },
                        out,
                    );
                }
            }
            _ => {}
        }
    }
}

/// Splits `name[arg]` into its parts; a name without brackets has no argument.
pub fn split_field(text: &str) -> Result<(&str, Option<&str>), SynthError> {
    match text.find('[') {
        None => Ok((text, None)),
        Some(open) => {
            let inner = text[open + 1..]
                .strip_suffix(']')
                .filter(|a| !a.is_empty())
                .ok_or_else(|| SynthError::Syntax(text.to_string()))?;
            Ok((&text[..open], Some(inner)))
        }
    }
}

fn convert(
    field: &str,
    ty: FieldType,
    v: SynthValue,
    out: &mut Vec<Stored>,
) -> Result<(), SynthError> {
    let bad = |v: &SynthValue| SynthError::BadValue {
        field: field.to_string(),
        value: match v {
            SynthValue::Str(s) => format!("{s:?}"),
            other => format!("{other:?}"),
        },
        ty,
    };
    if let SynthValue::List(items) = v {
        for item in items {
            convert(field, ty, item, out)?;
        }
        return Ok(());
    }
    let stored = match (ty, v) {
        (FieldType::CharBuf | FieldType::ByteBuf, v) => Stored::Bytes(match v {
            SynthValue::Str(s) => s.into_bytes(),
            SynthValue::Bytes(b) => b,
            SynthValue::Int(i) => i.to_string().into_bytes(),
            SynthValue::UInt(u) => u.to_string().into_bytes(),
            SynthValue::Bool(b) => b.to_string().into_bytes(),
            SynthValue::Double(d) => d.to_string().into_bytes(),
            SynthValue::Ip(ip) => ip.to_string().into_bytes(),
            // Flattened above; an empty string keeps this arm total without a panic.
            SynthValue::List(_) => Vec::new(),
        }),
        (FieldType::Bool, v) => Stored::Slot(Slot::Bool(match &v {
            SynthValue::Bool(b) => *b,
            SynthValue::Str(s) if s == "true" => true,
            SynthValue::Str(s) if s == "false" => false,
            SynthValue::Int(i @ (0 | 1)) => *i == 1,
            SynthValue::UInt(u @ (0 | 1)) => *u == 1,
            _ => return Err(bad(&v)),
        })),
        (FieldType::Double, v) => Stored::Slot(Slot::Double(match &v {
            SynthValue::Double(d) => *d,
            SynthValue::Int(i) => *i as f64,
            SynthValue::UInt(u) => *u as f64,
            SynthValue::Str(s) => s.trim().parse().map_err(|_| bad(&v))?,
            _ => return Err(bad(&v)),
        })),
        (FieldType::IpAddr | FieldType::IpNet, v) => Stored::Slot(Slot::Ip(match &v {
            SynthValue::Ip(ip) => *ip,
            SynthValue::Str(s) => s.trim().parse().map_err(|_| bad(&v))?,
            _ => return Err(bad(&v)),
        })),
        (t, v) if t.is_signed() => {
            let i = match &v {
                SynthValue::Int(i) => Some(*i),
                SynthValue::UInt(u) => i64::try_from(*u).ok(),
                SynthValue::Str(s) => s.trim().parse().ok(),
                _ => None,
            };
            match i.filter(|i| fits(t, *i as i128)) {
                Some(i) => Stored::Slot(Slot::Int(i)),
                None => return Err(bad(&v)),
            }
        }
        (t, v) => {
            let u = match &v {
                SynthValue::UInt(u) => Some(*u),
                SynthValue::Int(i) => u64::try_from(*i).ok(),
                SynthValue::Str(s) => s.trim().parse().ok(),
                _ => None,
            };
            match u.filter(|u| fits(t, *u as i128)) {
                Some(u) => Stored::Slot(Slot::UInt(u)),
                None => return Err(bad(&v)),
            }
        }
    };
    out.push(stored);
    Ok(())
}

/// True if `v` is in the range of the integer type `t`.
fn fits(t: FieldType, v: i128) -> bool {
    let (lo, hi): (i128, i128) = match t {
        FieldType::Int16 => (i16::MIN.into(), i16::MAX.into()),
        FieldType::Int32 => (i32::MIN.into(), i32::MAX.into()),
        FieldType::Int64 => (i64::MIN.into(), i64::MAX.into()),
        FieldType::UInt16 | FieldType::Port => (0, u16::MAX.into()),
        FieldType::UInt32 => (0, u32::MAX.into()),
        _ => (0, u64::MAX.into()),
    };
    (lo..=hi).contains(&v)
}
