//! Renders a condition AST back to text exactly as libsinsp's `ast::as_string` does.
//!
//! Falco shows this normalised form (`condition_compiled` in `--describe`, rule-loader tests),
//! so the spacing and quoting are the contract: `and`/`or` always parenthesised, one space
//! around operators, lists as `(a, b)`, transformer arguments joined by a bare `,`, and every
//! value passed through [`escape_str`] — which quotes only values with blanks, quotes,
//! backslashes or NULs. The rendering is therefore not always re-parseable (`"a,b"` renders as
//! `a,b`); that lossiness is libsinsp's and is kept on purpose.
//!
//! Values are bytes; [`render_bytes`] keeps them raw, [`render`] is the `String` convenience for
//! the common all-UTF-8 case (invalid bytes become U+FFFD).

use crate::ast::{Expr, FieldRef, Operand, Rhs, Transformer, TransformerArg};
use crate::escape::escape_str;

/// libsinsp's `as_string`, as a `String` (non-UTF-8 value bytes are replaced).
pub fn render(expr: &Expr) -> String {
    String::from_utf8_lossy(&render_bytes(expr)).into_owned()
}

/// libsinsp's `as_string`, byte-exact.
pub fn render_bytes(expr: &Expr) -> Vec<u8> {
    let mut out = Vec::new();
    expr_to(&mut out, expr);
    out
}

fn expr_to(out: &mut Vec<u8>, e: &Expr) {
    match e {
        Expr::And(children, _) => logical_to(out, "and", children),
        Expr::Or(children, _) => logical_to(out, "or", children),
        Expr::Not(child, _) => {
            out.extend_from_slice(b"not ");
            expr_to(out, child);
        }
        Expr::Identifier(name, _) => out.extend_from_slice(name.as_bytes()),
        Expr::Unary { left, op: _, .. } => {
            operand_to(out, left);
            out.extend_from_slice(b" exists");
        }
        Expr::Binary {
            left, op, right, ..
        } => {
            operand_to(out, left);
            out.push(b' ');
            out.extend_from_slice(op.to_string().as_bytes());
            out.push(b' ');
            rhs_to(out, right);
        }
    }
}

fn logical_to(out: &mut Vec<u8>, op: &str, children: &[Expr]) {
    out.push(b'(');
    for (i, c) in children.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
            out.extend_from_slice(op.as_bytes());
            out.push(b' ');
        }
        expr_to(out, c);
    }
    out.push(b')');
}

fn operand_to(out: &mut Vec<u8>, o: &Operand) {
    match o {
        Operand::Field(f) => field_to(out, f),
        Operand::Transformer(t) => transformer_to(out, t),
    }
}

fn field_arg_to(out: &mut Vec<u8>, arg: &Option<String>) {
    if let Some(arg) = arg {
        out.push(b'[');
        if arg.is_empty() {
            // An explicit empty argument (`f[""]`) must not vanish into `f[]`.
            out.extend_from_slice(b"\"\"");
        } else {
            out.extend_from_slice(&escape_str(arg.as_bytes()));
        }
        out.push(b']');
    }
}

fn field_to(out: &mut Vec<u8>, f: &FieldRef) {
    out.extend_from_slice(f.name.as_bytes());
    field_arg_to(out, &f.arg);
}

fn transformer_to(out: &mut Vec<u8>, t: &Transformer) {
    out.extend_from_slice(t.kind.name().as_bytes());
    out.push(b'(');
    args_to(out, &t.args);
    out.push(b')');
    field_arg_to(out, &t.field_arg);
}

fn args_to(out: &mut Vec<u8>, args: &[TransformerArg]) {
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        match a {
            TransformerArg::Field(f) => field_to(out, f),
            TransformerArg::Transformer(t) => transformer_to(out, t),
            TransformerArg::Value(v, _) => out.extend_from_slice(&escape_str(v)),
            TransformerArg::List(items, _) => {
                out.push(b'(');
                args_to(out, items);
                out.push(b')');
            }
        }
    }
}

fn rhs_to(out: &mut Vec<u8>, r: &Rhs) {
    match r {
        Rhs::Value(v, _) => out.extend_from_slice(&escape_str(v)),
        Rhs::List(values, _) => {
            out.push(b'(');
            for (i, (v, _)) in values.iter().enumerate() {
                if i > 0 {
                    out.extend_from_slice(b", ");
                }
                out.extend_from_slice(&escape_str(v));
            }
            out.push(b')');
        }
        Rhs::Identifier(name, _) => out.extend_from_slice(name.as_bytes()),
        Rhs::Transformer(t) => transformer_to(out, t),
    }
}
