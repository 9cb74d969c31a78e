//! Event types: the values of Falco's `evt.type` field.
//!
//! Falco names syscall events after the syscall, so the universe is the x86-64 syscall table plus
//! a few events that are not syscalls (process exit, context switch, signal delivery, …). An
//! [`EventType`] is a dense index into that universe so that sets of them are small bitsets: the
//! engine indexes rules by event type with one bit test per event.

use crate::syscall_table::SYSCALLS;

/// Non-syscall events Falco's `evt.type` can take (libscap's PPME_* names).
const NON_SYSCALL_EVENTS: &[&str] = &[
    "procexit",
    "switch",
    "signaldeliver",
    "container",
    "pluginevent",
    "asyncevent",
    "page_fault",
    "cpu_hotplug",
    "drop",
    "procinfo",
    "notification",
    "infra",
    "tracer",
    "scapevent",
];

/// Highest syscall number + 1 reserved at the front of the index space.
const SYSCALL_SLOTS: usize = 512;
const TOTAL_SLOTS: usize = SYSCALL_SLOTS + 64;
const WORDS: usize = TOTAL_SLOTS / 64;

/// `NAMES[nr]` is the syscall's name, `""` where the number is unused; built at compile time so
/// that number → type and type → name are one array index on the event path.
const NAMES: [&str; SYSCALL_SLOTS] = {
    let mut names = [""; SYSCALL_SLOTS];
    let mut i = 0;
    while i < SYSCALLS.len() {
        names[SYSCALLS[i].1 as usize] = SYSCALLS[i].0;
        i += 1;
    }
    names
};

/// Every syscall in the table and every non-syscall event, as a bitset built at compile time.
const ALL: EventTypeSet = {
    let mut words = [0u64; WORDS];
    let mut i = 0;
    while i < SYSCALLS.len() {
        let n = SYSCALLS[i].1 as usize;
        words[n / 64] |= 1 << (n % 64);
        i += 1;
    }
    let mut j = 0;
    while j < NON_SYSCALL_EVENTS.len() {
        let n = SYSCALL_SLOTS + j;
        words[n / 64] |= 1 << (n % 64);
        j += 1;
    }
    EventTypeSet(words)
};

/// One value of `evt.type`: a syscall (index = syscall number) or a non-syscall event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventType(u16);

impl EventType {
    /// The event type of a syscall number, if the number is in the table.
    pub fn from_syscall_nr(nr: u32) -> Option<Self> {
        match NAMES.get(nr as usize) {
            Some(name) if !name.is_empty() => Some(EventType(nr as u16)),
            _ => None,
        }
    }

    /// The process-exit event (`procexit`), which is not a syscall.
    pub const PROCEXIT: EventType = EventType(SYSCALL_SLOTS as u16);

    /// Looks a type up by its `evt.type` name (`openat`, `execve`, `procexit`, …).
    pub fn from_name(name: &str) -> Option<Self> {
        // Rules name event types thousands of times while compiling: a map built once
        // instead of a scan of the syscall table per name.
        static BY_NAME: std::sync::OnceLock<std::collections::HashMap<&'static str, EventType>> =
            std::sync::OnceLock::new();
        let map = BY_NAME.get_or_init(|| {
            let syscalls = SYSCALLS.iter().map(|&(n, nr)| (n, EventType(nr as u16)));
            let others = (NON_SYSCALL_EVENTS.iter().enumerate())
                .map(|(i, &n)| (n, EventType((SYSCALL_SLOTS + i) as u16)));
            // A name listed twice keeps its first entry, as the scan did.
            let mut m = std::collections::HashMap::new();
            for (n, t) in syscalls.chain(others) {
                m.entry(n).or_insert(t);
            }
            m
        });
        map.get(name).copied()
    }

    /// The syscall number, for syscall events.
    pub fn syscall_nr(self) -> Option<u32> {
        ((self.0 as usize) < SYSCALL_SLOTS).then_some(self.0 as u32)
    }

