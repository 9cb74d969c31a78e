//! JSON text exactly as nlohmann::json's `dump()` writes it, because that is what Falco emits
//! and what byte-comparing consumers (goldens, dedup hashes in SIEM pipelines) see.
//!
//! Differences from a generic serializer that matter: `\b` and `\f` short escapes, lower-case
//! `\u00xx` for other control characters, non-ASCII left as UTF-8, and doubles in nlohmann's
//! shortest form (`1.0`, `1e+20`, `1e-05`).

use peregrine_filter::format::OutputValue;
use std::fmt::Write;

/// Appends `s` as a JSON string literal.
pub fn write_str(s: &str, out: &mut String) {
    out.push('"');
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let esc: &str = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0..=0x1f => "",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        if esc.is_empty() {
            let _ = write!(out, "\\u{b:04x}");
        } else {
            out.push_str(esc);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// Appends a field value.
pub fn write_value(v: &OutputValue, out: &mut String) {
    match v {
        OutputValue::Null => out.push_str("null"),
        OutputValue::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        OutputValue::Int(i) => {
            let _ = write!(out, "{i}");
        }
        OutputValue::UInt(u) => {
            let _ = write!(out, "{u}");
        }
        OutputValue::Double(d) => write_double(*d, out),
        OutputValue::Str(s) => write_str(s, out),
        OutputValue::List(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(item, out);
            }
            out.push(']');
        }
    }
}

/// nlohmann's double format: shortest round-trip digits, fixed notation when the decimal
/// point falls within (-4, 15], else `d.ddde+XX`; integral values keep a `.0`.
fn write_double(d: f64, out: &mut String) {
    if !d.is_finite() {
        out.push_str("null");
        return;
    }
    if d == 0.0 {
        out.push_str(if d.is_sign_negative() { "-0.0" } else { "0.0" });
        return;
    }
    if d < 0.0 {
        out.push('-');
    }
    // `{:e}` gives Rust's shortest round-trip digits: "1.2345e3".
    let sci = format!("{:e}", d.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let k = digits.len() as i64;
    let n = exp.parse::<i64>().unwrap_or(0) + 1;
    if k <= n && n <= 15 {
        out.push_str(&digits);
        out.extend(std::iter::repeat_n('0', (n - k) as usize));
        out.push_str(".0");
    } else if 0 < n && n <= 15 {
        out.push_str(&digits[..n as usize]);
        out.push('.');
        out.push_str(&digits[n as usize..]);
    } else if -4 < n && n <= 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', (-n) as usize));
        out.push_str(&digits);
    } else {
        out.push_str(&digits[..1]);
        if k > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let e = n - 1;
        let _ = write!(out, "e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(v: OutputValue, expected: &str) {
        let mut s = String::new();
        write_value(&v, &mut s);
        assert_eq!(s, expected, "{v:?}");
    }

    #[test]
    fn values_print_like_nlohmann() {
        let cases = [
            (OutputValue::Null, "null"),
            (OutputValue::Bool(true), "true"),
            (OutputValue::Int(-5), "-5"),
            (OutputValue::UInt(u64::MAX), "18446744073709551615"),
            (OutputValue::Double(1.0), "1.0"),
            (OutputValue::Double(1.5), "1.5"),
            (OutputValue::Double(-0.25), "-0.25"),
            (OutputValue::Double(0.0001), "0.0001"),
            (OutputValue::Double(0.00001), "1e-05"),
            (OutputValue::Double(1e20), "1e+20"),
            (OutputValue::Double(123456789012345.0), "123456789012345.0"),
            (OutputValue::Double(1.25e16), "1.25e+16"),
            (OutputValue::Double(f64::NAN), "null"),
            (
                OutputValue::Str("a\"b\\c\n\t\u{8}\u{c}\u{1}é/".into()),
                r#""a\"b\\c\n\t\b\f\u0001é/""#,
            ),
            (
                OutputValue::List(vec![OutputValue::Str("ipv4".into()), OutputValue::UInt(3)]),
                r#"["ipv4",3]"#,
            ),
        ];
        for (v, e) in cases {
            check(v, e);
        }
    }
}
