//! Falco's output format strings: the rule `output` text with `%field` tokens, parsed once at
//! load time and rendered per alert.
//!
//! Key decision: a format is parsed the way libsinsp's `sinsp_evt_formatter` parses it — a
//! token is the *longest catalogue field name that prefixes the text after `%`*, not a run of
//! "field-looking" characters — so `%proc.namexyz` renders `proc.name` followed by the literal
//! `xyz`, `%fd.nameraw` is `fd.nameraw` and not `fd.name` + `raw`, and `%user.name)` needs no
//! delimiter rule. Every field is resolved to a [`FieldRequest`] at parse time, so a typo is a
//! load error (`invalid formatting token …`, Falco's wording) and rendering does no name
//! lookups.
//!
//! Value → text conversion lives in one function, [`render_value`], shared with whoever else
//! prints field values (`-p` style outputs, `--list` examples, test goldens); the JSON form
//! Falco puts in `output_fields` comes from [`OutputValue`].
//!
//! Times print in UTC: Falco uses the local time zone, which is UTC on our hosts and in CI.

use crate::ast::TransformerKind;
use crate::fields::{self, FieldError, FieldId, FieldInfo, FieldType};
use crate::source::{Extracted, FieldRequest, FieldSource, ValueRef};
use std::fmt::Write;
use std::net::IpAddr;

/// The largest `%Nfield` width honoured; larger widths are clamped to it.
pub const MAX_WIDTH: usize = 4096;

/// What a missing value prints as.
pub const NA: &str = "<NA>";

/// What Falco substitutes for the legacy `%container.info` token when the configuration does
/// not provide its own replacement.
pub const CONTAINER_INFO_DEFAULT: &str = "%container.name (id=%container.id)";

/// Why an output format was rejected. Messages follow libsinsp's formatter.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    #[error("empty formatting token")]
    Empty,
    #[error("invalid formatting syntax: formatting cannot end with a %")]
    EndsWithPercent,
    #[error("invalid formatting syntax: formatting cannot end with a number")]
    EndsWithNumber,
    /// No catalogue field prefixes the text after `%`; carries that text, as Falco prints it.
    #[error("invalid formatting token {0}")]
    InvalidToken(String),
    /// The field resolved but its argument is wrong (`%proc.aname[x]`, `%evt.arg`).
    #[error(transparent)]
    Field(#[from] FieldError),
    /// `EPF_FILTER_ONLY` fields (`fd.net`, `fd.ip`, …) have no printable value; carries the
    /// format text from the field on, as libsinsp prints it.
    #[error("{0} is filter only and cannot be used as a display field")]
    FilterOnly(String),
    #[error("missing closing transformer parenthesis: {0}")]
    UnclosedTransformer(String),
    #[error("field {field} does not support transformer {transformer}")]
    BadTransformer {
        field: String,
        transformer: &'static str,
    },
}

/// One `%token` of a format.
#[derive(Clone, Debug, PartialEq)]
pub struct Token {
    /// The token as written after `%` (without width): `proc.aname[2]`, `evt.arg.flags`,
    /// `tolower(proc.name)`. This is the key Falco uses in `output_fields`.
    pub name: String,
    /// The field reference inside the transformers, as written: `proc.name` for
    /// `tolower(proc.name)`; equal to `name` when there is no transformer.
    pub field: String,
    /// What to extract.
    pub request: FieldRequest,
    /// Transformers, innermost first (`tolower(basename(x))` → `[Basename, ToLower]`).
    pub transformers: Vec<TransformerKind>,
    /// `%10proc.name`: the value is cut or space-padded to this many bytes (0 = as is).
    pub width: usize,
}

