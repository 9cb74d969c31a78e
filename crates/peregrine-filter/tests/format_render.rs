//! Output formats: parsing, rendering and output_fields values, golden cases.

use peregrine_filter::format::{OutputFormat, OutputValue};
use peregrine_filter::Extracted;
use peregrine_testkit::synthetic::SyntheticEvent;

/// A shell in a container, with the values the upstream rules print.
fn event() -> SyntheticEvent {
    SyntheticEvent::new("execve")
        .with("evt.num", 42u64)
        .with("evt.rawtime", 1_783_675_812_910_103_048u64)
        .with("evt.latency.ns", 1234u64)
        .with("evt.reltime", 5u64)
        .with("evt.arg.flags", "EXE_WRITABLE|EXE_LOWER_LAYER")
        .with("evt.is_open_read", false)
        .with("evt.buffer", &b"GET /\r\n\x00x"[..])
        .with("user.name", "root")
        .with("user.uid", 0u32)
        .with("user.loginuid", -1i64)
        .with("proc.name", "sh")
        .with("proc.exepath", "/bin/busybox")
        .with("proc.pname", "containerd-shim")
        .with("proc.cmdline", "sh -lc echo hello")
        .with("proc.tty", 34816u32)
        .with("proc.aname[2]", "containerd")
        .with("proc.env[HOME]", "/root")
        .with("proc.duration", 5u64)
        .with("fd.typechar", "f")
        .with("fd.name", "/etc/shadow")
        .with("fd.nameraw", "shadow")
        .with("fd.sip", "10.0.0.1")
        .with("fd.rip", "::1")
        .with("fd.sport", 443u16)
        .with("fd.dev", 2049i64)
        .with("fd.types", vec!["file", "ipv4"])
        .with("proc.cmdnargs", 2u64)
        .with("proc.fdusage", 0.25f64)
        .with("container.id", "412df0545944")
        .with("container.mount.dest[/proc*]", "/proc")
        .with("container.start_ts", 1_700_000_000_000_000_000u64)
        .with("proc.sid.exe", "QmFzaA==")
}

/// Renders `format` against [`event`] and compares with `expected`; also checks the
/// completeness flag.
fn check(format: &str, expected: &str, complete: bool) {
    let f = OutputFormat::parse(format).unwrap_or_else(|e| panic!("{format:?}: {e}"));
    let mut out = String::new();
    let ok = f.render(&mut event(), &mut Extracted::default(), &mut out);
    assert_eq!(out, expected, "rendering {format:?}");
    assert_eq!(ok, complete, "completeness of {format:?}");
}

fn check_err(format: &str, expected: &str) {
    match OutputFormat::parse(format) {
        Ok(f) => panic!("{format:?} parsed: {f:?}"),
        Err(e) => assert_eq!(e.to_string(), expected, "error of {format:?}"),
    }
}

#[test]
fn rendering_golden_cases() {
    let cases: &[(&str, &str, bool)] = &[
        ("plain text", "plain text", true),
        (
            "File %fd.name read by %proc.name",
            "File /etc/shadow read by sh",
            true,
        ),
        // Missing values print <NA>; without `*` the rendering is incomplete.
        (
            "pod=%k8s.pod.name ns=%k8s.ns.name",
            "pod=<NA> ns=<NA>",
            false,
        ),
        ("*pod=%k8s.pod.name", "pod=<NA>", true),
        ("*%proc.name", "sh", true),
        // A `*` that is not leading is text.
        ("a*%proc.name", "a*sh", true),
        // Arguments and dynamic suffixes.
        ("%proc.aname[2]|%proc.aname[3]", "containerd|<NA>", false),
        (
            "flags=%evt.arg.flags,",
            "flags=EXE_WRITABLE|EXE_LOWER_LAYER,",
            true,
        ),
        ("%proc.env[HOME]", "/root", true),
        ("%container.mount.dest[/proc*]", "/proc", true),
        // Longest-prefix tokens: text right after a field is literal.
        ("%proc.namexyz", "shxyz", true),
        ("%fd.nameraw %fd.name", "shadow /etc/shadow", true),
        ("(%user.name)", "(root)", true),
        ("%proc.name[1]", "sh[1]", true),
        ("%proc.name%proc.pname", "shcontainerd-shim", true),
        // Widths cut or pad, like std::string::resize.
        ("[%5evt.num]", "[42   ]", true),
        ("[%2proc.pname]", "[co]", true),
        ("[%0proc.name]", "[sh]", true),
        // Transformers.
        ("%toupper(proc.name)", "SH", true),
        ("%tolower(toupper(proc.name))", "sh", true),
        ("%basename(proc.exepath)", "busybox", true),
        ("%len(proc.cmdline)", "17", true),
        ("%b64(proc.sid.exe)", "Bash", true),
        // Per-type rendering.
        ("%proc.tty %user.uid %user.loginuid", "34816 0 -1", true),
        ("%fd.typechar", "f", true),
        ("%evt.is_open_read", "false", true),
        ("%fd.sip %fd.rip %fd.sport", "10.0.0.1 ::1 443", true),
        ("%evt.time", "09:30:12.910103048", true),
        ("%evt.time.s", "09:30:12", true),
        (
            "%evt.time.iso8601",
            "2026-07-10T09:30:12.910103048+0000",
            true,
        ),
        ("%evt.datetime", "2026-07-10 09:30:12.910103048", true),
        ("%evt.latency.ns %evt.reltime", "000001234 000000005", true),
        (
            "%evt.rawtime.s %evt.rawtime.ns",
            "1783675812 910103048",
            true,
        ),
        (
            "%container.start_ts %proc.duration",
            "1700000000000000000 5",
            true,
        ),
        ("%fd.types", "(file,ipv4)", true),
        ("%fd.dev", "801", true),
        ("%proc.fdusage", "0.2", true),
        ("%evt.buffer", "GET /...x", true),
        ("%evt.type", "execve", true),
        // %container.info is Falco's legacy shorthand.
        ("*%container.info", "<NA> (id=412df0545944)", true),
    ];
    for (format, expected, complete) in cases {
        check(format, expected, *complete);
    }
}

