//! SyntheticEvent: values are typed per the catalogue, missing fields extract nothing.

use peregrine_filter::fields::resolve;
use peregrine_filter::{Extracted, FieldSource, ValueRef};
use peregrine_testkit::synthetic::{SynthError, SyntheticEvent};
use std::net::IpAddr;

/// Extracts `field` (text as written in a rule) from `ev` and returns its values.
fn values(ev: &mut SyntheticEvent, field: &str) -> Vec<String> {
    let (name, arg) = peregrine_testkit::synthetic::split_field(field).expect("field syntax");
    let req = resolve(name, arg).expect("field resolves");
    let mut buf = Extracted::default();
    ev.extract(&req, &mut buf);
    buf.iter()
        .map(|v| match v {
            ValueRef::Bytes(b) => format!("s:{}", String::from_utf8_lossy(b)),
            ValueRef::Int(i) => format!("i:{i}"),
            ValueRef::UInt(u) => format!("u:{u}"),
            ValueRef::Bool(b) => format!("b:{b}"),
            ValueRef::Double(d) => format!("d:{d}"),
            ValueRef::Ip(ip) => format!("ip:{ip}"),
            ValueRef::Net(ip, l) => format!("net:{ip}/{l}"),
        })
        .collect()
}

fn check(ev: &mut SyntheticEvent, field: &str, expected: &[&str]) {
    assert_eq!(values(ev, field), expected, "field {field}");
}

#[test]
fn values_are_typed_per_catalogue() {
    let mut ev = SyntheticEvent::new("openat")
        .with("fd.name", "/etc/shadow")
        .with("fd.num", "3")
        .with("proc.tty", 34816u32)
        .with("user.loginuid", -1i64)
        .with("evt.is_open_read", "true")
        .with("fd.sip", "10.0.0.1")
        .with("fd.net", "::1")
        .with("fd.sport", 443u16)
        .with("proc.aname[2]", "sshd")
        .with("proc.aname", vec!["bash", "sshd", "systemd"])
        .with("evt.arg.flags", "O_RDONLY")
        .with("evt.arg[1]", "x")
        .with("container.mount.dest[/proc*]", "/proc")
        .with("container.start_ts", "1700000000000000000");
    for (field, expected) in [
        ("fd.name", vec!["s:/etc/shadow"]),
        ("fd.num", vec!["i:3"]),
        ("proc.tty", vec!["u:34816"]),
        ("user.loginuid", vec!["i:-1"]),
        ("evt.is_open_read", vec!["b:true"]),
        ("fd.sip", vec!["ip:10.0.0.1"]),
        ("fd.net", vec!["ip:::1"]),
        ("fd.sport", vec!["u:443"]),
        ("proc.aname[2]", vec!["s:sshd"]),
        ("proc.aname", vec!["s:bash", "s:sshd", "s:systemd"]),
        ("evt.arg.flags", vec!["s:O_RDONLY"]),
        ("evt.arg[1]", vec!["s:x"]),
        ("container.mount.dest[/proc*]", vec!["s:/proc"]),
        ("container.start_ts", vec!["u:1700000000000000000"]),
        // Defaults and absences.
        ("evt.type", vec!["s:openat"]),
        ("proc.name", vec![]),
        ("proc.aname[3]", vec![]),
        ("evt.arg.mode", vec![]),
        ("evt.arg[0]", vec![]),
    ] {
        check(&mut ev, field, &expected);
    }
    assert_eq!(ev.event_type().name(), "openat");
}

#[test]
fn evt_type_can_be_overridden_and_fields_unset() {
    let mut ev = SyntheticEvent::new("execve").with("evt.type", "execveat");
    check(&mut ev, "evt.type", &["s:execveat"]);
    ev.set("proc.name", "bash").unwrap();
    check(&mut ev, "proc.name", &["s:bash"]);
    ev.unset("proc.name").unwrap();
    check(&mut ev, "proc.name", &[]);
}

#[test]
fn ancestors_derive_from_process_and_parent_fields() {
    let mut ev = SyntheticEvent::new("execve")
        .with("proc.name", "sh")
        .with("proc.pname", "bash")
        .with("proc.aname[3]", "systemd")
        .with("proc.aname[2]", "sshd")
        .with("proc.ppid", 10i64);
    check(&mut ev, "proc.aname[0]", &["s:sh"]);
    check(&mut ev, "proc.aname[1]", &["s:bash"]);
    check(&mut ev, "proc.aname[2]", &["s:sshd"]);
    check(&mut ev, "proc.aname", &["s:bash", "s:sshd", "s:systemd"]);
    check(&mut ev, "proc.apid[1]", &["i:10"]);
    check(&mut ev, "proc.apid", &["i:10"]);
    check(&mut ev, "proc.aexe", &[]);
    // An explicit any-ancestor list wins over derivation.
    ev.set("proc.aname", vec!["x"]).unwrap();
    check(&mut ev, "proc.aname", &["s:x"]);
}

#[test]
fn time_fields_derive_from_rawtime() {
    let mut ev = SyntheticEvent::new("open").with("evt.rawtime", 1_470_327_477_882_054_739u64);
    check(&mut ev, "evt.time", &["s:16:17:57.882054739"]);
    check(
        &mut ev,
        "evt.time.iso8601",
        &["s:2016-08-04T16:17:57.882054739+0000"],
    );
    check(&mut ev, "evt.rawtime.s", &["u:1470327477"]);
    check(&mut ev, "evt.rawtime.ns", &["u:882054739"]);
    // A timestamp given for a time-string field is rendered like the engine would.
    let mut ev = SyntheticEvent::new("open").with("evt.datetime.s", 0u64);
    check(&mut ev, "evt.datetime.s", &["s:1970-01-01 00:00:00"]);
}

#[test]
fn bad_inputs_are_errors() {
    assert_eq!(
        SyntheticEvent::try_new("no_such_syscall").err(),
        Some(SynthError::UnknownEventType("no_such_syscall".into()))
    );
    let bad = |field: &str, value: &str| {
        SyntheticEvent::new("open")
            .try_with(field, value)
            .err()
            .map(|e| e.to_string())
    };
    assert_eq!(
        bad("fd.num", "three").as_deref(),
        Some("value \"three\" does not fit field fd.num of type INT64")
    );
    assert!(bad("proc.tty", "-1").is_some(), "negative into UINT32");
    assert!(bad("fd.sport", "70000").is_some(), "port out of range");
    assert!(bad("fd.sip", "not-an-ip").is_some());
    assert!(bad("evt.is_open_read", "yes").is_some());
    assert_eq!(
        bad("proc.nobody", "x").as_deref(),
        Some("filter_check called with nonexistent field proc.nobody")
    );
    assert!(bad("proc.aname[2", "x").is_some(), "unbalanced bracket");
    let ip: IpAddr = "127.0.0.1".parse().unwrap();
    assert!(SyntheticEvent::new("connect")
        .try_with("fd.rip", ip)
        .is_ok());
}
