//! The compiled, immutable rule set: rules indexed by event type so that an event is checked only
//! against the rules that can match its type (Falco's `evttype_index_ruleset`), plus Falco's
//! `rules[]` selection (enable/disable by name pattern or tag) and minimum priority.
//!
//! Selection does not mutate: it builds a new index over the same shared rules, so a running
//! engine can swap rule sets atomically.

use crate::adapter::Scratch;
use crate::compiler::{CompiledList, CompiledMacro, Rule};
use crate::info::Priority;
use crate::version::Version;
use peregrine_event::{EventType, EventTypeSet};
use peregrine_filter::ast::{CmpOp, Expr, Operand, Rhs, StrOp, UnaryOp};
use peregrine_filter::FieldSource;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::sync::Arc;

/// Index of a rule in [`RuleSet::rules`].
pub type RuleIdx = u32;

/// Falco's `rule_matching`: stop at the first matching rule or report all.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Matching {
    #[default]
    First,
    All,
}

/// What a `rules[]` entry selects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Selector {
    /// A rule name pattern matched against the whole name, `*` matching any run (Falco's
    /// `rules[].enable.rule` / `disable.rule`; without `*` the name must be equal).
    Rule(String),
    /// Rules whose name contains the text (Falco's legacy `-D` substring selection).
    RuleSubstring(String),
    Tag(String),
}

/// One `rules[]` entry of falco.yaml (`- enable: {rule: X}`, `- disable: {tag: T}`), applied
/// in order on top of each rule's own `enabled`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SelectionOp {
    Enable(Selector),
    Disable(Selector),
}

/// Rules selection and threshold.
#[derive(Clone, Debug, Default)]
pub struct Selection {
    pub ops: Vec<SelectionOp>,
    /// Rules less severe than this are not loaded (`priority:` in falco.yaml).
    pub min_priority: Option<Priority>,
}

/// Glob match with `*` only (any run, possibly empty), over whole names.
fn wildcard_match(pattern: &str, name: &str) -> bool {
    let p = pattern.as_bytes();
    let n = name.as_bytes();
    let (mut pi, mut ni) = (0usize, 0usize);
    let (mut star, mut mark) = (None, 0usize);
    while ni < n.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some(pi);
            pi += 1;
            mark = ni;
        } else if pi < p.len() && p[pi] == n[ni] {
            pi += 1;
            ni += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ni = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == b'*' {
        pi += 1;
    }
    pi == p.len()
}

impl Selector {
    fn matches(&self, rule: &Rule) -> bool {
        match self {
            Selector::Rule(p) => wildcard_match(p, &rule.name),
            Selector::RuleSubstring(p) => rule.name.contains(p.as_str()),
            Selector::Tag(t) => rule.tags.contains(t),
        }
    }
}

/// Everything the load produced, shared between selections.
#[derive(Debug, Default)]
pub(crate) struct Compiled {
    pub rules: Vec<Rule>,
    pub lists: Vec<CompiledList>,
    pub macros: Vec<CompiledMacro>,
    pub required_engine_version: Option<Version>,
}

/// The compiled rules with their per-event-type index.
#[derive(Clone, Debug)]
pub struct RuleSet {
    compiled: Arc<Compiled>,
    active: Vec<bool>,
    by_type: Vec<Vec<RuleIdx>>,
    /// The active rules of each plugin source (`k8s_audit`), in definition order: such
    /// events have no event type, every rule of their source sees each of them.
    by_source: Vec<(String, Vec<RuleIdx>)>,
}

impl Default for RuleSet {
    fn default() -> Self {
        RuleSet::new(Arc::new(Compiled::default()), &Selection::default())
    }
}