#[test]
fn upstream_rule_output_renders_like_falco() {
    // `Terminal shell in container` (falco_rules.yaml) and the line Falco 0.44 printed for
    // the same process (prefix "<time>: Notice " comes from Falco itself).
    let output = "A shell was spawned in a container with an attached terminal | evt_type=%evt.type user=%user.name user_uid=%user.uid user_loginuid=%user.loginuid process=%proc.name proc_exepath=%proc.exepath parent=%proc.pname command=%proc.cmdline terminal=%proc.tty exe_flags=%evt.arg.flags";
    check(
        &format!("*%evt.time.iso8601: Notice {output}"),
        "2026-07-10T09:30:12.910103048+0000: Notice A shell was spawned in a container with an attached terminal | evt_type=execve user=root user_uid=0 user_loginuid=-1 process=sh proc_exepath=/bin/busybox parent=containerd-shim command=sh -lc echo hello terminal=34816 exe_flags=EXE_WRITABLE|EXE_LOWER_LAYER",
        true,
    );
}

#[test]
fn parse_errors() {
    let cases: &[(&str, &str)] = &[
        ("", "empty formatting token"),
        (
            "An open was seen %not_a_real_field",
            "invalid formatting token not_a_real_field",
        ),
        ("x=%proc.nobody", "invalid formatting token proc.nobody"),
        (
            "%fd.dip:%fd.dport",
            "invalid formatting token fd.dip:%fd.dport",
        ),
        (
            "100%",
            "invalid formatting syntax: formatting cannot end with a %",
        ),
        (
            "%12",
            "invalid formatting syntax: formatting cannot end with a number",
        ),
        (
            "%fd.net x",
            "fd.net x is filter only and cannot be used as a display field",
        ),
        ("%evt.arg x", "filter syntax error: evt.arg"),
        ("%proc.aname[x]", "x is not a valid number"),
        (
            "%container.mount.dest",
            "filter 'container.mount.dest': container.mount.dest requires an argument but none provided",
        ),
        ("%tolower(proc.name", "missing closing transformer parenthesis: "),
        // libsinsp has no `%%` escape: the second `%` starts an invalid token.
        ("100%% sure", "invalid formatting token % sure"),
        (
            "%tolower(proc.tty)",
            "field proc.tty does not support transformer tolower",
        ),
        (
            "%toupper(proc.aname[2])",
            "field proc.aname[2] does not support transformer toupper",
        ),
    ];
    for (format, expected) in cases {
        check_err(format, expected);
    }
}

#[test]
fn fields_and_typed_values() {
    let f = OutputFormat::parse(
        "*%evt.time.iso8601 %proc.tty %user.loginuid %proc.tty %proc.aname[2] %evt.arg.flags \
         %k8s.ns.name %evt.is_open_read %tolower(proc.name) %len(proc.cmdline) %fd.types %fd.sip \
         %5proc.name %evt.latency.ns %evt.time",
    )
    .unwrap();
    assert_eq!(
        f.fields(),
        [
            "evt.time.iso8601",
            "proc.tty",
            "user.loginuid",
            "proc.aname[2]",
            "evt.arg.flags",
            "k8s.ns.name",
            "evt.is_open_read",
            "proc.name",
            "tolower(proc.name)",
            "proc.cmdline",
            "len(proc.cmdline)",
            "fd.types",
            "fd.sip",
            "evt.latency.ns",
            "evt.time",
        ]
    );
    let values = f.values(&mut event(), &mut Extracted::default());
    let mut json = String::from("{");
    for (i, (k, v)) in values.iter().enumerate() {
        if i > 0 {
            json.push(',');
        }
        peregrine_filter::format::write_json_string(k, &mut json);
        json.push(':');
        v.write_json(&mut json);
    }
    json.push('}');
    assert_eq!(
        json,
        r#"{"evt.time.iso8601":1783675812910103048,"proc.tty":34816,"user.loginuid":-1,"proc.aname[2]":"containerd","evt.arg.flags":"EXE_WRITABLE|EXE_LOWER_LAYER","k8s.ns.name":null,"evt.is_open_read":false,"proc.name":"sh","tolower(proc.name)":"sh","proc.cmdline":"sh -lc echo hello","len(proc.cmdline)":17,"fd.types":["file","ipv4"],"fd.sip":"10.0.0.1","evt.latency.ns":"000001234","evt.time":1783675812910103048}"#
    );
    assert_eq!(values[5].1, OutputValue::Null);
}

