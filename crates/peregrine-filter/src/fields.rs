//! The field catalogue: every field a condition or output may name, with its type, flags and
//! description. Names resolve here once, at compile time, to a [`FieldId`]; evaluation never
//! looks a field up by name.

/// A field's value type (libsinsp's `PT_*` types as fields use them).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FieldType {
    /// A string (`PT_CHARBUF`, also `PT_FSPATH`).
    CharBuf,
    /// Raw bytes (`PT_BYTEBUF`), e.g. `evt.buffer`.
    ByteBuf,
    Bool,
    Int16,
    Int32,
    Int64,
    UInt16,
    UInt32,
    UInt64,
    Port,
    /// Nanoseconds, relative (durations).
    RelTime,
    /// Nanoseconds since the epoch.
    AbsTime,
    IpAddr,
    IpNet,
    Double,
}

impl FieldType {
    pub fn is_numeric(self) -> bool {
        matches!(
            self,
            FieldType::Int16
                | FieldType::Int32
                | FieldType::Int64
                | FieldType::UInt16
                | FieldType::UInt32
                | FieldType::UInt64
                | FieldType::Port
                | FieldType::RelTime
                | FieldType::AbsTime
                | FieldType::Double
        )
    }
}

/// libsinsp's `EPF_*` field flags that change what the compiler accepts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FieldFlags {
    /// `EPF_ARG_ALLOWED`: `field[arg]` is accepted.
    pub arg_allowed: bool,
    /// `EPF_ARG_REQUIRED`: `field[arg]` is mandatory.
    pub arg_required: bool,
    /// `EPF_ARG_INDEX`: the argument is a number.
    pub arg_index: bool,
    /// `EPF_NO_RHS`: the field may not be used on the right (`val(field)`).
    pub no_rhs: bool,
    /// `EPF_NO_TRANSFORMER`: no transformer may wrap the field.
    pub no_transformer: bool,
    /// `EPF_FILTER_ONLY`: usable in conditions, not in outputs.
    pub filter_only: bool,
    /// `EPF_DEPRECATED`: usable, with a warning.
    pub deprecated: bool,
    /// The field yields several values (a list): `in`/`intersects` compare sets.
    pub list: bool,
}

/// Identifies a field of the catalogue. The state engine matches on it to extract values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FieldId {
    EvtType,
    EvtNum,
    ProcName,
    FdName,
}

/// One catalogue entry.
#[derive(Debug)]
pub struct FieldInfo {
    pub id: FieldId,
    pub name: &'static str,
    pub ty: FieldType,
    pub flags: FieldFlags,
    pub desc: &'static str,
}

const NONE: FieldFlags = FieldFlags {
    arg_allowed: false,
    arg_required: false,
    arg_index: false,
    no_rhs: false,
    no_transformer: false,
    filter_only: false,
    deprecated: false,
    list: false,
};

/// Every field, grouped by class (`evt`, `proc`, `thread`, `user`, `group`, `fd`, `fs`,
/// `container`, `k8s`, …).
pub static FIELDS: &[FieldInfo] = &[
    FieldInfo {
        id: FieldId::EvtType,
        name: "evt.type",
        ty: FieldType::CharBuf,
        flags: NONE,
        desc: "The name of the event (e.g. 'open').",
    },
    FieldInfo {
        id: FieldId::EvtNum,
        name: "evt.num",
        ty: FieldType::UInt64,
        flags: NONE,
        desc: "Event number.",
    },
    FieldInfo {
        id: FieldId::ProcName,
        name: "proc.name",
        ty: FieldType::CharBuf,
        flags: NONE,
        desc: "Name of the executable generating the event.",
    },
    FieldInfo {
        id: FieldId::FdName,
        name: "fd.name",
        ty: FieldType::CharBuf,
        flags: NONE,
        desc: "FD full name. If the fd is a file, this field contains the full path.",
    },
];

/// Resolves a field name (without its `[arg]`). Names with a dynamic suffix such as
/// `evt.arg.flags` resolve to their base field (`evt.arg`) with the suffix as argument.
pub fn lookup(name: &str) -> Option<&'static FieldInfo> {
    FIELDS.iter().find(|f| f.name == name)
}
