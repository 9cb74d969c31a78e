//! A small cache of shared strings for the values execs repeat.
//!
//! A host runs the same few binaries over and over; without this cache every exec allocated
//! its `comm`, `exe` and `exepath` afresh and every exit freed them again. With it, an exec of
//! a binary seen recently takes a reference to the same shared string.
//!
//! Key decision: direct-mapped by hash with a fixed number of slots, so a lookup is one hash
//! and one comparison, a miss simply replaces its slot, and the memory held is bounded by
//! [`SLOTS`] × [`MAX_LEN`] whatever the workload.

use std::hash::Hasher;
use std::sync::Arc;

use rustc_hash::FxHasher;

/// Number of slots (a power of two).
const SLOTS: usize = 256;
/// Longer strings are not cached (they are rarely repeated and would make the bound large).
const MAX_LEN: usize = 256;

/// See the module documentation.
#[derive(Debug)]
pub(crate) struct Interner {
    slots: Box<[Option<Arc<str>>]>,
}

impl Default for Interner {
    fn default() -> Self {
        Interner {
            slots: vec![None; SLOTS].into_boxed_slice(),
        }
    }
}

impl Interner {
    /// A shared string equal to `s`: the cached one when its slot holds `s`.
    pub(crate) fn get(&mut self, s: &str) -> Arc<str> {
        if s.len() > MAX_LEN {
            return Arc::from(s);
        }
        let mut h = FxHasher::default();
        h.write(s.as_bytes());
        let h = h.finish();
        // The high bits of an Fx hash are the best mixed.
        let i = (h >> 56) as usize % SLOTS;
        match &mut self.slots[i] {
            Some(a) if **a == *s => a.clone(),
            slot => {
                let a: Arc<str> = Arc::from(s);
                *slot = Some(a.clone());
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
        let mut dst: Arc<str> = Arc::from("sh");
        let before = dst.clone();
        i.assign(&mut dst, "sh");
        assert!(Arc::ptr_eq(&dst, &before));
        i.assign(&mut dst, "ls");
        assert_eq!(&*dst, "ls");
    }
}
