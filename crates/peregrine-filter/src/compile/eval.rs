//! Evaluation of a compiled [`super::Filter`]: short-circuit boolean walk, one extraction per
//! check into a reused arena, one precompiled matcher call per value.

use std::cmp::Ordering;

use memchr::memmem;

use super::matchers::{glob_match, Num};
use super::{transform, Check, Node, Op, Operand, Test};
use crate::source::{Extracted, FieldSource, ValueRef};

/// Buffers reused from event to event: extracted values and the bytes transformers build.
/// One per evaluating thread.
#[derive(Debug, Default)]
pub struct Scratch {
    pub(crate) vals: Extracted,
    pub(crate) tmp: Vec<u8>,
}

impl Scratch {
    pub fn new() -> Self {
        Self::default()
    }
}

pub(crate) fn node(n: &Node, src: &mut dyn FieldSource, s: &mut Scratch) -> bool {
    match n {
        Node::And(c) => c.iter().all(|c| node(c, src, s)),
        Node::Or(c) => c.iter().any(|c| node(c, src, s)),
        Node::Not(c) => !node(c, src, s),
        Node::EvtType { set, negate } => set.contains(src.event_type()) != *negate,
        Node::Check(c) => check(c, src, s),
    }
}

/// Extracts an operand's values at the end of the arena; returns their slot range.
pub(crate) fn operand(o: &Operand, src: &mut dyn FieldSource, s: &mut Scratch) -> (usize, usize) {
    match o {
        Operand::Field(req) => {
            let start = s.vals.len();
            src.extract(req, &mut s.vals);
            (start, s.vals.len())
        }
        Operand::Xform(x) => transform::apply(x, src, s),
    }
}

fn check(c: &Check, src: &mut dyn FieldSource, s: &mut Scratch) -> bool {
    s.vals.clear();
    s.tmp.clear();
    let (a, b) = operand(&c.lhs, src, s);
    // A field without a value makes every comparison false, `!=` included (libsinsp).
    if a == b {
        return false;
    }
    match &c.test {
        Test::Exists => true,
        Test::Const { m, all: false } => {
            (a..b).any(|i| s.vals.get(i).is_some_and(|v| m.matches(v)))
        }
        Test::Const { m, all: true } => (a..b).all(|i| s.vals.get(i).is_some_and(|v| m.matches(v))),
        Test::Field { op, rhs } => {
            let (c0, c1) = operand(rhs, src, s);
            if c0 == c1 {
                return false;
            }
            let vals = &s.vals;
            match op {
                Op::In | Op::Intersects => (a..b).any(|i| {
                    vals.get(i).is_some_and(|l| {
                        (c0..c1).any(|j| vals.get(j).is_some_and(|r| dyn_cmp(Op::Eq, l, r)))
                    })
                }),
                _ => match vals.get(c0) {
                    Some(r) => (a..b).any(|i| vals.get(i).is_some_and(|l| dyn_cmp(*op, l, r))),
                    None => false,
                },
            }
        }
    }
}

/// A comparison between two extracted values of the same type (the compiler checked it).
fn dyn_cmp(op: Op, l: ValueRef<'_>, r: ValueRef<'_>) -> bool {
    if let (ValueRef::Bytes(l), ValueRef::Bytes(r)) = (l, r) {
        return match op {
            Op::Eq | Op::In | Op::Intersects => l == r,
            Op::Ne => l != r,
            Op::Lt => l < r,
            Op::Le => l <= r,
            Op::Gt => l > r,
            Op::Ge => l >= r,
            Op::Contains | Op::BContains => memmem::find(l, r).is_some(),
            Op::IContains => {
                r.is_empty() || l.windows(r.len().max(1)).any(|w| w.eq_ignore_ascii_case(r))
            }
            Op::StartsWith | Op::BStartsWith => l.starts_with(r),
            Op::EndsWith => l.ends_with(r),
            Op::Glob => glob_match(r, l, false),
            Op::IGlob => glob_match(r, l, true),
            // Rejected at compile time.
            Op::Regex | Op::PMatch => false,
        };
    }
    if let (ValueRef::Ip(l), ValueRef::Ip(r)) = (l, r) {
        return match op {
            Op::Eq | Op::In | Op::Intersects => l == r,
            Op::Ne => l.is_ipv4() == r.is_ipv4() && l != r,
            _ => false,
        };
    }
    let (Some(l), Some(r)) = (Num::of(l), Num::of(r)) else {
        return false;
    };
    let ord = match (l, r) {
        (Num::I(a), Num::I(b)) => Some(a.cmp(&b)),
        (a, b) => to_f64(a).partial_cmp(&to_f64(b)),
    };
    let Some(ord) = ord else {
        return false;
    };
    match op {
        Op::Eq | Op::In | Op::Intersects => ord == Ordering::Equal,
        Op::Ne => ord != Ordering::Equal,
        Op::Lt => ord == Ordering::Less,
        Op::Le => ord != Ordering::Greater,
        Op::Gt => ord == Ordering::Greater,
        Op::Ge => ord != Ordering::Less,
        _ => false,
    }
}

fn to_f64(n: Num) -> f64 {
    match n {
        Num::I(i) => i as f64,
        Num::F(f) => f,
    }
}
