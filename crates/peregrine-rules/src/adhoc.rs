//! Conditions typed by a person (the console's debug view) compiled with the loaded rules'
//! lists and macros, so `spawned_process and shell_procs` means what it means in a rule.
//!
//! Key decision: the filter goes through the same steps as a rule's condition (lists
//! substituted textually in definition order, macros replaced by their resolved bodies, the
//! same compiler), but every error is located in the text as typed. The text is first parsed,
//! its macros checked and its fields compiled *before* list substitution, when positions are
//! still the user's; list substitution only rewrites values, so what fails after it is rare
//! and reported at the start of the condition.

use crate::adapter::{self, Filter, Scratch};
use crate::compiler::resolve_list;
use crate::ruleset::RuleSet;
use peregrine_event::EventTypeSet;
use peregrine_filter::ast::Expr;
use peregrine_filter::fields::SYSCALL_SOURCE;
use peregrine_filter::FieldSource;

/// A condition that does not compile: the message and where (1-based line and column of the
/// condition text).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message} (line {line}, column {col})")]
pub struct FilterError {
    pub message: String,
    pub line: usize,
    pub col: usize,
}

/// A compiled ad-hoc condition and the event types it can match.
#[derive(Debug)]
pub struct AdHocFilter {
    filter: Filter,
    types: EventTypeSet,
}

impl AdHocFilter {
    /// Whether the current event of `src` satisfies the condition.
    pub fn matches(&self, src: &mut dyn FieldSource, scratch: &mut Scratch) -> bool {
        self.types.contains(src.event_type()) && self.filter.eval(src, scratch)
    }

    /// The event types the condition can match (every type when it does not say).
    pub fn event_types(&self) -> &EventTypeSet {
        &self.types
    }
}

/// Longest condition accepted: a typed filter, not a rules file.
pub const MAX_FILTER_LEN: usize = 16 * 1024;

impl RuleSet {
    /// Compiles `text` as a syscall condition that may use the loaded lists and macros.
    pub fn compile_filter(&self, text: &str) -> Result<AdHocFilter, FilterError> {
        let at = |message: String, line: usize, col: usize| FilterError { message, line, col };
        if text.len() > MAX_FILTER_LEN {
            return Err(at(
                format!("condition longer than {MAX_FILTER_LEN} bytes"),
                1,
                1,
            ));
        }
        if text.trim().is_empty() {
            return Err(at("empty condition".into(), 1, 1));
        }
        let from = |e: adapter::CondError| at(e.message, e.line, e.col);
        // Pass 1, on the text as typed: syntax, macro names and fields, at the user's columns.
        let mut typed = adapter::parse(text).map_err(from)?;
        self.substitute_macros(&mut typed)?;
        adapter::compile(&typed).map_err(from)?;
        // A field of another source (`ka.*`) would have no value on any syscall event.
        if let Some((name, pos)) = adapter::foreign_field(&typed, SYSCALL_SOURCE) {
            return Err(at(
                format!("field {name} is not a syscall field"),
                pos.line as usize,
                pos.col as usize,
            ));
        }
        // Pass 2: the rules' semantics (lists are textual, applied in definition order).
        let mut subst = text.to_string();
        for l in &self.compiled().lists {
            resolve_list(&mut subst, &l.name, &l.items);
        }
        let mut expr = adapter::parse(&subst).map_err(|e| at(e.message, 1, 1))?;
        self.substitute_macros(&mut expr)?;
        let compiled = adapter::compile(&expr).map_err(|e| at(e.message, 1, 1))?;
        Ok(AdHocFilter {
            filter: compiled.filter,
            types: adapter::event_types(&expr),
        })
    }

    /// Replaces each macro reference by the macro's resolved body (the loader resolved the
    /// macros' own references already); an unknown or broken macro is an error at its name.
    fn substitute_macros(&self, e: &mut Expr) -> Result<(), FilterError> {
        match e {
            Expr::And(children, _) | Expr::Or(children, _) => children
                .iter_mut()
                .try_for_each(|c| self.substitute_macros(c)),
            Expr::Not(child, _) => self.substitute_macros(child),
            Expr::Identifier(name, pos) => {
                let body = self
                    .compiled()
                    .macros
                    .iter()
                    .rev()
                    .find(|m| m.name == *name)
                    .and_then(|m| m.condition.as_deref());
                match body {
                    Some(b) => {
                        *e = b.clone();
                        Ok(())
                    }
                    None => Err(FilterError {
                        message: format!("Undefined macro '{name}' used in filter."),
                        line: pos.line as usize,
                        col: pos.col as usize,
                    }),
                }
            }
            Expr::Unary { .. } | Expr::Binary { .. } => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::Loader;
    use peregrine_testkit::synthetic::SyntheticEvent;

    const RULES: &str = r#"
- list: shells
  items: [bash, sh]
- macro: spawned
  condition: evt.type = execve
- macro: shell_spawned
  condition: spawned and proc.name in (shells)
- rule: r
  desc: d
  condition: shell_spawned
  output: o
  priority: WARNING
"#;

    fn rules() -> crate::RuleSet {
        let mut l = Loader::new();
        assert!(l.load_str("t.yaml", RULES), "{:?}", l.results());
        l.finish().0
    }

    #[test]
    fn macros_and_lists_of_the_loaded_rules_resolve() {
        let rs = rules();
        let f = rs
            .compile_filter("shell_spawned and not proc.name in (shells, zsh) or fd.name=/x")
            .expect("compiles");
        let mut s = crate::Scratch::new();
        let mut bash = SyntheticEvent::new("execve").with("proc.name", "bash");
        assert!(!f.matches(&mut bash, &mut s));
        let f = rs.compile_filter("shell_spawned").expect("compiles");
        assert!(f.matches(&mut bash, &mut s));
        let mut cat = SyntheticEvent::new("execve").with("proc.name", "cat");
        assert!(!f.matches(&mut cat, &mut s));
        let mut open = SyntheticEvent::new("openat").with("proc.name", "bash");
        assert!(!f.matches(&mut open, &mut s));
    }

    #[test]
    fn errors_are_at_the_typed_column() {
        let rs = rules();
        let e = rs
            .compile_filter("proc.name in (shells) and nosuchmacro")
            .expect_err("unknown macro");
        assert_eq!((e.line, e.col), (1, 27), "{e}");
        assert!(e.message.contains("nosuchmacro"), "{e}");
        let e = rs
            .compile_filter("proc.name in (shells) and proc.nope = x")
            .expect_err("unknown field");
        assert_eq!(e.col, 27, "{e}");
        let e = rs
            .compile_filter("proc.name = bash and (")
            .expect_err("syntax");
        assert!(e.col >= 22, "{e}");
        assert!(rs.compile_filter("   ").is_err());
        let e = rs
            .compile_filter("evt.type = execve and ka.verb = get")
            .expect_err("a k8s_audit field");
        assert_eq!(e.col, 23, "{e}");
    }
}
