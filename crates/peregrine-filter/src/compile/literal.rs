//! Right-hand literals converted once, at compile time, to the type of the field they are
//! compared with — the work libsinsp's `string_to_rawval` does — so that evaluation compares
//! typed values and never parses text.

use std::net::IpAddr;

use super::matchers::{Net, Num};
use crate::fields::FieldType;

/// A converted literal.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Lit {
    Bytes(Box<[u8]>),
    Num(Num),
    Bool(bool),
    Ip(IpAddr),
    Net(Net),
}

/// Converts `raw` to a value of type `ty`. `hex` is set for `bcontains`/`bstartswith`, whose
/// operand is written as hex digits.
pub(crate) fn convert(ty: FieldType, raw: &[u8], hex: bool) -> Result<Lit, String> {
    if hex {
        return unhex(raw).map(|b| Lit::Bytes(b.into())).ok_or_else(|| {
            "filter error: bcontains and bstartswith operator support hex strings only".to_string()
        });
    }
    let text = || String::from_utf8_lossy(raw).into_owned();
    match ty {
        FieldType::CharBuf => {
            if raw.contains(&0) {
                return Err(format!(
                    "filter error: string value '{}' contains a NUL byte",
                    text().escape_default()
                ));
            }
            Ok(Lit::Bytes(raw.into()))
        }
        FieldType::ByteBuf => Ok(Lit::Bytes(raw.into())),
        FieldType::Bool => match raw {
            b"true" => Ok(Lit::Bool(true)),
            b"false" => Ok(Lit::Bool(false)),
            _ => Err(format!("filter error: '{}' is not a valid boolean", text())),
        },
        FieldType::Int16 | FieldType::Int32 | FieldType::Int64 => parse_int(raw)
            .and_then(|v| i64::try_from(v).ok())
            .map(|v| Lit::Num(Num::I(v as i128)))
            .ok_or_else(|| format!("{} is not a valid number", text())),
        FieldType::UInt16 | FieldType::Port => parse_unsigned(raw, u16::MAX as u64)
            .map(|v| Lit::Num(Num::I(v as i128)))
            .ok_or_else(|| format!("{} is not a valid number", text())),
        FieldType::UInt32 => parse_unsigned(raw, u32::MAX as u64)
            .map(|v| Lit::Num(Num::I(v as i128)))
            .ok_or_else(|| format!("{} is not a valid number", text())),
        FieldType::UInt64 | FieldType::RelTime | FieldType::AbsTime => {
            parse_unsigned(raw, u64::MAX)
                .map(|v| Lit::Num(Num::I(v as i128)))
                .ok_or_else(|| format!("{} is not a valid number", text()))
        }
        // libsinsp parses a double literal with the integer parser: `thread.cpu = 1.0` is
        // rejected, `thread.cpu = 1` is accepted.
        FieldType::Double => parse_int(raw)
            .map(|v| Lit::Num(Num::F(v as f64)))
            .ok_or_else(|| format!("{} is not a valid number", text())),
        FieldType::IpAddr => {
            let s = std::str::from_utf8(raw).map_err(|_| bad_ip(raw))?;
            if let Ok(ip) = s.parse::<IpAddr>() {
                Ok(Lit::Ip(ip))
            } else {
                // A CIDR against an address field matches the network (Falco rules write
                // `fd.ip in (…)` with networks in lists).
                parse_net(s).map(Lit::Net).ok_or_else(|| bad_ip(raw))
            }
        }
        FieldType::IpNet => {
            let s = std::str::from_utf8(raw).map_err(|_| bad_net(raw))?;
            parse_net(s).map(Lit::Net).ok_or_else(|| bad_net(raw))
        }
    }
}

fn bad_ip(raw: &[u8]) -> String {
    format!(
        "filter error: '{}' is not a valid IP address",
        String::from_utf8_lossy(raw)
    )
}

