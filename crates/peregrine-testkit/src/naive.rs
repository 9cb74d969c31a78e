//! A deliberately simple evaluator: it walks the AST for every event, looks fields up by name
//! and parses literals as it goes — what an engine without a compile step does. It exists only
//! as the baseline the compiled evaluator is benchmarked against; it covers the common
//! operators and treats what it does not know (transformers, modifiers) as false. Its glob is
//! its own recursive matcher (`*`, `?`, `[…]`, `\`), not the compiled matcher, so the two
//! evaluators stay independent.

use peregrine_filter::ast::{CmpOp, Expr, Operand, Rhs};
use peregrine_filter::fields;
use peregrine_filter::source::{Extracted, FieldSource, ValueRef};

/// Evaluates `expr` against the current event of `src`.
pub fn eval(expr: &Expr, src: &mut dyn FieldSource) -> bool {
    match expr {
        Expr::And(c, _) => c.iter().all(|e| eval(e, src)),
        Expr::Or(c, _) => c.iter().any(|e| eval(e, src)),
        Expr::Not(c, _) => !eval(c, src),
        Expr::Identifier(..) => false,
        Expr::Unary { left, .. } => !values(left, src).is_empty(),
        Expr::Binary {
            left, op, right, ..
        } => {
            let vals = values(left, src);
            let rhs: Vec<Vec<u8>> = match right {
                Rhs::Value(v, _) => vec![v.clone()],
                Rhs::List(vs, _) => vs.iter().map(|(v, _)| v.clone()).collect(),
                Rhs::Identifier(n, _) => vec![n.clone().into_bytes()],
                Rhs::Transformer(_) => return false,
            };
            let ne = matches!(op, CmpOp::Ne);
            vals.iter().any(|v| {
                if ne {
                    rhs.iter().all(|r| compare(*op, v, r))
                } else {
                    rhs.iter().any(|r| compare(*op, v, r))
                }
            })
        }
    }
}

/// Extracts a field's values as text, as a string-typed engine would.
fn values(o: &Operand, src: &mut dyn FieldSource) -> Vec<String> {
    let Operand::Field(f) = o else {
        return Vec::new();
    };
    let Ok(req) = fields::resolve(&f.name, f.arg.as_deref()) else {
        return Vec::new();
    };
    let mut out = Extracted::default();
    src.extract(&req, &mut out);
    out.iter()
        .map(|v| match v {
            ValueRef::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
            ValueRef::Bool(b) => b.to_string(),
            ValueRef::Int(i) => i.to_string(),
            ValueRef::UInt(u) => u.to_string(),
            ValueRef::Double(d) => d.to_string(),
            ValueRef::Ip(ip) => ip.to_string(),
            ValueRef::Net(ip, p) => format!("{ip}/{p}"),
        })
        .collect()
}

fn compare(op: CmpOp, v: &str, r: &[u8]) -> bool {
    let r = String::from_utf8_lossy(r);
    let num = |s: &str| s.parse::<f64>().ok();
    let ord = |f: fn(f64, f64) -> bool| match (num(v), num(&r)) {
        (Some(a), Some(b)) => f(a, b),
        _ => false,
    };
    match op {
        CmpOp::Eq | CmpOp::EqEq | CmpOp::In | CmpOp::Intersects => v == r,
        CmpOp::Ne => v != r,
        CmpOp::Lt => ord(|a, b| a < b),
        CmpOp::Le => ord(|a, b| a <= b),
        CmpOp::Gt => ord(|a, b| a > b),
        CmpOp::Ge => ord(|a, b| a >= b),
        CmpOp::Contains => v.contains(&*r),
        CmpOp::IContains => v.to_lowercase().contains(&r.to_lowercase()),
        CmpOp::StartsWith => v.starts_with(&*r),
        CmpOp::EndsWith => v.ends_with(&*r),
        CmpOp::Glob => glob(r.as_bytes(), v.as_bytes()),
        CmpOp::PMatch => v == r || v.starts_with(&format!("{}/", r.trim_end_matches('/'))),
        _ => false,
    }
}

/// Recursive backtracking glob: `*` any run, `?` one byte, `[…]` a class (`!`/`^` negates,
/// `a-z` ranges), `\x` a literal `x`; a `[` that is never closed is a literal.
fn glob(p: &[u8], s: &[u8]) -> bool {
    match p.first() {
        None => s.is_empty(),
        Some(b'*') => (0..=s.len()).any(|i| glob(&p[1..], &s[i..])),
        Some(_) if s.is_empty() => false,
        Some(b'?') => glob(&p[1..], &s[1..]),
        Some(b'\\') if p.len() > 1 => p[1] == s[0] && glob(&p[2..], &s[1..]),
        Some(b'[') => match class(p, s[0]) {
            Some((hit, rest)) => hit && glob(rest, &s[1..]),
            None => s[0] == b'[' && glob(&p[1..], &s[1..]),
        },
        Some(&c) => c == s[0] && glob(&p[1..], &s[1..]),
    }
}

/// The class at the start of `p` (which is `[`): whether `c` is in it and the pattern after
/// its `]`, or `None` when it is not closed.
fn class(p: &[u8], c: u8) -> Option<(bool, &[u8])> {
    let mut i = 1;
    let negate = matches!(p.get(i), Some(b'!' | b'^'));
    if negate {
        i += 1;
    }
    let (mut found, mut first) = (false, true);
    loop {
        let &lo = p.get(i)?;
        if lo == b']' && !first {
            return Some((found != negate, &p[i + 1..]));
        }
        first = false;
        let (lo, next) = if lo == b'\\' {
            (*p.get(i + 1)?, i + 2)
        } else {
            (lo, i + 1)
        };
        if p.get(next) == Some(&b'-') && p.get(next + 1).is_some_and(|&h| h != b']') {
            found |= lo <= c && c <= p[next + 1];
            i = next + 2;
        } else {
            found |= lo == c;
            i = next;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::glob;

    #[test]
    fn glob_agrees_with_falco_wildcards() {
        assert!(glob(b"/proc/*/environ", b"/proc/12/environ"));
        assert!(!glob(b"/proc/*/environ", b"/proc/12/status"));
        assert!(glob(b"a?c", b"abc") && !glob(b"a?c", b"ac"));
        assert!(glob(b"[a-c]x", b"bx") && !glob(b"[!a-c]x", b"bx"));
        assert!(glob(b"\\*", b"*") && !glob(b"\\*", b"a"));
        assert!(glob(b"[ab", b"[ab"));
    }
}
