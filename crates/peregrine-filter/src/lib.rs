//! Falco's condition language: parse → check → compile → evaluate.
//!
//! Like regex-syntax/regex-automata, a condition goes through two forms before it runs: the
//! [`ast`] keeps source positions for error messages and renders back to Falco's normalised
//! text; the compiled program has every field resolved to a [`fields::FieldId`], every literal
//! converted to the field's type and every multi-value comparison turned into a hashed set,
//! prefix trie or automaton. The cost is a compile step per rule at load time; the gain is
//! evaluation with no name lookups, no string parsing and no allocation per event.

#![forbid(unsafe_code)]

pub mod ast;
pub mod compile;
pub mod escape;
pub mod evttype;
pub mod fields;
pub mod format;
pub mod listing;
pub mod parser;
pub mod priority;
pub mod render;
pub mod source;

pub use source::{Extracted, FieldArg, FieldRequest, FieldSource, Slot, ValueRef};
