//! Falco's two alert line shapes: the text line and the JSON object.
//!
//! Key decision: the line is built directly into a `String` in Falco's exact byte layout
//! (nlohmann's alphabetical key order, its escaping) instead of through a generic serializer
//! whose key order or number format could drift; the golden tests pin the bytes.

use crate::alert::Alert;
use crate::json;
use peregrine_filter::escape::push_terminal_safe;
use peregrine_filter::fields::FieldId;
use peregrine_filter::format::{format_time, OutputValue};
use std::collections::BTreeMap;

/// The falco.yaml keys that shape an alert line. `Default` is Falco's default.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FormatOptions {
    pub json_output: bool,
    pub json_include_output_property: bool,
    pub json_include_tags_property: bool,
    pub json_include_message_property: bool,
    pub json_include_output_fields_property: bool,
    pub time_format_iso_8601: bool,
}

impl Default for FormatOptions {
    fn default() -> Self {
        FormatOptions {
            json_output: false,
            json_include_output_property: true,
            json_include_tags_property: true,
            json_include_message_property: false,
            json_include_output_fields_property: true,
            time_format_iso_8601: false,
        }
    }
}

/// The `source` of Falco's own notifications (`Falco internal: syscall event drop`). They
/// have no rule format behind them, so Falco lays them out differently (`handle_msg`): the
/// text line lists the fields after the message, and the JSON has no tags.
pub const INTERNAL_SOURCE: &str = "internal";

impl FormatOptions {
    /// The line every output writes for `alert` (no trailing newline).
    pub fn format(&self, alert: &Alert) -> String {
        if alert.source == INTERNAL_SOURCE {
            return self.internal_line(alert);
        }
        if self.json_output {
            self.json_line(alert)
        } else {
            self.text_line(alert)
        }
    }

    /// `HH:MM:SS.nnnnnnnnn: Priority output` (or with an ISO 8601 time): Falco's rule output
    /// behind the prefix `*%evt.time: <priority> ` / `*%evt.time.iso8601: <priority> `.
    /// Control characters in the output are escaped (`\n`, `\e`, …): the line goes to
    /// terminals, files and syslog, where a process name with a newline would otherwise forge
    /// a second alert line.
    pub fn text_line(&self, alert: &Alert) -> String {
        self.prefixed_output(alert, true)
    }

    fn prefixed_output(&self, alert: &Alert, escape: bool) -> String {
        let mut s = String::with_capacity(alert.output.len() + 48);
        format_time(self.time_field(), alert.time_ns, &mut s);
        s.push_str(": ");
        s.push_str(alert.priority.as_str());
        s.push(' ');
        if escape {
            push_terminal_safe(&alert.output, &mut s);
        } else {
            s.push_str(&alert.output);
        }
        s
    }

