//! String escaping for the condition language, byte-compatible with libsinsp's `escaping.cpp`.
//!
//! Two directions with deliberately different rules:
//! - [`unescape_str`] decodes a quoted token exactly as the parser reads it (`\b \f \n \r \t
//!   \\ \/`, the own quote kind, `\xHH`, and the historic `\<space>`); anything else is an error
//!   with libsinsp's message, because rules files rely on those messages being stable.
//! - [`escape_str`] is what the renderer (`as_string`) uses: it quotes a value only when it
//!   contains a blank, a quote, a backslash or a NUL, and leaves every other byte raw. That makes
//!   the rendering lossy (`'` is not escaped, `(`/`,`/`=` are not quoted) — exactly like libsinsp,
//!   whose rendered conditions Falco prints and which our goldens compare against.
//!
//! Both work on bytes: `\xHH` may produce bytes that are not UTF-8, and they must survive.

use thiserror::Error;

/// Why a quoted token could not be decoded; the `Display` text is libsinsp's message.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum EscapeError {
    /// `\"` inside a `'`-quoted string.
    #[error("invalid \\\" escape in '-quoted string")]
    DoubleQuoteInSingle,
    /// `\'` inside a `"`-quoted string.
    #[error("invalid \\' escape in \"-quoted string")]
    SingleQuoteInDouble,
    /// `\x` followed by fewer than two characters before the closing quote.
    #[error("truncated hex char escape sequence")]
    TruncatedHex,
    /// `\x` followed by two characters that are not both hex digits.
    #[error("invalid hex char escape sequence: {0}")]
    InvalidHex(String),
    /// A backslash followed by a character with no escape meaning.
    #[error("unsupported string escape sequence: \\{0}")]
    Unsupported(String),
    /// The input does not start with a quote or is shorter than the two delimiters.
    #[error("not a quoted string")]
    NotQuoted,
}

