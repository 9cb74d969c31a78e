//! A small cache of shared strings and lists for the values execs and opens repeat.
//!
//! A host runs the same few binaries over and over, usually with the environment of the same
//! shell, and its programs open the same files (libraries, configuration); without this cache
//! every exec allocated its `comm`, `exe`, `exepath`, arguments and environment afresh (one
//! allocation per item), every open its fd name, and every exit and close freed them again.
//! With it, a value seen recently is a reference to the same shared copy.
//!
//! Key decision: direct-mapped by hash with a fixed number of slots, so a lookup is one hash
//! and one comparison, a miss simply replaces its slot, and the memory held is bounded
//! whatever the workload: [`SLOTS`] strings of at most [`MAX_LEN`] bytes and [`LIST_SLOTS`]
//! lists of at most [`MAX_LIST_ITEMS`] items and [`MAX_LIST_LEN`] bytes, about 1.2 MB.

use std::hash::Hasher;
use std::sync::Arc;

use rustc_hash::FxHasher;

use crate::procfs::nul_items;

/// Number of string slots (exec names and paths, fd names).
const SLOTS: usize = 1024;
/// Longer strings are not cached (they are rarely repeated and would make the bound large).
const MAX_LEN: usize = 256;
/// Number of list slots.
const LIST_SLOTS: usize = 64;
/// Longer lists (as raw bytes), or lists of more items, are not cached.
const MAX_LIST_LEN: usize = 8192;
const MAX_LIST_ITEMS: usize = 128;

/// See the module documentation.
#[derive(Debug)]
pub(crate) struct Interner {
    slots: Box<[Option<Arc<str>>]>,
    lists: Box<[Option<Arc<[String]>>]>,
}

impl Default for Interner {
    fn default() -> Self {
        Interner {
            slots: vec![None; SLOTS].into_boxed_slice(),
            lists: vec![None; LIST_SLOTS].into_boxed_slice(),
        }
    }
}

/// A slot index for `b` among `n` (the high bits of an Fx hash are the best mixed).
fn slot_of(b: &[u8], n: usize) -> usize {
    let mut h = FxHasher::default();
    h.write(b);
    (h.finish() >> 48) as usize % n
}

/// The list of `items`, allocated once at its exact size.
fn build<'a>(items: impl Iterator<Item = &'a [u8]> + Clone) -> Arc<[String]> {
    let n = items.clone().count();
    let mut items = items;
    // A counted range is an exact-size source: the shared list is allocated once, in place.
    (0..n)
        .map(|_| String::from_utf8_lossy(items.next().unwrap_or_default()).into_owned())
        .collect()
}

impl Interner {
    /// A shared string equal to `s`: the cached one when its slot holds `s`.
    pub(crate) fn get(&mut self, s: &str) -> Arc<str> {
        if s.len() > MAX_LEN {
            return Arc::from(s);
        }
        match &mut self.slots[slot_of(s.as_bytes(), SLOTS)] {
            Some(a) if **a == *s => a.clone(),
            slot => {
                let a: Arc<str> = Arc::from(s);
                *slot = Some(a.clone());
                a
            }
        }
    }

    /// The items of the NUL-separated list `raw` that fit in `budget` bytes (as
    /// [`crate::procfs::split_nul`] keeps them), shared with the cached copy when its slot
    /// holds the same items.
    pub(crate) fn list(&mut self, raw: &[u8], budget: usize) -> Arc<[String]> {
        let items = nul_items(raw, budget);
        if raw.len() > MAX_LIST_LEN {
            return build(items);
        }
        match &mut self.lists[slot_of(raw, LIST_SLOTS)] {
            Some(a) if a.iter().map(|s| s.as_bytes()).eq(items.clone()) => a.clone(),
            slot => {
                let a = build(items);
                if a.len() <= MAX_LIST_ITEMS {
                    *slot = Some(a.clone());
                }
                a
            }
        }
    }

    /// Stores `new` in `dst` unless it already holds that text (keeping the shared copy).
    pub(crate) fn assign(&mut self, dst: &mut Arc<str>, new: &str) {
        if **dst != *new {
            *dst = self.get(new);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_repeated_strings_and_keeps_values() {
        let mut i = Interner::default();
        let a = i.get("/usr/bin/ls");
        let b = i.get("/usr/bin/ls");
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(&*a, "/usr/bin/ls");
        // Many distinct strings: every value still reads back right, collisions only evict.
        let all: Vec<Arc<str>> = (0..2 * SLOTS)
            .map(|n| i.get(&format!("/bin/p{n}")))
            .collect();
        for (n, s) in all.iter().enumerate() {
            assert_eq!(**s, *format!("/bin/p{n}"));
        }
        let long = "x".repeat(MAX_LEN + 1);
        assert_eq!(*i.get(&long), *long);
        let split = |b: &[u8], budget| crate::procfs::split_nul(b, budget);
        for (raw, budget) in [
            (&b"-l\0/tmp\0"[..], 100),
            (b"-l\0/tmp", 100),
            (b"-l\0/tmp\0", 3),
            (b"", 100),
            (b"\0", 100),
            (b"a\0\0b\0", 100),
            (b"\xff\0x", 100),
        ] {
            let first = i.list(raw, budget);
            assert_eq!(*first, *split(raw, budget), "{raw:?}");
            let again = i.list(raw, budget);
            assert_eq!(*again, *first, "{raw:?}");
        }
        let a = i.list(b"-l\0/tmp\0", 100);
        assert!(Arc::ptr_eq(&a, &i.list(b"-l\0/tmp\0", 100)));
        // The same bytes under a smaller budget are a different list.
        assert_eq!(*i.list(b"-l\0/tmp\0", 3), ["-l".to_string()]);
        let big = vec![b'x'; MAX_LIST_LEN + 1];
        assert_eq!(i.list(&big, usize::MAX).len(), 1);
        let many = b"a\0".repeat(MAX_LIST_ITEMS + 1);
        let first = i.list(&many, usize::MAX);
        assert_eq!(first.len(), MAX_LIST_ITEMS + 1);
        assert!(!Arc::ptr_eq(&first, &i.list(&many, usize::MAX)));
        let mut dst: Arc<str> = Arc::from("sh");
        let before = dst.clone();
        i.assign(&mut dst, "sh");
        assert!(Arc::ptr_eq(&dst, &before));
        i.assign(&mut dst, "ls");
        assert_eq!(&*dst, "ls");
    }
}