impl Token {
    pub fn info(&self) -> &'static FieldInfo {
        fields::request_info(&self.request)
    }

    /// The type of the rendered value (`len()` turns anything into a number).
    pub fn value_type(&self) -> FieldType {
        if self.transformers.contains(&TransformerKind::Len) {
            FieldType::UInt64
        } else {
            self.info().ty
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Part {
    Text(String),
    Field(Token),
}

/// A parsed output format.
#[derive(Clone, Debug, PartialEq)]
pub struct OutputFormat {
    parts: Vec<Part>,
    /// False when the format started with `*`: missing values then print `<NA>` and the
    /// rendering still counts as complete.
    require_all_values: bool,
    /// The keys of `output_fields` and how to get their values: every field as written
    /// and, for transformed tokens, the transformed form too (libsinsp's resolution tokens).
    resolution: Vec<Token>,
}

impl OutputFormat {
    /// Parses `text`, expanding `%container.info` to [`CONTAINER_INFO_DEFAULT`].
    pub fn parse(text: &str) -> Result<OutputFormat, FormatError> {
        Self::parse_with_container_info(text, CONTAINER_INFO_DEFAULT)
    }

    /// Parses `text`, expanding `%container.info` to `container_info` (Falco replaces it
    /// with the configured extra output when `-pc`/`-pk`-style options ask for it).
    pub fn parse_with_container_info(
        text: &str,
        container_info: &str,
    ) -> Result<OutputFormat, FormatError> {
        if text.is_empty() {
            return Err(FormatError::Empty);
        }
        let expanded;
        let text = if text.contains("%container.info") {
            expanded = text.replace("%container.info", container_info);
            expanded.as_str()
        } else {
            text
        };
        let (require_all_values, body) = match text.strip_prefix('*') {
            Some(rest) => (false, rest),
            None => (true, text),
        };
        let mut parts = Vec::new();
        let mut resolution = Vec::new();
        let mut lit_start = 0;
        let mut i = 0;
        let b = body.as_bytes();
        while i < b.len() {
            if b[i] != b'%' {
                i += 1;
                continue;
            }
            if lit_start < i {
                parts.push(Part::Text(body[lit_start..i].to_string()));
            }
            let (token, end) = parse_token(body, i + 1)?;
            if !token.transformers.is_empty()
                && !resolution.iter().any(|t: &Token| t.name == token.field)
            {
                resolution.push(Token {
                    name: token.field.clone(),
                    field: token.field.clone(),
                    request: token.request.clone(),
                    transformers: Vec::new(),
                    width: 0,
                });
            }
            if !resolution.iter().any(|t| t.name == token.name) {
                resolution.push(Token {
                    width: 0,
                    ..token.clone()
                });
            }
            parts.push(Part::Field(token));
            i = end;
            lit_start = end;
        }
        if lit_start < b.len() {
            parts.push(Part::Text(body[lit_start..].to_string()));
        }
        Ok(OutputFormat {
            parts,
            require_all_values,
            resolution,
        })
    }

    /// True unless the format started with `*`.
    pub fn requires_all_values(&self) -> bool {
        self.require_all_values
    }

    /// The tokens, in order of appearance (duplicates included).
    pub fn tokens(&self) -> impl Iterator<Item = &Token> + '_ {
        self.parts.iter().filter_map(|p| match p {
            Part::Field(t) => Some(t),
            Part::Text(_) => None,
        })
    }

    /// The keys of Falco's JSON `output_fields`, in order of first appearance: each field as
    /// written (`proc.aname[2]`, `evt.arg.flags`) and, for a transformed token such as
    /// `%tolower(proc.name)`, both `proc.name` and `tolower(proc.name)`.
    pub fn fields(&self) -> Vec<&str> {
        self.resolution.iter().map(|t| t.name.as_str()).collect()
    }

    /// Renders the format for the current event of `src` into `out` (appending). Missing
    /// values print `<NA>`. Returns false when a value was missing and the format did not
    /// start with `*` (libsinsp then reports the rendering as incomplete; Falco prefixes its
    /// rule outputs with `*`, so alerts always print).
    pub fn render(&self, src: &mut dyn FieldSource, buf: &mut Extracted, out: &mut String) -> bool {
        let mut complete = true;
        for part in &self.parts {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Field(tok) => {
                    let start = out.len();
                    if !render_token(tok, src, buf, out) {
                        complete &= !self.require_all_values;
                        out.push_str(NA);
                    }
                    if tok.width > 0 {
                        fit_width(out, start, tok.width);
                    }
                }
            }
        }
        complete
    }

    /// The typed value of every key of [`Self::fields`], for Falco's JSON `output_fields`.
    pub fn values(
        &self,
        src: &mut dyn FieldSource,
        buf: &mut Extracted,
    ) -> Vec<(String, OutputValue)> {
        self.resolution
            .iter()
            .map(|tok| (tok.name.clone(), token_value(tok, src, buf)))
            .collect()
    }
}

