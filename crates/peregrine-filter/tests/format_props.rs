//! Property tests for output formats: arbitrary text and soups of format fragments never make
//! `OutputFormat::parse` panic, and whatever parses renders (with and without values) without
//! panicking, with one key per distinct field in `output_fields`.

use peregrine_filter::format::OutputFormat;
use peregrine_filter::Extracted;
use peregrine_testkit::synthetic::SyntheticEvent;
use proptest::prelude::*;

/// Fragments that steer random input into the corners of the format syntax.
const FRAGMENTS: &[&str] = &[
    "%",
    "%%",
    "*",
    " ",
    "=",
    "(",
    ")",
    "[",
    "]",
    ".",
    "0",
    "12",
    "99999999999999999999",
    "proc.name",
    "proc.aname",
    "[2]",
    "[x]",
    "evt.arg",
    ".flags",
    "evt.type.is",
    "fd.net",
    "tolower(",
    "toupper(",
    "b64(",
    "basename(",
    "len(",
    "container.mount.dest",
    "[/proc*]",
    "k8s.pod.label",
    ".app.kubernetes.io/name",
    "container.info",
    "é",
    "\u{1F600}",
    "\n",
    "evt.time",
    "fd.types",
    "proc.env",
    "nope",
];

fn soup() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(FRAGMENTS), 0..12).prop_map(|v| v.concat())
}

fn full_event() -> SyntheticEvent {
    SyntheticEvent::new("openat")
        .with("proc.name", "bash")
        .with("proc.aname[2]", "sshd")
        .with("evt.arg.flags", "O_RDONLY")
        .with("evt.rawtime", 1u64)
        .with("fd.types", vec!["file"])
        .with("container.mount.dest[/proc*]", "/proc")
        .with("proc.env", "A=b")
}

fn exercise(text: &str) {
    if let Ok(f) = OutputFormat::parse(text) {
        let mut buf = Extracted::default();
        for mut ev in [SyntheticEvent::new("open"), full_event()] {
            let mut out = String::new();
            f.render(&mut ev, &mut buf, &mut out);
            let values = f.values(&mut ev, &mut buf);
            assert_eq!(values.len(), f.fields().len());
        }
        let mut keys = f.fields();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), f.fields().len(), "duplicate output_fields keys");
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