    /// The `evt.type` name.
    pub fn name(self) -> &'static str {
        let i = self.0 as usize;
        if i < SYSCALL_SLOTS {
            match NAMES[i] {
                "" => "unknown",
                name => name,
            }
        } else {
            NON_SYSCALL_EVENTS
                .get(i - SYSCALL_SLOTS)
                .copied()
                .unwrap_or("unknown")
        }
    }

    /// Dense index, usable to address per-type tables.
    pub fn index(self) -> usize {
        self.0 as usize
    }

    /// Every known event type, in index order.
    pub fn all() -> impl Iterator<Item = EventType> {
        let mut syscalls: Vec<u16> = SYSCALLS.iter().map(|&(_, n)| n as u16).collect();
        syscalls.sort_unstable();
        syscalls
            .into_iter()
            .chain((0..NON_SYSCALL_EVENTS.len()).map(|i| (SYSCALL_SLOTS + i) as u16))
            .map(EventType)
    }

    /// Upper bound (exclusive) of [`EventType::index`].
    pub const MAX_INDEX: usize = TOTAL_SLOTS;
}

/// A set of event types as a fixed bitset; `ALL − {openat}` is as cheap as `{openat}`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct EventTypeSet([u64; WORDS]);

impl EventTypeSet {
    pub const fn empty() -> Self {
        EventTypeSet([0; WORDS])
    }

    /// Every known event type. A constant: rule compilation asks for it at every node.
    pub fn all() -> Self {
        ALL
    }

    pub fn insert(&mut self, t: EventType) {
        self.0[t.index() / 64] |= 1 << (t.index() % 64);
    }

    pub fn contains(&self, t: EventType) -> bool {
        self.0[t.index() / 64] & (1 << (t.index() % 64)) != 0
    }

    pub fn union(&self, other: &Self) -> Self {
        let mut out = *self;
        for (a, b) in out.0.iter_mut().zip(other.0.iter()) {
            *a |= *b;
        }
        out
    }

    pub fn intersection(&self, other: &Self) -> Self {
        let mut out = *self;
        for (a, b) in out.0.iter_mut().zip(other.0.iter()) {
            *a &= *b;
        }
        out
    }

    /// `ALL − self`, restricted to known event types.
    pub fn complement(&self) -> Self {
        let all = Self::all();
        let mut out = all;
        for (a, b) in out.0.iter_mut().zip(self.0.iter()) {
            *a &= !*b;
        }
        out
    }

    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|w| *w == 0)
    }

    pub fn len(&self) -> usize {
        self.0.iter().map(|w| w.count_ones() as usize).sum()
    }

    pub fn iter(&self) -> impl Iterator<Item = EventType> + '_ {
        (0..TOTAL_SLOTS)
            .filter(|i| self.0[i / 64] & (1 << (i % 64)) != 0)
            .map(|i| EventType(i as u16))
    }
}

impl FromIterator<EventType> for EventTypeSet {
    fn from_iter<I: IntoIterator<Item = EventType>>(iter: I) -> Self {
        let mut s = Self::empty();
        for t in iter {
            s.insert(t);
        }
        s
    }
}

impl std::fmt::Debug for EventTypeSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set()
            .entries(self.iter().map(|t| t.name()))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for t in EventType::all() {
            assert_eq!(EventType::from_name(t.name()), Some(t), "{}", t.name());
        }
        assert_eq!(
            EventType::from_name("openat").and_then(|t| t.syscall_nr()),
            Some(257)
        );
        assert_eq!(
            EventType::from_name("procexit").map(|t| t.syscall_nr()),
            Some(None)
        );
        assert_eq!(EventType::from_name("nosuchcall"), None);
    }

    #[test]
    fn set_algebra() {
        let openat = EventType::from_name("openat").unwrap();
        let close = EventType::from_name("close").unwrap();
        let s: EventTypeSet = [openat].into_iter().collect();
        let c = s.complement();
        assert!(!c.contains(openat));
        assert!(c.contains(close));
        assert_eq!(c.len() + 1, EventTypeSet::all().len());
        assert_eq!(c.union(&s), EventTypeSet::all());
        assert!(c.intersection(&s).is_empty());
    }

    #[test]
    fn the_constant_set_is_every_event_type() {
        let built: EventTypeSet = EventType::all().collect();
        assert_eq!(EventTypeSet::all(), built);
        assert_eq!(built.len(), EventType::all().count());
    }
}