/// Parses the token starting at byte `start` (just after `%`); returns it and the index of
/// the first byte after it.
fn parse_token(body: &str, start: usize) -> Result<(Token, usize), FormatError> {
    let b = body.as_bytes();
    if start >= b.len() {
        return Err(FormatError::EndsWithPercent);
    }
    // `%10proc.name`: a width, read like sscanf("%d").
    let mut i = start;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    if i == b.len() {
        return Err(FormatError::EndsWithNumber);
    }
    // A rules file must not make us allocate without bound: widths are clamped.
    let width = match &body[start..i] {
        "" => 0,
        digits => digits
            .parse::<usize>()
            .map_or(MAX_WIDTH, |w| w.min(MAX_WIDTH)),
    };
    let token_start = i;

    // Transformers: `name(` prefixes, no blanks allowed, as libsinsp.
    let mut transformers = Vec::new();
    'outer: loop {
        for kind in [
            TransformerKind::ToLower,
            TransformerKind::ToUpper,
            TransformerKind::B64,
            TransformerKind::Basename,
            TransformerKind::Len,
        ] {
            let name = kind.name();
            if body[i..].starts_with(name) && b.get(i + name.len()) == Some(&b'(') {
                transformers.push(kind);
                i += name.len() + 1;
                continue 'outer;
            }
        }
        break;
    }

    let field_start = i;
    let rest = &body[field_start..];
    let info =
        longest_field_prefix(rest).ok_or_else(|| FormatError::InvalidToken(rest.to_string()))?;
    if info.flags.filter_only {
        return Err(FormatError::FilterOnly(rest.to_string()));
    }
    i += info.name.len();

    // The argument: `[...]` for fields that take one, `.name` for dynamic-suffix fields.
    let mut arg: Option<&str> = None;
    if info.flags.takes_arg() && b.get(i) == Some(&b'[') {
        let close = body[i..]
            .find(']')
            .ok_or_else(|| FormatError::InvalidToken(rest.to_string()))?;
        arg = Some(&body[i + 1..i + close]);
        i += close + 1;
    } else if info.flags.dyn_suffix && b.get(i) == Some(&b'.') {
        let label = matches!(
            info.id,
            FieldId::ContainerLabel
                | FieldId::K8sPodLabel
                | FieldId::K8sNsLabel
                | FieldId::K8sRcLabel
                | FieldId::K8sSvcLabel
                | FieldId::K8sRsLabel
                | FieldId::K8sDeploymentLabel
        );
        let len = body[i + 1..]
            .bytes()
            .take_while(|c| {
                c.is_ascii_alphanumeric() || *c == b'_' || (label && b"./-".contains(c))
            })
            .count();
        // Label keys may contain dots, but a sentence-ending dot is not part of the key.
        let len = body[i + 1..i + 1 + len].trim_end_matches('.').len();
        if len > 0 {
            arg = Some(&body[i + 1..i + 1 + len]);
            i += 1 + len;
        }
    }
    let field_text = &body[field_start..i];
    let request = fields::request_for(info, fields::parse_arg(info, arg, field_text)?);
    for t in &transformers {
        let string_only = !matches!(t, TransformerKind::Len);
        let is_string = matches!(info.ty, FieldType::CharBuf | FieldType::ByteBuf);
        if info.flags.no_transformer || (string_only && !is_string) {
            return Err(FormatError::BadTransformer {
                field: field_text.to_string(),
                transformer: t.name(),
            });
        }
    }
    for _ in &transformers {
        if b.get(i) != Some(&b')') {
            return Err(FormatError::UnclosedTransformer(body[i..].to_string()));
        }
        i += 1;
    }
    transformers.reverse();
    Ok((
        Token {
            name: body[token_start..i].to_string(),
            field: field_text.to_string(),
            request,
            transformers,
            width,
        },
        i,
    ))
}

