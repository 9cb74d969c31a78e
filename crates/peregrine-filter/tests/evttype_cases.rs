//! Event-type inference cases from libsinsp's `filter_ppm_codes` tests (falcosecurity/libs
//! `userspace/libsinsp/test/filter_ppm_codes.ut.cpp`).

use peregrine_event::{EventType, EventTypeSet};
use peregrine_filter::evttype::event_types;
use peregrine_filter::parser::parse;

enum Want {
    Only(&'static [&'static str]),
    AllBut(&'static [&'static str]),
    All,
    Empty,
    Throws,
}
use Want::*;

fn set(names: &[&str]) -> EventTypeSet {
    names
        .iter()
        .map(|n| EventType::from_name(n).unwrap_or_else(|| panic!("unknown type {n}")))
        .collect()
}

fn infer(text: &str) -> Result<EventTypeSet, String> {
    let ast = parse(text).map_err(|e| format!("parse: {}", e.message))?;
    event_types(&ast).map_err(|e| e.message)
}

fn check(text: &str, want: &Want) {
    let got = infer(text);
    let expected = match want {
        Only(n) => set(n),
        AllBut(n) => set(n).complement(),
        All => EventTypeSet::all(),
        Empty => EventTypeSet::empty(),
        Throws => {
            assert!(got.is_err(), "{text:?} should throw, got {got:?}");
            return;
        }
    };
    assert_eq!(got, Ok(expected), "{text:?}");
}