#[test]
fn huge_widths_are_clamped() {
    let f = OutputFormat::parse("%99999999999999999999999proc.name|").unwrap();
    let mut out = String::new();
    f.render(&mut event(), &mut Extracted::default(), &mut out);
    assert_eq!(out.len(), peregrine_filter::format::MAX_WIDTH + 1);
    assert!(out.starts_with("sh ") && out.ends_with(" |"));
}

#[test]
fn container_info_replacement() {
    let f = OutputFormat::parse_with_container_info(
        "*%container.info shell",
        "container=%container.id image=%container.image.repository",
    )
    .unwrap();
    assert_eq!(f.fields(), ["container.id", "container.image.repository"]);
    let mut out = String::new();
    f.render(&mut event(), &mut Extracted::default(), &mut out);
    assert_eq!(out, "container=412df0545944 image=<NA> shell");
}

#[test]
fn time_strings() {
    use peregrine_filter::fields::FieldId;
    use peregrine_filter::format::format_time;
    // Falco's legacy suite prints this event of cat_write.scap as
    // "2016-08-04T16:17:57.882054739+0000: Warning An open was seen ...".
    let ns = 1_470_327_477_882_054_739;
    let cases = [
        (
            FieldId::EvtTimeIso8601,
            "2016-08-04T16:17:57.882054739+0000",
        ),
        (FieldId::EvtTime, "16:17:57.882054739"),
        (FieldId::EvtTimeS, "16:17:57"),
        (FieldId::EvtDatetime, "2016-08-04 16:17:57.882054739"),
        (FieldId::EvtDatetimeS, "2016-08-04 16:17:57"),
    ];
    for (id, expected) in cases {
        let mut s = String::new();
        assert!(format_time(id, ns, &mut s));
        assert_eq!(s, expected, "{id:?}");
    }
    // Leap day and the epoch.
    let mut s = String::new();
    format_time(FieldId::EvtDatetimeS, 951_782_400 * 1_000_000_000, &mut s);
    assert_eq!(s, "2000-02-29 00:00:00");
    s.clear();
    format_time(FieldId::EvtTimeIso8601, 0, &mut s);
    assert_eq!(s, "1970-01-01T00:00:00.000000000+0000");
    assert!(!format_time(FieldId::ProcName, 0, &mut s));
}

#[test]
fn json_strings_are_escaped() {
    let mut s = String::new();
    OutputValue::Str("a\"b\\c\nd\u{1}".into()).write_json(&mut s);
    assert_eq!(s, r#""a\"b\\c\nd\u0001""#);
    s.clear();
    OutputValue::Double(f64::NAN).write_json(&mut s);
    assert_eq!(s, "null");
}

use peregrine_testkit::upstream::dir as upstream;

/// The `output:` values of a rules file (the three upstream files write each output on one
/// line, as a plain scalar).
fn outputs(yaml: &str) -> Vec<String> {
    yaml.lines()
        .filter_map(|l| l.trim_start().strip_prefix("output:"))
        .map(|o| o.trim().to_string())
        .collect()
}

#[test]
fn every_upstream_rule_output_parses() {
    if peregrine_testkit::upstream::require("every_upstream_rule_output_parses").is_none() {
        return;
    }
    let mut n = 0;
    for file in [
        "falco_rules.yaml",
        "falco-incubating_rules.yaml",
        "falco-sandbox_rules.yaml",
    ] {
        let yaml = std::fs::read_to_string(upstream().join("rules").join(file)).unwrap();
        for out in outputs(&yaml) {
            assert!(
                !out.is_empty() && !out.starts_with(['>', '|']),
                "{file}: {out}"
            );
            let f = OutputFormat::parse(&out).unwrap_or_else(|e| panic!("{file}: {out}: {e}"));
            assert!(!f.fields().is_empty(), "{file}: {out}");
            // Renders with every field missing, too.
            let mut text = String::new();
            f.render(
                &mut SyntheticEvent::new("open"),
                &mut Extracted::default(),
                &mut text,
            );
            assert!(text.contains("<NA>"), "{text}");
            n += 1;
        }
    }
    assert_eq!(n, 25 + 31 + 37, "one output per upstream rule");
    let bad =
        std::fs::read_to_string(upstream().join("falco-testing/rules/invalid_rule_output.yaml"))
            .unwrap();
    let errs: Vec<String> = outputs(&bad)
        .iter()
        .map(|o| {
            OutputFormat::parse(o.trim_matches('"'))
                .unwrap_err()
                .to_string()
        })
        .collect();
    assert_eq!(errs, ["invalid formatting token not_a_real_field"]);
}
