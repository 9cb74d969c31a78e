//! Event-type inference: the set of event types for which a condition can be true, so the
//! engine runs a rule only on the events it can match (Falco's per-type rule index).
//!
//! libsinsp pushes negations to the leaves with De Morgan's laws while walking. Here every node
//! yields a pair — the types where it can be true and the types where its negation can be true
//! — and `not` just swaps the pair, which is the same algebra without a mutable "inside
//! negation" flag. Checks unrelated to `evt.type` are neutral (ALL either way); checks that are
//! always or never true whatever the event (`evt.num = 0`: events are numbered from 1) give ALL
//! on one side and ∅ on the other, which is how the upstream rules' `never_true` macro
//! disables a rule.

use peregrine_event::{EventType, EventTypeSet};

use crate::ast::{CmpOp, Expr, Operand, Rhs, TransformerArg, UnaryOp};

/// Why the event types of a condition cannot be computed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct EvtTypeError {
    pub message: String,
}

/// The event types for which `expr` can be true (macros already resolved).
pub fn event_types(expr: &Expr) -> Result<EventTypeSet, EvtTypeError> {
    let all = EventTypeSet::all();
    Ok(sets(expr, &all)?.0)
}

/// (types where `e` can be true, types where `not e` can be true).
fn sets(e: &Expr, all: &EventTypeSet) -> Result<(EventTypeSet, EventTypeSet), EvtTypeError> {
    Ok(match e {
        Expr::And(c, _) => {
            let mut pos = *all;
            let mut neg = EventTypeSet::empty();
            for child in c {
                let (p, n) = sets(child, all)?;
                pos = pos.intersection(&p);
                neg = neg.union(&n);
            }
            (pos, neg)
        }
        Expr::Or(c, _) => {
            let mut pos = EventTypeSet::empty();
            let mut neg = *all;
            for child in c {
                let (p, n) = sets(child, all)?;
                pos = pos.union(&p);
                neg = neg.intersection(&n);
            }
            (pos, neg)
        }
        Expr::Not(c, _) => {
            let (p, n) = sets(c, all)?;
            (n, p)
        }
        Expr::Identifier(..) => (*all, *all),
        Expr::Unary { left, op, .. } => {
            // `evt.type exists` is always true; a transformer over evt.type is refused.
            let is_evttype = lhs_is_evttype(left)?;
            match op {
                UnaryOp::Exists if is_evttype => (*all, EventTypeSet::empty()),
                UnaryOp::Exists => (*all, *all),
            }
        }
        Expr::Binary {
            left, op, right, ..
        } => binary(left, *op, right, all)?,
    })
}

fn is_evttype_field(name: &str, arg: &Option<String>) -> bool {
    (name == "evt.type" || name == "syscall.type") && arg.is_none()
}

/// Whether the left-hand side is a plain `evt.type`; an error if a transformer wraps it.
fn lhs_is_evttype(left: &Operand) -> Result<bool, EvtTypeError> {
    match left {
        Operand::Field(f) => Ok(is_evttype_field(&f.name, &f.arg)),
        Operand::Transformer(t) => {
            if t.args.iter().any(arg_mentions_evttype) {
                Err(EvtTypeError {
                    message:
                        "event code search does not support `evt.type` checks with transformers"
                            .into(),
                })
            } else {
                Ok(false)
            }
        }
    }
}

fn arg_mentions_evttype(a: &TransformerArg) -> bool {
    match a {
        TransformerArg::Field(f) => is_evttype_field(&f.name, &f.arg),
        TransformerArg::Transformer(t) => t.args.iter().any(arg_mentions_evttype),
        TransformerArg::List(items, _) => items.iter().any(arg_mentions_evttype),
        TransformerArg::Value(..) => false,
    }
}

/// What a check on `evt.num` says whatever the event, given that events are numbered from 1:
/// `Some(true)` always true, `Some(false)` never true, `None` depends on the event.
fn evt_num_invariant(op: CmpOp, right: &Rhs) -> Option<bool> {
    // Only plain decimal literals are understood; anything else (hex, floats, negative
    // numbers) is left to the event.
    let num = |v: &[u8]| -> Option<u64> {
        (!v.is_empty() && v.iter().all(u8::is_ascii_digit))
            .then(|| std::str::from_utf8(v).ok()?.parse().ok())
            .flatten()
    };
    match (op, right) {
        (CmpOp::Eq | CmpOp::EqEq, Rhs::Value(v, _)) => (num(v)? == 0).then_some(false),
        (CmpOp::Ne, Rhs::Value(v, _)) => (num(v)? == 0).then_some(true),
        (CmpOp::Lt, Rhs::Value(v, _)) => (num(v)? <= 1).then_some(false),
        (CmpOp::Le, Rhs::Value(v, _)) => (num(v)? == 0).then_some(false),
        (CmpOp::Gt, Rhs::Value(v, _)) => (num(v)? == 0).then_some(true),
        (CmpOp::Ge, Rhs::Value(v, _)) => (num(v)? <= 1).then_some(true),
        (CmpOp::In, Rhs::List(items, _)) => {
            let all_zero = items.iter().all(|(v, _)| num(v) == Some(0));
            all_zero.then_some(false)
        }
        _ => None,
    }
}

fn binary(
    left: &Operand,
    op: CmpOp,
    right: &Rhs,
    all: &EventTypeSet,
) -> Result<(EventTypeSet, EventTypeSet), EvtTypeError> {
    let empty = EventTypeSet::empty();
    // libsinsp looks at the left side only for the four evt.type operators, so a transformer
    // over evt.type is refused only there.
    let evttype_op = matches!(op, CmpOp::Eq | CmpOp::EqEq | CmpOp::Ne | CmpOp::In);
    if !(evttype_op && lhs_is_evttype(left)?) {
        if let Operand::Field(f) = left {
            if f.name == "evt.num" && f.arg.is_none() {
                return Ok(match evt_num_invariant(op, right) {
                    Some(true) => (*all, empty),
                    Some(false) => (empty, *all),
                    None => (*all, *all),
                });
            }
        }
        return Ok((*all, *all));
    }
    let names: Vec<&[u8]> = match right {
        Rhs::Value(v, _) => vec![v.as_slice()],
        Rhs::List(items, _) => items.iter().map(|(v, _)| v.as_slice()).collect(),
        Rhs::Identifier(name, _) => vec![name.as_bytes()],
        Rhs::Transformer(_) => {
            return Err(EvtTypeError {
                message:
                    "right-hand field comparisons on `evt.type` checks are not supported by event code search"
                        .into(),
            })
        }
    };
    let set: EventTypeSet = names
        .into_iter()
        .filter_map(|n| std::str::from_utf8(n).ok())
        .filter_map(EventType::from_name)
        .collect();
    let (pos, neg) = (set, set.complement());
    Ok(if op == CmpOp::Ne {
        (neg, pos)
    } else {
        (pos, neg)
    })
}