/// Decodes a quoted token **including its delimiters** (`"…"` or `'…'`), as libsinsp's
/// `unescape_str` does: the delimiter decides which quote may be escaped.
///
/// A trailing lone backslash (only reachable by calling this directly; the lexer never ends a
/// token on `\"`) is dropped, as in libsinsp.
pub fn unescape_str(quoted: &[u8]) -> Result<Vec<u8>, EscapeError> {
    let (&delim, _) = quoted.split_first().ok_or(EscapeError::NotQuoted)?;
    if quoted.len() < 2 || (delim != b'"' && delim != b'\'') {
        return Err(EscapeError::NotQuoted);
    }
    let body = &quoted[1..quoted.len() - 1];
    let mut out = Vec::with_capacity(body.len());
    let mut i = 0;
    while i < body.len() {
        let c = body[i];
        i += 1;
        if c != b'\\' {
            out.push(c);
            continue;
        }
        let Some(&e) = body.get(i) else { break };
        i += 1;
        match e {
            b'b' => out.push(0x08),
            b'f' => out.push(0x0c),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            // `\ ` is accepted for historic rules (libsinsp keeps it for one Falco rule): it
            // yields a backslash and swallows the space.
            b' ' | b'\\' => out.push(b'\\'),
            b'/' => out.push(b'/'),
            b'"' if delim == b'"' => out.push(b'"'),
            b'"' => return Err(EscapeError::DoubleQuoteInSingle),
            b'\'' if delim == b'\'' => out.push(b'\''),
            b'\'' => return Err(EscapeError::SingleQuoteInDouble),
            b'x' => {
                let Some(hex) = body.get(i..i + 2) else {
                    return Err(EscapeError::TruncatedHex);
                };
                match (hex_val(hex[0]), hex_val(hex[1])) {
                    (Some(h), Some(l)) => out.push(h << 4 | l),
                    _ => {
                        return Err(EscapeError::InvalidHex(
                            String::from_utf8_lossy(hex).into_owned(),
                        ))
                    }
                }
                i += 2;
            }
            other => {
                return Err(EscapeError::Unsupported(
                    String::from_utf8_lossy(&[other]).into_owned(),
                ))
            }
        }
    }
    Ok(out)
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Renders a value the way libsinsp's `escape_str` does: control blanks become `\b \f \n \r
/// \t`, `\` and `"` are backslash-escaped, and the result is wrapped in double quotes if any of
/// those, a space, a `'` or a NUL occurred. All other bytes (including high bytes) pass raw.
pub fn escape_str(value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len() + 2);
    let mut quote = false;
    for &c in value {
        let esc: &[u8] = match c {
            0x08 => b"\\b",
            0x0c => b"\\f",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            b'\\' => b"\\\\",
            b'"' => b"\\\"",
            b' ' | b'\'' | 0 => {
                quote = true;
                out.push(c);
                continue;
            }
            _ => {
                out.push(c);
                continue;
            }
        };
        quote = true;
        out.extend_from_slice(esc);
    }
    if quote {
        out.insert(0, b'"');
        out.push(b'"');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_escape(input: &[u8], expected: &[u8]) {
        assert_eq!(
            escape_str(input),
            expected,
            "escape_str({:?})",
            String::from_utf8_lossy(input)
        );
    }

    fn check_unescape(quoted: &[u8], expected: Result<&[u8], &str>) {
        let got = unescape_str(quoted);
        match (got, expected) {
            (Ok(g), Ok(e)) => assert_eq!(g, e, "{:?}", String::from_utf8_lossy(quoted)),
            (Err(g), Err(e)) => {
                assert_eq!(g.to_string(), e, "{:?}", String::from_utf8_lossy(quoted))
            }
            (g, e) => panic!(
                "unescape_str({:?}) = {g:?}, expected {e:?}",
                String::from_utf8_lossy(quoted)
            ),
        }
    }

    #[test]
    fn escape_cases() {
        check_escape(b"some string", b"\"some string\"");
        check_escape(b"some \"quoted string\"", b"\"some \\\"quoted string\\\"\"");
        check_escape(b"some 'quoted string'", b"\"some 'quoted string'\"");
        check_escape(
            b"some\\b\\f\\n\\r\\tstring",
            b"\"some\\\\b\\\\f\\\\n\\\\r\\\\tstring\"",
        );
        check_escape(b"\0", b"\"\0\"");
        check_escape(b"a\xffb", b"a\xffb");
        check_escape(b"", b"");
        check_escape(b"a,b=(c)", b"a,b=(c)");
        check_escape(b"\x08\x0c\n\r\t", b"\"\\b\\f\\n\\r\\t\"");
    }

    #[test]
    fn bidirectional() {
        for s in [
            &b"some string"[..],
            b"some\\b\\f\\n\\r\\tstring",
            b"some \"quoted string\"",
            b"\x08\t\n",
        ] {
            assert_eq!(unescape_str(&escape_str(s)).as_deref(), Ok(s));
        }
        // Single quotes are not escaped, so the round trip goes through a `"`-quoted string.
        assert_eq!(
            unescape_str(&escape_str(b"some 'quoted string'")).as_deref(),
            Ok(&b"some 'quoted string'"[..])
        );
    }

    #[test]
    fn unescape_cases() {
        check_unescape(b"\"\\x41\"", Ok(b"A"));
        check_unescape(b"\"\\x7f\"", Ok(b"\x7f"));
        check_unescape(b"\"\\x01\"", Ok(b"\x01"));
        check_unescape(b"\"\\xff\"", Ok(b"\xff"));
        check_unescape(b"\"\\x80\"", Ok(b"\x80"));
        check_unescape(b"\"\\xAb\"", Ok(b"\xab"));
        check_unescape(b"\"\\xff\\xfe\"", Ok(b"\xff\xfe"));
        check_unescape(b"\"a\\x00b\"", Ok(b"a\0b"));
        check_unescape(b"\"\\x413\"", Ok(b"A3"));
        check_unescape(b"'\\x41'", Ok(b"A"));
        check_unescape(b"\"\\x\"", Err("truncated hex char escape sequence"));
        check_unescape(b"\"\\xf\"", Err("truncated hex char escape sequence"));
        check_unescape(b"\"a\\xf\"", Err("truncated hex char escape sequence"));
        check_unescape(b"\"\\xgg\"", Err("invalid hex char escape sequence: gg"));
        check_unescape(b"\"\\xfg\"", Err("invalid hex char escape sequence: fg"));
        check_unescape(b"\"\\x g\"", Err("invalid hex char escape sequence:  g"));
        check_unescape(b"\"\\x-1\"", Err("invalid hex char escape sequence: -1"));
        check_unescape(b"\"\\x+a\"", Err("invalid hex char escape sequence: +a"));
        check_unescape(b"\"\\b\\f\\n\\r\\t\\\\\\/\"", Ok(b"\x08\x0c\n\r\t\\/"));
        check_unescape(b"\"a\\ b\"", Ok(b"a\\b"));
        check_unescape(b"\"\\\"\"", Ok(b"\""));
        check_unescape(b"'\\''", Ok(b"'"));
        check_unescape(b"'\\\"'", Err("invalid \\\" escape in '-quoted string"));
        check_unescape(b"\"\\'\"", Err("invalid \\' escape in \"-quoted string"));
        check_unescape(b"\"\\q\"", Err("unsupported string escape sequence: \\q"));
        check_unescape(b"\"\"", Ok(b""));
        check_unescape(b"''", Ok(b""));
        check_unescape(b"\"a\\\"", Ok(b"a"));
        check_unescape(b"", Err("not a quoted string"));
        check_unescape(b"\"", Err("not a quoted string"));
        check_unescape(b"abc", Err("not a quoted string"));
    }
}

/// Appends `text` to `out` with every control character written as a visible escape: `\n`,
/// `\r`, `\t`, `\e` for ESC, and `\xHH` (ASCII controls and DEL) or `\u{HH}` (C1 controls,
/// which some terminals read as CSI) for the rest.
///
/// This is for text that ends up on a terminal or in a line-oriented log: alert lines and the
/// agent's own log lines carry process names, command lines and paths that an attacker
/// chooses, and a raw newline there forges a second alert line, an ESC sequence rewrites the
/// operator's screen. A backslash is left as it is: it cannot break a line, and escaping it
/// would change every ordinary rendering. JSON output does not need this (its string escaping
/// already covers control characters). Text without control characters is copied as is after
/// one scan.
pub fn push_terminal_safe(text: &str, out: &mut String) {
    use std::fmt::Write;
    let is_control = |c: char| c.is_control();
    if !text.contains(is_control) {
        out.push_str(text);
        return;
    }
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{1b}' => out.push_str("\\e"),
            c if (c as u32) < 0x80 && c.is_control() => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if c.is_control() => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
}

/// [`push_terminal_safe`] into a new string.
pub fn terminal_safe(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    push_terminal_safe(text, &mut out);
    out
}

#[cfg(test)]
mod terminal_tests {
    use super::terminal_safe;

    #[test]
    fn control_characters_become_visible_escapes() {
        for (input, expected) in [
            ("plain /usr/bin/cat", "plain /usr/bin/cat"),
            ("a\nb", "a\\nb"),
            (
                "x\r\n13:00:00.000000000: Critical FAKE",
                "x\\r\\n13:00:00.000000000: Critical FAKE",
            ),
            ("\u{1b}[2J\u{7}", "\\e[2J\\x07"),
            ("tab\there\u{7f}", "tab\\there\\x7f"),
            ("csi\u{9b}31m", "csi\\u{9b}31m"),
            ("back\\slash é", "back\\slash é"),
            ("nul\0", "nul\\x00"),
        ] {
            assert_eq!(terminal_safe(input), expected, "{input:?}");
        }
    }
}