impl RuleSet {
    pub(crate) fn new(compiled: Arc<Compiled>, sel: &Selection) -> RuleSet {
        let mut active: Vec<bool> = compiled.rules.iter().map(|r| r.enabled).collect();
        for op in &sel.ops {
            let (s, on) = match op {
                SelectionOp::Enable(s) => (s, true),
                SelectionOp::Disable(s) => (s, false),
            };
            for (i, r) in compiled.rules.iter().enumerate() {
                if s.matches(r) {
                    active[i] = on;
                }
            }
        }
        if let Some(min) = sel.min_priority {
            for (i, r) in compiled.rules.iter().enumerate() {
                // Priority orders most severe first.
                if r.priority > min {
                    active[i] = false;
                }
            }
        }
        let mut by_type: Vec<Vec<RuleIdx>> = vec![Vec::new(); EventType::MAX_INDEX];
        for (i, r) in compiled.rules.iter().enumerate() {
            if !active[i] {
                continue;
            }
            for t in r.event_types.iter() {
                if let Some(slot) = by_type.get_mut(t.index()) {
                    slot.push(i as RuleIdx);
                }
            }
        }
        let mut by_source: Vec<(String, Vec<RuleIdx>)> = Vec::new();
        for (i, r) in compiled.rules.iter().enumerate() {
            if !active[i] || r.source == peregrine_filter::fields::SYSCALL_SOURCE {
                continue;
            }
            match by_source.iter_mut().find(|(s, _)| *s == r.source) {
                Some((_, v)) => v.push(i as RuleIdx),
                None => by_source.push((r.source.clone(), vec![i as RuleIdx])),
            }
        }
        RuleSet {
            compiled,
            active,
            by_type,
            by_source,
        }
    }

    /// A new rule set over the same rules with another selection (the rules' own `enabled`
    /// is the starting point).
    pub fn select(&self, sel: &Selection) -> RuleSet {
        RuleSet::new(self.compiled.clone(), sel)
    }

    pub(crate) fn compiled(&self) -> &Compiled {
        &self.compiled
    }

    /// Every compiled rule, enabled or not, in definition order.
    pub fn rules(&self) -> &[Rule] {
        &self.compiled.rules
    }

    pub fn rule(&self, idx: RuleIdx) -> Option<&Rule> {
        self.compiled.rules.get(idx as usize)
    }

    pub fn find(&self, name: &str) -> Option<RuleIdx> {
        self.compiled
            .rules
            .iter()
            .position(|r| r.name == name)
            .map(|i| i as RuleIdx)
    }

    pub fn is_active(&self, idx: RuleIdx) -> bool {
        self.active.get(idx as usize).copied().unwrap_or(false)
    }

    /// Number of active rules.
    pub fn active_count(&self) -> usize {
        self.active.iter().filter(|a| **a).count()
    }

    /// Every event type some active rule can match: what the capture must deliver.
    pub fn event_types(&self) -> EventTypeSet {
        self.compiled
            .rules
            .iter()
            .enumerate()
            .filter(|(i, _)| self.active[*i])
            .fold(EventTypeSet::empty(), |acc, (_, r)| {
                acc.union(&r.event_types)
            })
    }

    /// Falco's start-up warning when active rules match syscalls the capture will not deliver
    /// (`delivered` is what it delivers; non-syscall events are not reported, as in Falco).
    pub fn ignored_syscalls_warning(&self, delivered: &EventTypeSet) -> Option<String> {
        let mut names: Vec<&str> = self
            .event_types()
            .iter()
            .filter(|t| t.syscall_nr().is_some() && !delivered.contains(*t))
            .map(|t| t.name())
            .collect();
        if names.is_empty() {
            return None;
        }
        names.sort_unstable();
        let mut out = String::from(
            "\nRules match ignored syscall: warning (ignored-evttype):\nLoaded rules match the following events:\n",
        );
        for n in names {
            out.push_str("\t- ");
            out.push_str(n);
            out.push('\n');
        }
        out.push_str("But these events are not returned unless running falco with -A\n\n");
        Some(out)
    }

