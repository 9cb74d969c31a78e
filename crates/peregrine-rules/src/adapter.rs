//! The one place this crate calls into `peregrine-filter`'s parser, renderer, compiler,
//! event-type inference and output formats. Keeping the calls here means a change of those APIs
//! is a change of this file only.

use peregrine_event::EventTypeSet;
use peregrine_filter::ast::Expr;

/// A parse or compile failure with the position inside the condition text.
#[derive(Clone, Debug)]
pub(crate) struct CondError {
    pub message: String,
    pub idx: usize,
    pub line: usize,
    pub col: usize,
}

/// libsinsp's maximum nesting for rule conditions (Falco sets 1000).
pub(crate) const MAX_DEPTH: u32 = 1000;

pub(crate) fn parse(text: &str) -> Result<Expr, CondError> {
    peregrine_filter::parser::parse_with_max_depth(text, MAX_DEPTH).map_err(|e| CondError {
        message: e.message,
        idx: e.pos.idx as usize,
        line: e.pos.line as usize,
        col: e.pos.col as usize,
    })
}

pub(crate) fn render(e: &Expr) -> String {
    peregrine_filter::render::render(e)
}

pub(crate) use peregrine_filter::compile::Filter;
pub use peregrine_filter::compile::Scratch;

pub(crate) struct Compiled {
    pub filter: Filter,
    /// Compiler warnings with their position.
    pub warnings: Vec<CondError>,
}

pub(crate) fn compile(e: &Expr) -> Result<Compiled, CondError> {
    let pos_err = |message: String, p: peregrine_filter::ast::Pos| CondError {
        message,
        idx: p.idx as usize,
        line: p.line as usize,
        col: p.col as usize,
    };
    let c = peregrine_filter::compile::compile(e).map_err(|e| pos_err(e.message, e.pos))?;
    if let Some((name, pos)) = unknown_event_type(e) {
        return Err(pos_err(format!("unknown event type {name}"), pos));
    }
    Ok(Compiled {
        filter: c.filter,
        warnings: c
            .warnings
            .into_iter()
            .map(|w| pos_err(w.message, w.pos))
            .collect(),
    })
}

/// The first `evt.type` value that names no event (libsinsp refuses those; the filter
/// compiler ignores them, so the loader checks after it).
fn unknown_event_type(e: &Expr) -> Option<(String, peregrine_filter::ast::Pos)> {
    use peregrine_filter::ast::{CmpOp, Operand, Rhs};
    match e {
        Expr::And(c, _) | Expr::Or(c, _) => c.iter().find_map(unknown_event_type),
        Expr::Not(c, _) => unknown_event_type(c),
        Expr::Binary {
            left: Operand::Field(f),
            op: CmpOp::Eq | CmpOp::EqEq | CmpOp::Ne | CmpOp::In | CmpOp::Intersects,
            right,
            ..
        } if f.name == "evt.type" && f.arg.is_none() => {
            let values: Vec<(&[u8], peregrine_filter::ast::Pos)> = match right {
                Rhs::Value(v, p) => vec![(v.as_slice(), *p)],
                Rhs::List(items, _) => items.iter().map(|(v, p)| (v.as_slice(), *p)).collect(),
                _ => Vec::new(),
            };
            values.into_iter().find_map(|(v, p)| {
                let name = String::from_utf8_lossy(v);
                peregrine_event::EventType::from_name(&name)
                    .is_none()
                    .then(|| (name.into_owned(), p))
            })
        }
        _ => None,
    }
}

/// The event types a resolved condition can match; an error (which `compile` reports first)
/// yields every type.
pub(crate) fn event_types(e: &Expr) -> EventTypeSet {
    peregrine_filter::evttype::event_types(e).unwrap_or_else(|_| EventTypeSet::all())
}

/// Whether an exception's field names a catalogue field (`proc.aname[2]`, `evt.arg.path`).
/// Transformer expressions are left to the condition compiler.
pub(crate) fn field_defined(field: &str) -> bool {
    if field.contains('(') {
        return true;
    }
    let name = field.split('[').next().unwrap_or(field);
    peregrine_filter::fields::lookup_with_suffix(name).is_some()
}

pub use peregrine_filter::format::OutputFormat;

pub(crate) fn compile_output(fmt: &str) -> Result<OutputFormat, String> {
    OutputFormat::parse(fmt).map_err(|e| e.to_string())
}

/// The first field of `e` that events of `source` do not carry, with its position: Falco
/// compiles each rule with its source's filter factory, which does not know other sources'
/// fields.
pub(crate) fn foreign_field(
    e: &Expr,
    source: &str,
) -> Option<(String, peregrine_filter::ast::Pos)> {
    use peregrine_filter::ast::{Operand, Rhs, Transformer, TransformerArg};
    fn field(f: &peregrine_filter::ast::FieldRef, source: &str) -> bool {
        peregrine_filter::fields::lookup_with_suffix(&f.name)
            .is_some_and(|(info, _)| !info.usable_in(source))
    }
    fn in_transformer(
        t: &Transformer,
        source: &str,
    ) -> Option<(String, peregrine_filter::ast::Pos)> {
        fn arg(a: &TransformerArg, source: &str) -> Option<(String, peregrine_filter::ast::Pos)> {
            match a {
                TransformerArg::Field(f) if field(f, source) => Some((f.name.clone(), f.pos)),
                TransformerArg::Transformer(t) => in_transformer(t, source),
                TransformerArg::List(items, _) => items.iter().find_map(|a| arg(a, source)),
                _ => None,
            }
        }
        t.args.iter().find_map(|a| arg(a, source))
    }
    let operand = |o: &Operand| match o {
        Operand::Field(f) if field(f, source) => Some((f.name.clone(), f.pos)),
        Operand::Field(_) => None,
        Operand::Transformer(t) => in_transformer(t, source),
    };
    match e {
        Expr::And(c, _) | Expr::Or(c, _) => c.iter().find_map(|c| foreign_field(c, source)),
        Expr::Not(c, _) => foreign_field(c, source),
        Expr::Identifier(..) => None,
        Expr::Unary { left, .. } => operand(left),
        Expr::Binary { left, right, .. } => operand(left).or_else(|| match right {
            Rhs::Transformer(t) => in_transformer(t, source),
            _ => None,
        }),
    }
}
