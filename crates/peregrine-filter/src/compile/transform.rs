//! Field transformers at run time: `tolower`, `toupper`, `b64`, `basename`, `len`, `join`,
//! `concat`, `getopt`.
//!
//! Transformed values are appended to the same [`Extracted`] arena as the raw values, and the
//! bytes being built live in one scratch vector used as a stack (each transformer works above
//! the length it found and truncates back), so nested transformers need no allocation.

use super::eval::{operand, Scratch};
use super::Operand;
use crate::source::{Extracted, FieldSource, Slot, ValueRef};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unary {
    ToLower,
    ToUpper,
    /// Base64 decoding; a value that does not decode is dropped.
    B64,
    Basename,
    /// Length of each string value.
    Len,
    /// Number of values of a list field.
    Count,
}

#[derive(Debug)]
pub(crate) enum Part {
    Lit(Box<[u8]>),
    Op(Operand),
}

#[derive(Debug)]
pub(crate) enum Xform {
    Unary(Unary, Operand),
    Join {
        sep: Box<[u8]>,
        parts: Vec<Part>,
    },
    Concat(Vec<Part>),
    Getopt {
        inner: Operand,
        opts: Box<[u8]>,
        key: u8,
    },
}

/// Appends the transformed values; returns their slot range.
pub(crate) fn apply(x: &Xform, src: &mut dyn FieldSource, s: &mut Scratch) -> (usize, usize) {
    match x {
        Xform::Unary(kind, inner) => {
            let (a, b) = operand(inner, src, s);
            let start = s.vals.len();
            if *kind == Unary::Count {
                s.vals.push(Slot::UInt((b - a) as u64));
                return (start, s.vals.len());
            }
            let base = s.tmp.len();
            for i in a..b {
                let Some(ValueRef::Bytes(v)) = s.vals.get(i) else {
                    continue;
                };
                if *kind == Unary::Len {
                    let n = v.len() as u64;
                    s.vals.push(Slot::UInt(n));
                    continue;
                }
                let ok = unary_bytes(*kind, v, &mut s.tmp);
                if ok {
                    push_tail(&mut s.vals, &s.tmp, base);
                }
                s.tmp.truncate(base);
            }
            (start, s.vals.len())
        }
        Xform::Concat(parts) => {
            let base = s.tmp.len();
            let mut complete = true;
            for p in parts {
                match p {
                    Part::Lit(l) => s.tmp.extend_from_slice(l),
                    Part::Op(o) => {
                        let (a, b) = operand(o, src, s);
                        match (a < b).then(|| s.vals.get(a)).flatten() {
                            Some(ValueRef::Bytes(v)) => s.tmp.extend_from_slice(v),
                            _ => complete = false,
                        }
                    }
                }
            }
            let start = s.vals.len();
            if complete {
                push_tail(&mut s.vals, &s.tmp, base);
            }
            s.tmp.truncate(base);
            (start, s.vals.len())
        }
        Xform::Join { sep, parts } => {
            let base = s.tmp.len();
            let mut first = true;
            for p in parts {
                match p {
                    Part::Lit(l) => {
                        if !first {
                            s.tmp.extend_from_slice(sep);
                        }
                        first = false;
                        s.tmp.extend_from_slice(l);
                    }
                    Part::Op(o) => {
                        let (a, b) = operand(o, src, s);
                        for i in a..b {
                            if let Some(ValueRef::Bytes(v)) = s.vals.get(i) {
                                if !first {
                                    s.tmp.extend_from_slice(sep);
                                }
                                first = false;
                                s.tmp.extend_from_slice(v);
                            }
                        }
                    }
                }
            }
            let start = s.vals.len();
            push_tail(&mut s.vals, &s.tmp, base);
            s.tmp.truncate(base);
            (start, s.vals.len())
        }
        Xform::Getopt { inner, opts, key } => {
            let (a, b) = operand(inner, src, s);
            let start = s.vals.len();
            let base = s.tmp.len();
            for i in a..b {
                if let Some(ValueRef::Bytes(v)) = s.vals.get(i) {
                    if getopt(v, opts, *key, &mut s.tmp) {
                        push_tail(&mut s.vals, &s.tmp, base);
                    }
                    s.tmp.truncate(base);
                }
            }
            (start, s.vals.len())
        }
    }
}

fn push_tail(vals: &mut Extracted, tmp: &[u8], base: usize) {
    vals.push_bytes(&tmp[base..]);
}