    /// Falco's JSON alert. Keys come in nlohmann's (alphabetical) order; `output_fields`
    /// also carries the prefix's time field as a number of nanoseconds, as in Falco.
    pub fn json_line(&self, alert: &Alert) -> String {
        let mut s = String::with_capacity(alert.output.len() * 2 + 256);
        s.push_str("{\"hostname\":");
        json::write_str(&alert.hostname, &mut s);
        if self.json_include_message_property {
            s.push_str(",\"message\":");
            json::write_str(&alert.output, &mut s);
        }
        if self.json_include_output_property {
            s.push_str(",\"output\":");
            // JSON's own string escaping already makes control characters harmless, and
            // keeps the value byte-for-byte Falco's.
            json::write_str(&self.prefixed_output(alert, false), &mut s);
        }
        if self.json_include_output_fields_property {
            s.push_str(",\"output_fields\":{");
            let time_key = if self.time_format_iso_8601 {
                "evt.time.iso8601"
            } else {
                "evt.time"
            };
            let time_value = OutputValue::UInt(alert.time_ns);
            // nlohmann objects are std::maps: sorted by key bytes, the last write wins.
            let mut fields: BTreeMap<&str, &OutputValue> = BTreeMap::new();
            fields.insert(time_key, &time_value);
            for (k, v) in alert.output_fields.iter().chain(&alert.extra_fields) {
                fields.insert(k, v);
            }
            write_object_body(fields, &mut s);
            s.push('}');
        }
        s.push_str(",\"priority\":");
        json::write_str(alert.priority.as_str(), &mut s);
        s.push_str(",\"rule\":");
        json::write_str(&alert.rule, &mut s);
        s.push_str(",\"source\":");
        json::write_str(&alert.source, &mut s);
        if self.json_include_tags_property {
            let mut tags: Vec<&str> = alert.tags.iter().map(String::as_str).collect();
            tags.sort_unstable();
            tags.dedup();
            s.push_str(",\"tags\":[");
            for (i, t) in tags.iter().enumerate() {
                if i > 0 {
                    s.push(',');
                }
                json::write_str(t, &mut s);
            }
            s.push(']');
        }
        s.push_str(",\"time\":\"");
        iso_time(alert.time_ns, &mut s);
        s.push_str("\"}");
        s
    }

    /// An internal notification. Text: `HH:MM:SS.nnnnnnnnn: Priority message (k="v" …)`,
    /// always with the plain time (Falco ignores `time_format_iso_8601` here). JSON: the
    /// message alone as `output`, every field, no tags; the `json_include_*` switches do not
    /// apply. Fields print in key order with the last value of a key winning, as from
    /// Falco's `nlohmann::json` object.
    fn internal_line(&self, alert: &Alert) -> String {
        let fields: BTreeMap<&str, &OutputValue> = alert
            .output_fields
            .iter()
            .chain(&alert.extra_fields)
            .map(|(k, v)| (k.as_str(), v))
            .collect();
        let mut s = String::with_capacity(alert.output.len() + 64 * fields.len() + 96);
        if !self.json_output {
            format_time(FieldId::EvtTime, alert.time_ns, &mut s);
            s.push_str(": ");
            s.push_str(alert.priority.as_str());
            s.push(' ');
            s.push_str(&alert.output);
            s.push_str(" (");
            for (i, (k, v)) in fields.into_iter().enumerate() {
                if i > 0 {
                    s.push(' ');
                }
                s.push_str(k);
                s.push('=');
                json::write_value(v, &mut s);
            }
            s.push(')');
            return s;
        }
        s.push_str("{\"hostname\":");
        json::write_str(&alert.hostname, &mut s);
        s.push_str(",\"output\":");
        json::write_str(&alert.output, &mut s);
        s.push_str(",\"output_fields\":{");
        write_object_body(fields, &mut s);
        s.push_str("},\"priority\":");
        json::write_str(alert.priority.as_str(), &mut s);
        s.push_str(",\"rule\":");
        json::write_str(&alert.rule, &mut s);
        s.push_str(",\"source\":");
        json::write_str(&alert.source, &mut s);
        s.push_str(",\"time\":\"");
        iso_time(alert.time_ns, &mut s);
        s.push_str("\"}");
        s
    }

    fn time_field(&self) -> FieldId {
        if self.time_format_iso_8601 {
            FieldId::EvtTimeIso8601
        } else {
            FieldId::EvtTime
        }
    }
}

/// The members of a JSON object (without braces), in the map's (key) order.
fn write_object_body(fields: BTreeMap<&str, &OutputValue>, s: &mut String) {
    for (i, (k, v)) in fields.into_iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        json::write_str(k, s);
        s.push(':');
        json::write_value(v, s);
    }
}

/// `2026-11-28T21:05:03.123456789Z`, the JSON `time` (Falco: `%FT%T` + `.%09luZ`).
pub fn iso_time(ns: u64, out: &mut String) {
    let mut t = String::with_capacity(40);
    format_time(FieldId::EvtDatetime, ns, &mut t);
    // evt.datetime is "YYYY-MM-DD HH:MM:SS.nnnnnnnnn".
    out.push_str(&t.replacen(' ', "T", 1));
    out.push('Z');
}