    /// The active rules that can match events of type `t`, in definition order.
    pub fn rules_for(&self, t: EventType) -> &[RuleIdx] {
        self.by_type
            .get(t.index())
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// The active rules of a plugin source, in definition order.
    pub fn rules_for_source(&self, source: &str) -> &[RuleIdx] {
        self.by_source
            .iter()
            .find(|(s, _)| s == source)
            .map_or(&[], |(_, v)| v.as_slice())
    }

    /// Evaluates the active rules of a plugin `source` on the event `src` describes, like
    /// [`RuleSet::evaluate`] does for syscall events.
    pub fn evaluate_source(
        &self,
        source: &str,
        src: &mut dyn FieldSource,
        mode: Matching,
        scratch: &mut Scratch,
        out: &mut Vec<RuleIdx>,
    ) {
        out.clear();
        for &i in self.rules_for_source(source) {
            let Some(rule) = self.compiled.rules.get(i as usize) else {
                continue;
            };
            if rule.filter.eval(src, scratch) {
                out.push(i);
                if mode == Matching::First {
                    return;
                }
            }
        }
    }

    /// Evaluates the active rules of the event's type; matching rule indexes go to `out`
    /// (cleared first). With [`Matching::First`] at most one. `scratch` is reused across
    /// events so that evaluation does not allocate.
    pub fn evaluate(
        &self,
        src: &mut dyn FieldSource,
        mode: Matching,
        scratch: &mut Scratch,
        out: &mut Vec<RuleIdx>,
    ) {
        out.clear();
        let t = src.event_type();
        for &i in self.rules_for(t) {
            let Some(rule) = self.compiled.rules.get(i as usize) else {
                continue;
            };
            if rule.filter.eval(src, scratch) {
                out.push(i);
                if mode == Matching::First {
                    return;
                }
            }
        }
    }

    /// [`RuleSet::evaluate`], timing each rule's condition: `record` gets the rule and its
    /// evaluation time in ns. Two clock reads per rule, so the engine calls it on sampled
    /// events only.
    pub fn evaluate_timed(
        &self,
        src: &mut dyn FieldSource,
        mode: Matching,
        scratch: &mut Scratch,
        out: &mut Vec<RuleIdx>,
        mut record: impl FnMut(RuleIdx, u64),
    ) {
        out.clear();
        let t = src.event_type();
        for &i in self.rules_for(t) {
            let Some(rule) = self.compiled.rules.get(i as usize) else {
                continue;
            };
            let start = std::time::Instant::now();
            let matched = rule.filter.eval(src, scratch);
            record(
                i,
                u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX),
            );
            if matched {
                out.push(i);
                if mode == Matching::First {
                    return;
                }
            }
        }
    }

    /// The `-l`-style JSON description of a rule (`None` if no such rule).
    pub fn describe_rule(&self, name: &str) -> Option<Value> {
        let r = self.compiled.rules.iter().find(|r| r.name == name)?;
        Some(describe(r, self.is_active(self.find(name)?)))
    }

    /// All rules, lists and macros, as `falco -L -o json_output=true` lists them.
    pub fn describe_all(&self) -> Value {
        let rules: Vec<Value> = self
            .compiled
            .rules
            .iter()
            .enumerate()
            .map(|(i, r)| describe(r, self.active[i]))
            .collect();
        let lists: Vec<Value> = self
            .compiled
            .lists
            .iter()
            .map(|l| json!({"info": {"name": l.name, "items": l.items}, "details": {"used": l.used}}))
            .collect();
        let macros: Vec<Value> = self
            .compiled
            .macros
            .iter()
            .map(|m| {
                json!({
                    "info": {"name": m.name},
                    "details": {
                        "used": m.used,
                        "condition_compiled": m.condition.as_deref().map(crate::adapter::render),
                    }
                })
            })
            .collect();
        json!({
            "required_engine_version": self.compiled.required_engine_version.map(|v| v.to_string()).unwrap_or_else(|| "0.0.0".into()),
            "required_plugin_versions": [],
            "lists": lists,
            "macros": macros,
            "rules": rules,
        })
    }
}

