//! The boundary between the filter engine and whatever supplies event data: the live state
//! engine, a capture-file replay, or synthetic events in tests all implement [`FieldSource`].

use crate::fields::FieldId;
use peregrine_event::EventType;
use std::net::IpAddr;

/// The argument of a field, parsed once at compile time: `proc.aname[2]` → `Index(2)`,
/// `container.mount.dest[/proc*]` → `Key("/proc*")`, `evt.arg.flags` → `Key("flags")`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum FieldArg {
    None,
    Index(i64),
    Key(Box<str>),
    /// A field a loaded plugin declared (id [`crate::fields::FieldId::PluginField`]): its
    /// registration number ([`crate::fields::PluginField::dyn_id`]) and its own argument.
    Plugin(u32, Box<FieldArg>),
}

/// A resolved field reference: what the compiled program asks a [`FieldSource`] for.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FieldRequest {
    pub id: FieldId,
    pub arg: FieldArg,
}

/// One extracted value. Strings live in the [`Extracted`] arena, so extraction does not
/// allocate once the buffer has warmed up.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Slot {
    Bool(bool),
    Int(i64),
    UInt(u64),
    Double(f64),
    Ip(IpAddr),
    /// A network: address and prefix length.
    Net(IpAddr, u8),
    /// Bytes `start..end` of the arena.
    Bytes(u32, u32),
}

/// A reusable buffer of extracted values; multi-valued fields push several slots and a field
/// without a value pushes none (rendered `<NA>`).
#[derive(Clone, Debug, Default)]
pub struct Extracted {
    slots: Vec<Slot>,
    arena: Vec<u8>,
}

/// A borrowed view of one value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ValueRef<'a> {
    Bool(bool),
    Int(i64),
    UInt(u64),
    Double(f64),
    Ip(IpAddr),
    Net(IpAddr, u8),
    Bytes(&'a [u8]),
}

impl Extracted {
    pub fn clear(&mut self) {
        self.slots.clear();
        self.arena.clear();
    }

    pub fn push_bytes(&mut self, b: &[u8]) {
        let start = self.arena.len() as u32;
        self.arena.extend_from_slice(b);
        self.slots.push(Slot::Bytes(start, self.arena.len() as u32));
    }

    pub fn push_str(&mut self, s: &str) {
        self.push_bytes(s.as_bytes());
    }

    pub fn push(&mut self, slot: Slot) {
        debug_assert!(!matches!(slot, Slot::Bytes(..)), "use push_bytes");
        self.slots.push(slot);
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn get(&self, i: usize) -> Option<ValueRef<'_>> {
        self.slots.get(i).map(|s| self.view(*s))
    }

    pub fn iter(&self) -> impl Iterator<Item = ValueRef<'_>> + '_ {
        self.slots.iter().map(|s| self.view(*s))
    }

    fn view(&self, s: Slot) -> ValueRef<'_> {
        match s {
            Slot::Bool(b) => ValueRef::Bool(b),
            Slot::Int(i) => ValueRef::Int(i),
            Slot::UInt(u) => ValueRef::UInt(u),
            Slot::Double(d) => ValueRef::Double(d),
            Slot::Ip(ip) => ValueRef::Ip(ip),
            Slot::Net(ip, len) => ValueRef::Net(ip, len),
            Slot::Bytes(a, b) => ValueRef::Bytes(&self.arena[a as usize..b as usize]),
        }
    }
}

/// Supplies field values for the event being evaluated.
pub trait FieldSource {
    /// The current event's type (used by the engine's per-type rule index).
    fn event_type(&self) -> EventType;

    /// Appends the values of `field` for the current event to `out` (nothing if the field has
    /// no value for this event).
    fn extract(&mut self, field: &FieldRequest, out: &mut Extracted);
}