#[cfg(test)]
mod tests {
    use super::*;
    use peregrine_filter::priority::Priority;

    /// 2026-11-28T21:05:03.123456789Z
    const T: u64 = 1_795_899_903_123_456_789;

    fn alert() -> Alert {
        Alert {
            time_ns: T,
            rule: "Read sensitive file untrusted".into(),
            priority: Priority::Warning,
            source: "syscall".into(),
            hostname: "node-1".into(),
            tags: vec![
                "host".into(),
                "T1555".into(),
                "container".into(),
                "host".into(),
            ],
            output: "Sensitive file opened (file=/etc/shadow cmd=\"cat\" uid=0)".into(),
            output_fields: vec![
                (
                    "proc.cmdline".into(),
                    OutputValue::Str("cat /etc/shadow".into()),
                ),
                ("fd.name".into(), OutputValue::Str("/etc/shadow".into())),
                ("user.uid".into(), OutputValue::UInt(0)),
                ("proc.aname[2]".into(), OutputValue::Null),
            ],
            extra_fields: Vec::new(),
        }
    }

    fn check(opts: FormatOptions, alert: &Alert, expected: &str) {
        assert_eq!(opts.format(alert), expected);
    }

    #[test]
    fn hostile_names_cannot_forge_text_lines() {
        let mut a = alert();
        a.output = "Shell (cmd=x\n13:00:00.000000000: Critical FAKE ALERT\u{1b}[2J\r\u{7})".into();
        let text = FormatOptions::default().format(&a);
        assert_eq!(
            text,
            "21:05:03.123456789: Warning Shell (cmd=x\\n13:00:00.000000000: Critical FAKE ALERT\\e[2J\\r\\x07)"
        );
        assert!(!text.contains(|c: char| c.is_control()));
        // JSON keeps the value, escaped by JSON's own rules, as Falco writes it.
        let json = FormatOptions {
            json_output: true,
            ..Default::default()
        }
        .format(&a);
        assert!(
            json.contains("x\\n13:00:00.000000000: Critical FAKE ALERT\\u001b[2J\\r\\u0007)"),
            "{json}"
        );
        assert!(!json.contains(|c: char| c.is_control()));
    }

    #[test]
    fn text_lines() {
        let a = alert();
        check(
            FormatOptions::default(),
            &a,
            "21:05:03.123456789: Warning Sensitive file opened (file=/etc/shadow cmd=\"cat\" uid=0)",
        );
        check(
            FormatOptions {
                time_format_iso_8601: true,
                ..Default::default()
            },
            &a,
            "2026-11-28T21:05:03.123456789+0000: Warning Sensitive file opened (file=/etc/shadow cmd=\"cat\" uid=0)",
        );
        let mut info = a.clone();
        info.priority = Priority::Informational;
        info.output = "x".into();
        check(
            FormatOptions::default(),
            &info,
            "21:05:03.123456789: Informational x",
        );
    }

    #[test]
    fn json_default_shape() {
        check(
            FormatOptions {
                json_output: true,
                ..Default::default()
            },
            &alert(),
            concat!(
                r#"{"hostname":"node-1","#,
                r#""output":"21:05:03.123456789: Warning Sensitive file opened (file=/etc/shadow cmd=\"cat\" uid=0)","#,
                r#""output_fields":{"evt.time":1795899903123456789,"fd.name":"/etc/shadow","proc.aname[2]":null,"proc.cmdline":"cat /etc/shadow","user.uid":0},"#,
                r#""priority":"Warning","rule":"Read sensitive file untrusted","source":"syscall","#,
                r#""tags":["T1555","container","host"],"time":"2026-11-28T21:05:03.123456789Z"}"#
            ),
        );
    }