/// The longest catalogue name that prefixes `text`, as libsinsp's `parse_field_name`.
fn longest_field_prefix(text: &str) -> Option<&'static FieldInfo> {
    fields::longest_prefix(text)
}

/// `std::string::resize(width, ' ')` on the bytes written since `start`, kept on a char
/// boundary.
fn fit_width(out: &mut String, start: usize, width: usize) {
    let len = out.len() - start;
    if len > width {
        let mut cut = start + width;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
    } else {
        out.extend(std::iter::repeat_n(' ', width - len));
    }
}

/// Extracts and renders one token; false if it has no value.
fn render_token(
    tok: &Token,
    src: &mut dyn FieldSource,
    buf: &mut Extracted,
    out: &mut String,
) -> bool {
    buf.clear();
    src.extract(&tok.request, buf);
    if buf.is_empty() {
        return false;
    }
    let info = tok.info();
    if tok.transformers.is_empty() {
        render_values(info, buf, out);
        return true;
    }
    match transform(tok, buf) {
        Some(Transformed::Strings(v)) => {
            let strs: Vec<String> = v
                .iter()
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .collect();
            if info.flags.list {
                let _ = write!(out, "({})", strs.join(","));
            } else if let Some(first) = strs.first() {
                out.push_str(first);
            }
            true
        }
        Some(Transformed::Len(n)) => {
            let _ = write!(out, "{n}");
            true
        }
        None => false,
    }
}

/// Renders the extracted values of `info`: one value as is, list fields as `(a,b,c)`.
fn render_values(info: &FieldInfo, buf: &Extracted, out: &mut String) {
    if info.flags.list {
        out.push('(');
        for (i, v) in buf.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            render_value(info, v, out);
        }
        out.push(')');
    } else if let Some(v) = buf.get(0) {
        render_value(info, v, out);
    }
}

enum Transformed {
    Strings(Vec<Vec<u8>>),
    Len(u64),
}

/// Applies a token's transformers to the extracted values (strings only, except `len`).
fn transform(tok: &Token, buf: &Extracted) -> Option<Transformed> {
    let mut vals: Vec<Vec<u8>> = buf
        .iter()
        .map(|v| match v {
            ValueRef::Bytes(b) => b.to_vec(),
            other => {
                let mut s = String::new();
                render_value(tok.info(), other, &mut s);
                s.into_bytes()
            }
        })
        .collect();
    for t in &tok.transformers {
        match t {
            TransformerKind::ToLower => vals.iter_mut().for_each(|v| v.make_ascii_lowercase()),
            TransformerKind::ToUpper => vals.iter_mut().for_each(|v| v.make_ascii_uppercase()),
            TransformerKind::Basename => {
                for v in vals.iter_mut() {
                    if let Some(p) = v.iter().rposition(|&c| c == b'/') {
                        v.drain(..=p);
                    }
                }
            }
            TransformerKind::B64 => {
                vals = vals
                    .iter()
                    .map(|v| b64_decode(v))
                    .collect::<Option<Vec<_>>>()?;
            }
            TransformerKind::Len => {
                let n = if tok.info().flags.list {
                    vals.len()
                } else {
                    vals.first().map_or(0, Vec::len)
                };
                return Some(Transformed::Len(n as u64));
            }
            // Not accepted by the format parser.
            _ => return None,
        }
    }
    Some(Transformed::Strings(vals))
}

