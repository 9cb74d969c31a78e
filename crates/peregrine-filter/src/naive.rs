//! A deliberately simple evaluator: it walks the AST for every event, looks fields up by name
//! and parses literals as it goes — what an engine without a compile step does. It exists only
//! as the baseline the compiled evaluator is benchmarked against; it covers the common
//! operators and treats what it does not know (transformers, modifiers) as false.

use crate::ast::{CmpOp, Expr, Operand, Rhs};
use crate::compile::resolve_field;
use crate::source::{Extracted, FieldSource, ValueRef};

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
    let Ok((req, _)) = resolve_field(&f.name, f.arg.as_deref()) else {
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
        CmpOp::Glob => crate::compile::glob_match(r.as_bytes(), v.as_bytes(), false),
        CmpOp::PMatch => v == r || v.starts_with(&format!("{}/", r.trim_end_matches('/'))),
        _ => false,
    }
}
