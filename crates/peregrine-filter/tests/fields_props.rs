//! Property tests for field references: resolving arbitrary text never panics, and whatever
//! resolves names a catalogue field whose argument kind matches its flags.

use peregrine_filter::fields::{info, resolve_text};
use peregrine_filter::FieldArg;
use proptest::prelude::*;

const FRAGMENTS: &[&str] = &[
    "proc.",
    "name",
    "aname",
    "evt.",
    "arg",
    "rawarg",
    "type.is",
    ".",
    "[",
    "]",
    "0",
    "-1",
    "2x",
    "99999999999",
    "container.",
    "mount.dest",
    "label",
    "/proc*",
    "k8s.pod.label",
    "é",
    "fd.types",
    "thread.cgroup",
    "around",
    " ",
    "",
];

fn soup() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(FRAGMENTS), 0..8).prop_map(|v| v.concat())
}

fn exercise(text: &str) {
    if let Ok(req) = resolve_text(text) {
        let f = info(req.id);
        match req.arg {
            FieldArg::None => assert!(!f.flags.arg_required, "{text}: missing required arg"),
            FieldArg::Index(_) | FieldArg::Key(_) => {
                assert!(f.flags.takes_arg(), "{text}: arg on a field without one")
            }
            // No plugin is loaded in this test: no name resolves to a plugin field.
            FieldArg::Plugin(..) => panic!("{text}: a plugin field without a plugin"),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,40}") {
        exercise(&text);
    }

    #[test]
    fn fragment_soup_never_panics(text in soup()) {
        exercise(&text);
    }
}
