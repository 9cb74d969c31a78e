//! The path the agent will take: a rule's output format rendered by `peregrine-filter` for an
//! event, wrapped in an `Alert`, printed as Falco prints it.

use peregrine_filter::format::OutputFormat;
use peregrine_filter::source::Extracted;
use peregrine_outputs::{Alert, FormatOptions, Priority};
use peregrine_testkit::synthetic::SyntheticEvent;

fn alert_for(format: &str, mut ev: SyntheticEvent) -> Alert {
    let fmt = OutputFormat::parse(format).expect("format parses");
    let mut buf = Extracted::default();
    let mut output = String::new();
    fmt.render(&mut ev, &mut buf, &mut output);
    let output_fields = fmt.values(&mut ev, &mut buf);
    Alert {
        time_ns: 1_795_899_903_000_000_042,
        rule: "Read sensitive file untrusted".into(),
        priority: Priority::Warning,
        source: "syscall".into(),
        hostname: "node-1".into(),
        tags: vec!["filesystem".into(), "T1555".into()],
        output,
        output_fields,
        extra_fields: Vec::new(),
    }
}

#[test]
fn rendered_rule_output_in_text_and_json() {
    let ev = SyntheticEvent::new("openat")
        .with("fd.name", "/etc/shadow")
        .with("proc.name", "cat")
        .with("user.uid", 0u64);
    let a = alert_for(
        "*Sensitive file opened (file=%fd.name process=%proc.name uid=%user.uid gparent=%proc.aname[2] %toupper(proc.name))",
        ev,
    );
    assert_eq!(
        FormatOptions::default().format(&a),
        "21:05:03.000000042: Warning Sensitive file opened (file=/etc/shadow process=cat uid=0 gparent=<NA> CAT)"
    );
    let json = FormatOptions {
        json_output: true,
        ..Default::default()
    };
    assert_eq!(
        json.format(&a),
        concat!(
            r#"{"hostname":"node-1","output":"21:05:03.000000042: Warning Sensitive file opened (file=/etc/shadow process=cat uid=0 gparent=<NA> CAT)","#,
            r#""output_fields":{"evt.time":1795899903000000042,"fd.name":"/etc/shadow","proc.aname[2]":null,"proc.name":"cat","toupper(proc.name)":"CAT","user.uid":0},"#,
            r#""priority":"Warning","rule":"Read sensitive file untrusted","source":"syscall","tags":["T1555","filesystem"],"#,
            r#""time":"2026-11-28T21:05:03.000000042Z"}"#
        )
    );
}
