//! Old-layout conversion, as a documented layer over the raw events (falcosecurity/libs
//! `userspace/libscap/engine/savefile/converter/README.md`).
//!
//! libscap rewrites old events while reading (`engine/savefile/converter/table.cpp`): current
//! drivers emit exit events carrying every parameter, so enter events are folded into their
//! exits and old exit versions are upgraded. This reader returns events exactly as stored;
//! [`classify`] says, per `(code, nparams)`, which conversion libscap applies, and
//! [`pad_params`] performs the simplest one (appending absent parameters). Porting the merge
//! steps is left to the replay layer, which has the per-thread state they need.

use crate::table::{self, ef};
use crate::OwnedEvent;

/// What libscap's converter does with an event read from a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Conversion {
    /// Current layout, complete: passed through unchanged.
    None,
    /// A code not in the table: passed through (nothing to convert it to).
    Unknown,
    /// `EF_UNUSED` code: dropped.
    Drop,
    /// Old enter event: stored per thread so its parameters can fill the following exit of
    /// the same syscall (e.g. `close` enter's `fd`). Falco still sees the enter event itself:
    /// its legacy test `open_from_cat` counts 8 events for the 4 opens of `cat_write.scap`.
    StoreEnter,
    /// Old exit version: rewritten as code `to` with its parameters (copied from the stored
    /// enter event or defaulted).
    UpgradeExit { to: u16 },
    /// Current exit with fewer parameters than its schema: `missing` empty/default parameters
    /// appended (e.g. `open` exit with 4 params gains `dev` and `ino`).
    AppendParams { missing: usize },
}

/// The current (non-old, used) exit code with the same `evt.type` name.
pub fn current_exit(name: &str) -> Option<u16> {
    table::all()
        .iter()
        .filter(|e| {
            e.name == name && !e.is_enter() && e.flags & (ef::OLD_VERSION | ef::UNUSED) == 0
        })
        .map(|e| e.code)
        .max()
}

/// Whether libscap's converter hands this *enter* event on to its consumer (`C_ACTION_PASS`
/// or `C_ACTION_STORE_AND_PASS`, possibly after upgrading it): the enter events of `open`,
/// `creat`, `openat` (second layout), `openat2`, `execve` (every layout), `execveat` and
/// `connect`. Falco's rules see these in old captures, so a rule on `evt.type=open` without
/// `evt.dir` matches twice per `open` there (its legacy tests count on it). Every other enter
/// event is only stored to complete its exit.
pub fn enter_reaches_rules(code: u16) -> bool {
    matches!(
        code,
        2 | 22 | 58 | 306 | 326 | 330 | 12 | 154 | 172 | 214 | 230 | 282 | 288 | 292
    )
}

/// Which conversion libscap applies to an event of `code` with `nparams` parameters.
pub fn classify(code: u16, nparams: usize) -> Conversion {
    let Some(info) = table::lookup(code) else {
        return Conversion::Unknown;
    };
    if info.flags & ef::UNUSED != 0 {
        return Conversion::Drop;
    }
    let old = info.flags & ef::OLD_VERSION != 0;
    if info.is_enter() {
        return if old {
            Conversion::StoreEnter
        } else {
            Conversion::None
        };
    }
    if old {
        return match current_exit(info.name) {
            Some(to) => Conversion::UpgradeExit { to },
            None => Conversion::None,
        };
    }
    match info.params.len().checked_sub(nparams) {
        Some(missing) if missing > 0 => Conversion::AppendParams { missing },
        _ => Conversion::None,
    }
}

/// Applies [`Conversion::AppendParams`]: appends empty (absent) parameters up to the schema.
/// Returns whether the event changed.
pub fn pad_params(e: &mut OwnedEvent) -> bool {
    if let Conversion::AppendParams { missing } = classify(e.ppm_type, e.params.len()) {
        e.params.extend(std::iter::repeat_n(Vec::new(), missing));
        return true;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(code: u16, nparams: usize, expected: Conversion) {
        assert_eq!(
            classify(code, nparams),
            expected,
            "code {code} with {nparams}"
        );
    }

    #[test]
    fn conversions_follow_the_converter_rules() {
        check(3, 6, Conversion::None); // open exit, current
        check(3, 5, Conversion::AppendParams { missing: 1 }); // open exit without ino
        check(2, 3, Conversion::StoreEnter); // open enter
        check(4, 1, Conversion::StoreEnter); // close enter: fd merged into exit
        check(289, 17, Conversion::UpgradeExit { to: 293 }); // EXECVE_18_X
        check(293, 19, Conversion::AppendParams { missing: 12 });
        check(223, 20, Conversion::AppendParams { missing: 1 }); // clone_20 without pidns ts
        check(17, 0, Conversion::Drop);
        check(234, 2, Conversion::None); // procinfo
        check(452, 0, Conversion::Unknown);
    }

    #[test]
    fn passed_enter_events_are_enter_events_of_their_syscalls() {
        for code in (0..table::PPM_EVENT_MAX).filter(|c| enter_reaches_rules(*c)) {
            let info = table::lookup(code).expect("passed code is in the table");
            assert!(info.is_enter(), "{code}");
            assert!(
                matches!(
                    info.name,
                    "open" | "creat" | "openat" | "openat2" | "execve" | "execveat" | "connect"
                ),
                "{code} {}",
                info.name
            );
        }
        // The first openat layout is only stored; close never passes.
        assert!(!enter_reaches_rules(102) && !enter_reaches_rules(4));
    }

    #[test]
    fn pad_params_appends_empty_values() {
        let mut e = OwnedEvent {
            ts: 1,
            tid: 2,
            cpu: 0,
            ppm_type: 3,
            flags: 0,
            params: vec![vec![0; 8], b"/x\0".to_vec(), vec![0; 4], vec![0; 4]],
        };
        assert!(pad_params(&mut e));
        assert_eq!(e.params.len(), 6);
        assert!(e.params[4].is_empty() && e.params[5].is_empty());
        assert!(!pad_params(&mut e));
    }
}