const CASES: &[(&str, Want)] = &[
    ("evt.type=openat", Only(&["openat"])),
    ("evt.type = openat", Only(&["openat"])),
    ("not evt.type != openat", Only(&["openat"])),
    ("not not evt.type = openat", Only(&["openat"])),
    ("not not not not evt.type = openat", Only(&["openat"])),
    ("evt.type in (openat)", Only(&["openat"])),
    ("not (not evt.type=openat)", Only(&["openat"])),
    ("evt.type=openat and proc.name=nginx", Only(&["openat"])),
    ("evt.type=openat and not proc.name=nginx", Only(&["openat"])),
    ("evt.type=openat and (proc.name=nginx)", Only(&["openat"])),
    (
        "evt.type=openat and not (evt.type=close and proc.name=nginx)",
        Only(&["openat"]),
    ),
    ("evt.type!=openat", AllBut(&["openat"])),
    ("not not not evt.type = openat", AllBut(&["openat"])),
    ("not evt.type=openat", AllBut(&["openat"])),
    ("evt.type=close or evt.type!=openat", AllBut(&["openat"])),
    ("evt.type in (openat, close)", Only(&["openat", "close"])),
    (
        "evt.type=openat or evt.type=close",
        Only(&["openat", "close"]),
    ),
    (
        "evt.type=openat or (evt.type=close and proc.name=nginx)",
        Only(&["openat", "close"]),
    ),
    (
        "evt.type=close or (evt.type=openat and proc.name=nginx)",
        Only(&["openat", "close"]),
    ),
    (
        "not evt.type in (openat, close)",
        AllBut(&["openat", "close"]),
    ),
    (
        "not not not evt.type in (openat, close)",
        AllBut(&["openat", "close"]),
    ),
    (
        "evt.type!=openat and evt.type!=close",
        AllBut(&["openat", "close"]),
    ),
    ("evt.type!=openat or evt.type!=close", All),
    ("proc.name=nginx", All),
    ("evt.type=openat or proc.name=nginx", All),
    ("evt.type=openat or (proc.name=nginx)", All),
    ("(evt.type=openat) or proc.name=nginx", All),
    (
        "evt.type=close or not (evt.type=openat and proc.name=nginx)",
        All,
    ),
    (
        "evt.type=openat or not (evt.type=close and proc.name=nginx)",
        All,
    ),
    ("evt.type=close and evt.type=openat", Empty),
    (
        "evt.type=openat and (evt.type=close and proc.name=nginx)",
        Empty,
    ),
    ("evt.type=openat and (evt.type=close)", Empty),
    ("(evt.type=mmap and not evt.type=mmap)", Empty),
    ("evt.num=0", Empty),
    ("evt.num == 0", Empty),
    ("evt.num<1", Empty),
    ("evt.num<0", Empty),
    ("evt.num<=0", Empty),
    ("evt.num in (0)", Empty),
    ("evt.num in (0, 0)", Empty),
    ("evt.num in ()", Empty),
    ("evt.num!=0", All),
    ("evt.num>0", All),
    ("evt.num>=0", All),
    ("evt.num>=1", All),
    ("evt.num=1", All),
    ("evt.num=42", All),
    ("evt.num<100", All),
    ("evt.num<=1", All),
    ("evt.num>5", All),
    ("evt.num>=2", All),
    ("evt.num in (1, 2, 3)", All),
    ("not evt.num=1", All),
    ("not evt.num in (1, 2)", All),
    ("evt.num=-1", All),
    ("evt.num=-100", All),
    ("evt.num<-5", All),
    ("evt.num<=-5", All),
    ("evt.num!=-1", All),
    ("evt.num>-5", All),
    ("evt.num=0x0", All),
    ("evt.num=1.5", All),
    ("evt.num in (0, -1, -2)", All),
    ("b64(evt.num)=0", All),
    ("not evt.num=0", All),
    ("not evt.num<1", All),
    ("not evt.num<=0", All),
    ("not evt.num in (0)", All),
    ("not evt.num!=0", Empty),
    ("not evt.num>0", Empty),
    ("not evt.num>=1", Empty),
    ("not not evt.num=0", Empty),
    ("not not evt.num!=0", All),
    ("evt.type=openat and evt.num=0", Empty),
    ("evt.num=0 and evt.type=openat", Empty),
    ("evt.type=openat and evt.num<=0", Empty),
    ("evt.type=openat and (evt.num=0)", Empty),
    ("evt.type=openat or evt.num=0", Only(&["openat"])),
    ("evt.num=0 or evt.type=openat", Only(&["openat"])),
    ("evt.type=openat and evt.num!=0", Only(&["openat"])),
    ("evt.type=openat or evt.num!=0", All),
    ("not (evt.type=openat and evt.num=0)", All),
    ("not (evt.type=openat or evt.num=0)", AllBut(&["openat"])),
    ("evt.type=openat and not (evt.num=0)", Only(&["openat"])),
    ("evt.type=openat or not (evt.num=0)", All),
    ("evt.type=openat and evt.num=1", Only(&["openat"])),
    ("evt.type=openat and not evt.num=1", Only(&["openat"])),
    // Transformers.
    ("b64(proc.name) = cat", All),
    ("proc.name = b64(fd.name)", All),
    ("b64(evt.type) = close", Throws),
    ("b64(evt.type) != close", Throws),
    ("not b64(evt.type) = close", Throws),
    ("evt.type = b64(proc.name)", Throws),
    ("evt.type != b64(proc.name)", Throws),
    ("not evt.type = b64(proc.name)", Throws),
    ("evt.type = val(proc.name)", Throws),
    ("evt.type != val(proc.name)", Throws),
    ("not evt.type = val(proc.name)", Throws),
    // Properties.
    ("evt.type in ()", Empty),
    ("evt.type exists", All),
    ("not evt.type exists", Empty),
    ("not proc.name=cat", All),
];

#[test]
fn inference_cases() {
    for (text, want) in CASES {
        check(text, want);
    }
    assert!(CASES.len() >= 100);
}

/// The equivalences `ASSERT_FILTER_EQ` checks.
#[test]
fn inference_equivalences() {
    let pairs: &[(&str, &str)] = &[
        ("not evt.type=mmap", "evt.type!=mmap"),
        (
            "evt.type in (connect, execve, accept, mmap, container) and not (proc.name=cat and evt.type=mmap)",
            "evt.type in (accept, connect, container, execve, mmap)",
        ),
        (
            "not (evt.type=open or evt.type=close)",
            "not evt.type=open and not evt.type=close",
        ),
        (
            "not (evt.type=open and proc.name=cat)",
            "not evt.type=open or not proc.name=cat",
        ),
        ("evt.type=open or evt.type=close", "evt.type=close or evt.type=open"),
        ("evt.type=open and evt.type=open", "evt.type=open"),
        ("evt.type exists", "proc.name=cat"),
    ];
    for (a, b) in pairs {
        assert_eq!(infer(a), infer(b), "{a:?} ≡ {b:?}");
        assert!(infer(a).is_ok(), "{a:?}");
    }
}