fn bad_net(raw: &[u8]) -> String {
    format!(
        "filter error: '{}' is not a valid IP network",
        String::from_utf8_lossy(raw)
    )
}

/// `a.b.c.d/n`, `x::y/n`, or a bare address (a network of one address).
fn parse_net(s: &str) -> Option<Net> {
    let (addr, prefix) = match s.split_once('/') {
        Some((a, p)) => (a.parse::<IpAddr>().ok()?, Some(p.parse::<u8>().ok()?)),
        None => (s.parse::<IpAddr>().ok()?, None),
    };
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let prefix = prefix.unwrap_or(max);
    (prefix <= max).then_some(Net { addr, prefix })
}

/// A signed integer: optional sign, then decimal digits or `0x` hex digits.
pub(crate) fn parse_int(raw: &[u8]) -> Option<i128> {
    let (neg, digits) = match raw {
        [b'-', rest @ ..] => (true, rest),
        [b'+', rest @ ..] => (false, rest),
        _ => (false, raw),
    };
    let s = std::str::from_utf8(digits).ok()?;
    let v = if let Some(hex) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        if hex.is_empty() || !hex.bytes().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
        i128::from_str_radix(hex, 16).ok()?
    } else {
        if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        s.parse::<i128>().ok()?
    };
    Some(if neg { -v } else { v })
}

/// An unsigned integer of at most `max`; a negative literal wraps at the type's width as
/// `sscanf("%u")` does (`evt.num = -1` compares with 2^64−1).
fn parse_unsigned(raw: &[u8], max: u64) -> Option<u64> {
    let v = parse_int(raw)?;
    if v < 0 {
        let w = v.checked_add(max as i128 + 1)?;
        return (w >= 0).then_some(w as u64);
    }
    u64::try_from(v).ok().filter(|&v| v <= max)
}

/// Hex digits to bytes: an even number of `[0-9a-fA-F]`, nothing else.
pub(crate) fn unhex(raw: &[u8]) -> Option<Vec<u8>> {
    if raw.len() % 2 != 0 {
        return None;
    }
    raw.chunks(2)
        .map(|p| {
            let hi = (p[0] as char).to_digit(16)?;
            let lo = (p[1] as char).to_digit(16)?;
            Some((hi * 16 + lo) as u8)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        let cases: &[(FieldType, &str, Option<Num>)] = &[
            (FieldType::Int64, "-1", Some(Num::I(-1))),
            (FieldType::Int64, "0x10", Some(Num::I(16))),
            (FieldType::Int64, "+7", Some(Num::I(7))),
            (FieldType::Int64, "1.5", None),
            (FieldType::Int64, "abc", None),
            (FieldType::UInt64, "-1", Some(Num::I(u64::MAX as i128))),
            (FieldType::Port, "80", Some(Num::I(80))),
            (FieldType::Port, "70000", None),
            (FieldType::Double, "1", Some(Num::F(1.0))),
            (FieldType::Double, "1.0", None),
        ];
        for (ty, raw, want) in cases {
            let got = match convert(*ty, raw.as_bytes(), false) {
                Ok(Lit::Num(n)) => Some(n),
                _ => None,
            };
            assert_eq!(got, *want, "{ty:?} {raw}");
        }
    }

    #[test]
    fn hex_and_nets() {
        assert_eq!(unhex(b"656c6C"), Some(b"ell".to_vec()));
        assert_eq!(unhex(b"2"), None);
        assert_eq!(unhex(b"2g"), None);
        assert_eq!(
            parse_net("10.0.0.0/8"),
            Some(Net {
                addr: "10.0.0.0".parse().unwrap(),
                prefix: 8
            })
        );
        assert_eq!(parse_net("10.0.0.0/33"), None);
        assert!(convert(FieldType::CharBuf, b"a\0b", false).is_err());
        assert!(convert(FieldType::ByteBuf, b"a\0b", false).is_ok());
    }
}