    #[test]
    fn json_property_switches() {
        let mut a = alert();
        a.tags.clear();
        a.output_fields.truncate(1);
        a.extra_fields = vec![
            ("proc.cmdline".into(), OutputValue::Str("overridden".into())),
            ("env".into(), OutputValue::Str("prod".into())),
        ];
        let json = FormatOptions {
            json_output: true,
            ..Default::default()
        };
        let cases = [
            (
                FormatOptions {
                    json_include_message_property: true,
                    json_include_output_property: false,
                    time_format_iso_8601: true,
                    ..json.clone()
                },
                concat!(
                    r#"{"hostname":"node-1","message":"Sensitive file opened (file=/etc/shadow cmd=\"cat\" uid=0)","#,
                    r#""output_fields":{"env":"prod","evt.time.iso8601":1795899903123456789,"proc.cmdline":"overridden"},"#,
                    r#""priority":"Warning","rule":"Read sensitive file untrusted","source":"syscall","tags":[],"#,
                    r#""time":"2026-11-28T21:05:03.123456789Z"}"#
                ),
            ),
            (
                FormatOptions {
                    json_include_output_property: false,
                    json_include_output_fields_property: false,
                    json_include_tags_property: false,
                    ..json.clone()
                },
                concat!(
                    r#"{"hostname":"node-1","priority":"Warning","rule":"Read sensitive file untrusted","#,
                    r#""source":"syscall","time":"2026-11-28T21:05:03.123456789Z"}"#
                ),
            ),
        ];
        for (opts, expected) in cases {
            check(opts, &a, expected);
        }
    }

    #[test]
    fn json_lines_parse_as_json() {
        let line = FormatOptions {
            json_output: true,
            json_include_message_property: true,
            ..Default::default()
        }
        .format(&alert());
        let v: serde_json::Value = serde_json::from_str(&line).expect("valid JSON");
        assert_eq!(v["output_fields"]["user.uid"], 0);
        assert_eq!(v["message"], alert().output);
    }

    /// Falco's internal notifications: fields after the message in text, no tags in JSON,
    /// fields sorted with static fields merged in; the `json_include_*` switches and the ISO
    /// time format do not apply.
    #[test]
    fn internal_notifications() {
        let mut a = Alert::new(
            T,
            "Falco internal: syscall event drop",
            Priority::Debug,
            "m.",
        );
        a.source = INTERNAL_SOURCE.into();
        a.hostname = "node-1".into();
        a.output_fields = vec![
            ("n_evts".into(), OutputValue::Str("10".into())),
            ("ebpf_enabled".into(), OutputValue::Str("1".into())),
        ];
        a.extra_fields = vec![("env".into(), OutputValue::Str("prod".into()))];
        let text = r#"21:05:03.123456789: Debug m. (ebpf_enabled="1" env="prod" n_evts="10")"#;
        let json = concat!(
            r#"{"hostname":"node-1","output":"m.","#,
            r#""output_fields":{"ebpf_enabled":"1","env":"prod","n_evts":"10"},"#,
            r#""priority":"Debug","rule":"Falco internal: syscall event drop","#,
            r#""source":"internal","time":"2026-11-28T21:05:03.123456789Z"}"#
        );
        let iso = FormatOptions {
            time_format_iso_8601: true,
            ..Default::default()
        };
        check(FormatOptions::default(), &a, text);
        check(iso.clone(), &a, text);
        let bare_json = FormatOptions {
            json_output: true,
            json_include_output_property: false,
            json_include_tags_property: false,
            json_include_output_fields_property: false,
            ..iso
        };
        check(bare_json, &a, json);
    }

    #[test]
    fn iso_times_keep_leading_zeros() {
        let mut s = String::new();
        iso_time(5, &mut s);
        assert_eq!(s, "1970-01-01T00:00:00.000000005Z");
    }
}