fn op_str(op: &CmpOp) -> String {
    let s = |o: &StrOp| -> &'static str {
        match o {
            StrOp::Eq => "=",
            StrOp::EqEq => "==",
            StrOp::Ne => "!=",
            StrOp::Glob => "glob",
            StrOp::IGlob => "iglob",
            StrOp::Contains => "contains",
            StrOp::IContains => "icontains",
            StrOp::BContains => "bcontains",
            StrOp::StartsWith => "startswith",
            StrOp::BStartsWith => "bstartswith",
            StrOp::EndsWith => "endswith",
            StrOp::Regex => "regex",
        }
    };
    match op {
        CmpOp::Eq => "=".into(),
        CmpOp::EqEq => "==".into(),
        CmpOp::Ne => "!=".into(),
        CmpOp::Lt => "<".into(),
        CmpOp::Le => "<=".into(),
        CmpOp::Gt => ">".into(),
        CmpOp::Ge => ">=".into(),
        CmpOp::Contains => "contains".into(),
        CmpOp::IContains => "icontains".into(),
        CmpOp::BContains => "bcontains".into(),
        CmpOp::StartsWith => "startswith".into(),
        CmpOp::BStartsWith => "bstartswith".into(),
        CmpOp::EndsWith => "endswith".into(),
        CmpOp::Glob => "glob".into(),
        CmpOp::IGlob => "iglob".into(),
        CmpOp::Regex => "regex".into(),
        CmpOp::In => "in".into(),
        CmpOp::Intersects => "intersects".into(),
        CmpOp::PMatch => "pmatch".into(),
        CmpOp::Modified(o, m) => format!(
            "{} {}",
            s(o),
            match m {
                peregrine_filter::ast::Modifier::OneOf => "oneof",
                peregrine_filter::ast::Modifier::AnyOf => "anyof",
                peregrine_filter::ast::Modifier::AllOf => "allof",
            }
        ),
    }
}

fn operand_fields(o: &Operand, out: &mut BTreeSet<String>) {
    match o {
        Operand::Field(f) => {
            out.insert(f.name.clone());
        }
        Operand::Transformer(t) => {
            for a in &t.args {
                if let peregrine_filter::ast::TransformerArg::Field(f) = a {
                    out.insert(f.name.clone());
                }
            }
        }
    }
}

fn condition_details(e: &Expr, fields: &mut BTreeSet<String>, ops: &mut BTreeSet<String>) {
    match e {
        Expr::And(c, _) | Expr::Or(c, _) => {
            c.iter().for_each(|x| condition_details(x, fields, ops))
        }
        Expr::Not(c, _) => condition_details(c, fields, ops),
        Expr::Identifier(..) => {}
        Expr::Unary { left, op, .. } => {
            operand_fields(left, fields);
            match op {
                UnaryOp::Exists => ops.insert("exists".into()),
            };
        }
        Expr::Binary {
            left, op, right, ..
        } => {
            operand_fields(left, fields);
            if let Rhs::Transformer(t) = right {
                for a in &t.args {
                    if let peregrine_filter::ast::TransformerArg::Field(f) = a {
                        fields.insert(f.name.clone());
                    }
                }
            }
            ops.insert(op_str(op));
        }
    }
}

fn describe(r: &Rule, enabled: bool) -> Value {
    let mut fields = BTreeSet::new();
    let mut ops = BTreeSet::new();
    condition_details(&r.condition, &mut fields, &mut ops);
    let mut events: Vec<&str> = r.event_types.iter().map(|t| t.name()).collect();
    events.sort_unstable();
    json!({
        "info": {
            "name": r.name,
            "condition": r.condition_text,
            "desc": r.desc,
            "enabled": enabled,
            "output": r.output,
            "priority": r.priority.as_str(),
            "source": r.source,
            "tags": r.tags,
        },
        "details": {
            "condition_compiled": crate::adapter::render(&r.condition),
            "output_compiled": r.output,
            "events": events,
            "exception_fields": r.exception_fields,
            "condition_fields": fields,
            "condition_operators": ops,
            "macros": r.macros,
            "lists": r.lists,
            "plugins": [],
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        for (p, n, m) in [
            ("*", "anything", true),
            ("open_*", "open_1", true),
            ("open_*", "xopen_1", false),
            ("*cat*", "open from cat now", true),
            ("a*b*c", "aXbYc", true),
            ("a*b*c", "aXbY", false),
            ("exact", "exact", true),
        ] {
            assert_eq!(wildcard_match(p, n), m, "{p} {n}");
        }
    }
}