/// Standard base64 (RFC 4648) with optional padding; `None` on malformed input.
fn b64_decode(s: &[u8]) -> Option<Vec<u8>> {
    let s: Vec<u8> = s.iter().copied().filter(|&c| c != b'=').collect();
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0;
    for c in s {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// Writes one value of field `info` as Falco prints it in outputs: strings as is (invalid
/// UTF-8 replaced), numbers in decimal (`fd.dev` in upper-case hex, the fractional `*.ns`
/// fields and `evt.reltime` zero-padded to 9 digits, doubles with one decimal), booleans
/// `true`/`false`, addresses dotted or in compressed IPv6 form. The time-string fields
/// (`evt.time`, `evt.datetime`, …) are strings; if a source hands them over as nanoseconds
/// they are formatted with [`format_time`].
pub fn render_value(info: &FieldInfo, v: ValueRef<'_>, out: &mut String) {
    match v {
        ValueRef::Bytes(b) if info.ty == FieldType::ByteBuf => {
            // libsinsp's default buffer format: printable ASCII kept, the rest as '.'.
            out.extend(b.iter().map(|&c| {
                if (0x20..0x7f).contains(&c) {
                    c as char
                } else {
                    '.'
                }
            }));
        }
        ValueRef::Bytes(b) => out.push_str(&String::from_utf8_lossy(b)),
        ValueRef::Bool(b) => out.push_str(if b { "true" } else { "false" }),
        ValueRef::Int(i) => match info.id {
            // PF_HEX on an INT32: printf("%X") of the 32-bit pattern.
            FieldId::FdDev => {
                let _ = write!(out, "{:X}", i as u32);
            }
            _ => {
                let _ = write!(out, "{i}");
            }
        },
        ValueRef::UInt(u) => {
            if !format_time(info.id, u, out) {
                if is_padded(info.id) {
                    let _ = write!(out, "{u:09}");
                } else {
                    let _ = write!(out, "{u}");
                }
            }
        }
        ValueRef::Double(d) => {
            let _ = write!(out, "{d:.1}");
        }
        ValueRef::Ip(ip) => render_ip(ip, out),
        // libsinsp has no text form for networks.
        ValueRef::Net(..) => out.push_str("<IPNET>"),
    }
}

/// Fields libsinsp prints with `PF_10_PADDED_DEC` (`%09`).
fn is_padded(id: FieldId) -> bool {
    matches!(
        id,
        FieldId::EvtRawtimeNs
            | FieldId::EvtReltime
            | FieldId::EvtReltimeNs
            | FieldId::EvtLatencyNs
            | FieldId::EvtDeltatimeNs
    )
}

fn render_ip(ip: IpAddr, out: &mut String) {
    let _ = write!(out, "{ip}");
}

/// Writes the text of a time-string field (`evt.time`, `evt.time.s`, `evt.time.iso8601`,
/// `evt.datetime`, `evt.datetime.s`) for a timestamp in nanoseconds since the epoch, in UTC.
/// Returns false (writing nothing) for any other field. The state engine uses this to
/// produce those fields' values.
pub fn format_time(id: FieldId, ns: u64, out: &mut String) -> bool {
    let secs = ns / 1_000_000_000;
    let nanos = ns % 1_000_000_000;
    let ((y, mo, d), (h, m, s)) = civil(secs);
    let _ = match id {
        FieldId::EvtTime => write!(out, "{h:02}:{m:02}:{s:02}.{nanos:09}"),
        FieldId::EvtTimeS => write!(out, "{h:02}:{m:02}:{s:02}"),
        FieldId::EvtTimeIso8601 => write!(
            out,
            "{y:04}-{mo:02}-{d:02}T{h:02}:{m:02}:{s:02}.{nanos:09}+0000"
        ),
        FieldId::EvtDatetime => {
            write!(out, "{y:04}-{mo:02}-{d:02} {h:02}:{m:02}:{s:02}.{nanos:09}")
        }
        FieldId::EvtDatetimeS => write!(out, "{y:04}-{mo:02}-{d:02} {h:02}:{m:02}:{s:02}"),
        _ => return false,
    };
    true
}

/// True for the fields whose text is a formatted event timestamp.
pub fn is_time_string(id: FieldId) -> bool {
    matches!(
        id,
        FieldId::EvtTime
            | FieldId::EvtTimeS
            | FieldId::EvtTimeIso8601
            | FieldId::EvtDatetime
            | FieldId::EvtDatetimeS
    )
}

/// Splits seconds since the epoch into a UTC date and time of day.
fn civil(secs: u64) -> ((i64, u32, u32), (u64, u64, u64)) {
    let tod = secs % 86_400;
    let date = peregrine_event::time::civil_from_days((secs / 86_400) as i64);
    (date, (tod / 3_600, tod / 60 % 60, tod % 60))
}

/// A field value as Falco puts it in the JSON `output_fields`: numbers (including times,
/// in nanoseconds) as JSON numbers, booleans as booleans, everything else as strings, and
/// `null` when the field has no value.
#[derive(Clone, Debug, PartialEq)]
pub enum OutputValue {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Double(f64),
    Str(String),
    /// List fields (`fd.types`).
    List(Vec<OutputValue>),
}

impl OutputValue {
    /// Appends the value as JSON text.
    pub fn write_json(&self, out: &mut String) {
        match self {
            OutputValue::Null => out.push_str("null"),
            OutputValue::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            OutputValue::Int(i) => {
                let _ = write!(out, "{i}");
            }
            OutputValue::UInt(u) => {
                let _ = write!(out, "{u}");
            }
            OutputValue::Double(d) if d.is_finite() => {
                let _ = write!(out, "{d}");
            }
            OutputValue::Double(_) => out.push_str("null"),
            OutputValue::Str(s) => write_json_string(s, out),
            OutputValue::List(items) => {
                out.push('[');
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    v.write_json(out);
                }
                out.push(']');
            }
        }
    }
}

/// Appends `s` as a JSON string literal.
pub fn write_json_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// The typed value of one value of `info` (see [`OutputValue`]), as libsinsp's
/// `rawval_to_json`: numbers printed in hex or zero-padded stay text.
pub fn json_value(info: &FieldInfo, v: ValueRef<'_>) -> OutputValue {
    let as_text = |v| {
        let mut s = String::new();
        render_value(info, v, &mut s);
        OutputValue::Str(s)
    };
    match v {
        ValueRef::Bool(b) => OutputValue::Bool(b),
        ValueRef::Int(_) if info.id == FieldId::FdDev => as_text(v),
        ValueRef::Int(i) => OutputValue::Int(i),
        // The event-time fields hand libsinsp's JSON their raw number even when padded.
        ValueRef::UInt(_)
            if matches!(info.id, FieldId::EvtLatencyNs | FieldId::EvtDeltatimeNs)
                || is_time_string(info.id) =>
        {
            as_text(v)
        }
        ValueRef::UInt(u) => OutputValue::UInt(u),
        ValueRef::Double(d) => OutputValue::Double(d),
        other => as_text(other),
    }
}

fn token_value(tok: &Token, src: &mut dyn FieldSource, buf: &mut Extracted) -> OutputValue {
    buf.clear();
    if is_time_string(tok.request.id) && tok.transformers.is_empty() {
        // libsinsp's JSON for the time-string fields is the event timestamp itself.
        src.extract(
            &FieldRequest {
                id: FieldId::EvtRawtime,
                arg: crate::source::FieldArg::None,
            },
            buf,
        );
        return match buf.get(0) {
            Some(ValueRef::UInt(u)) => OutputValue::UInt(u),
            _ => OutputValue::Null,
        };
    }
    src.extract(&tok.request, buf);
    if buf.is_empty() {
        return OutputValue::Null;
    }
    let info = tok.info();
    if !tok.transformers.is_empty() {
        return match transform(tok, buf) {
            Some(Transformed::Len(n)) => OutputValue::UInt(n),
            Some(Transformed::Strings(v)) => {
                let mut items: Vec<OutputValue> = v
                    .into_iter()
                    .map(|s| OutputValue::Str(String::from_utf8_lossy(&s).into_owned()))
                    .collect();
                if info.flags.list {
                    OutputValue::List(items)
                } else if items.is_empty() {
                    OutputValue::Null
                } else {
                    items.swap_remove(0)
                }
            }
            None => OutputValue::Null,
        };
    }
    if info.flags.list {
        OutputValue::List(buf.iter().map(|v| json_value(info, v)).collect())
    } else {
        buf.get(0)
            .map_or(OutputValue::Null, |v| json_value(info, v))
    }
}