/// Writes the transform of `v` at the end of `out`; false if the value has no transform.
fn unary_bytes(kind: Unary, v: &[u8], out: &mut Vec<u8>) -> bool {
    match kind {
        Unary::ToLower => out.extend(v.iter().map(u8::to_ascii_lowercase)),
        Unary::ToUpper => out.extend(v.iter().map(u8::to_ascii_uppercase)),
        Unary::Basename => {
            let name = match memchr::memrchr(b'/', v) {
                Some(i) => &v[i + 1..],
                None => v,
            };
            out.extend_from_slice(name);
        }
        Unary::B64 => return b64_decode(v, out),
        Unary::Len | Unary::Count => return false,
    }
    true
}

fn b64_value(c: u8) -> Option<u32> {
    Some(match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => return None,
    } as u32)
}

/// Standard base64 with optional `=` padding.
pub(crate) fn b64_decode(v: &[u8], out: &mut Vec<u8>) -> bool {
    let data = match v.iter().position(|&c| c == b'=') {
        Some(i) if v[i..].iter().all(|&c| c == b'=') && v[i..].len() <= 2 => &v[..i],
        Some(_) => return false,
        None => v,
    };
    if data.len() % 4 == 1 {
        return false;
    }
    for chunk in data.chunks(4) {
        let mut acc = 0u32;
        for &c in chunk {
            let Some(d) = b64_value(c) else {
                return false;
            };
            acc = (acc << 6) | d;
        }
        let bits = chunk.len() * 6;
        acc <<= 24 - bits;
        let bytes = acc.to_be_bytes();
        out.extend_from_slice(&bytes[1..1 + bits / 8]);
    }
    true
}

/// Looks for option `key` in a command-line string the way getopt(3) reads `opts` (`t:` takes
/// an argument, attached or as the next word); writes its argument (empty for a flag) and
/// returns whether the option is present. Non-option words are skipped; `--` ends options.
fn getopt(args: &[u8], opts: &[u8], key: u8, out: &mut Vec<u8>) -> bool {
    let base = out.len();
    let mut found = false;
    let mut words = args
        .split(|c| c.is_ascii_whitespace())
        .filter(|w| !w.is_empty());
    while let Some(w) = words.next() {
        if w == b"--" {
            break;
        }
        if w.len() < 2 || w[0] != b'-' {
            continue;
        }
        let mut j = 1;
        while j < w.len() {
            let c = w[j];
            let Some(k) = opts.iter().position(|&o| o == c && o != b':') else {
                j += 1;
                continue;
            };
            let takes_arg = opts.get(k + 1) == Some(&b':');
            if takes_arg {
                let val: &[u8] = if j + 1 < w.len() {
                    &w[j + 1..]
                } else {
                    words.next().unwrap_or(&[])
                };
                if c == key {
                    out.truncate(base);
                    out.extend_from_slice(val);
                    found = true;
                }
                break;
            }
            if c == key {
                out.truncate(base);
                found = true;
            }
            j += 1;
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64() {
        for (input, want) in [
            ("aGVsbG8=", Some("hello")),
            ("aGVsbG8", Some("hello")),
            ("Y2F0", Some("cat")),
            ("", Some("")),
            ("a", None),
            ("a=b=", None),
            ("!!!!", None),
        ] {
            let mut out = Vec::new();
            let ok = b64_decode(input.as_bytes(), &mut out);
            assert_eq!(
                ok.then(|| String::from_utf8(out).unwrap()).as_deref(),
                want,
                "{input}"
            );
        }
    }

    #[test]
    fn getopt_cases() {
        for (args, opts, key, want) in [
            ("-n -t mnt", "nt:", b't', Some("mnt")),
            ("-tmnt", "nt:", b't', Some("mnt")),
            ("-nt net x", "nt:", b't', Some("net")),
            ("-n", "nt:", b'n', Some("")),
            ("-n", "nt:", b't', None),
            ("-- -t x", "nt:", b't', None),
            ("file -t x", "nt:", b't', Some("x")),
        ] {
            let mut out = Vec::new();
            let ok = getopt(args.as_bytes(), opts.as_bytes(), key, &mut out);
            assert_eq!(
                ok.then(|| String::from_utf8(out).unwrap()).as_deref(),
                want,
                "{args}"
            );
        }
    }
}
