//! Turns the collected items into compiled rules with Falco's semantics
//! (`rule_loader_compiler.cpp`): lists are expanded into lists defined before them, then
//! substituted *textually* into every condition before parsing; exceptions are compiled into
//! condition text; macros are resolved on the AST with visibility order (a macro sees macros
//! defined before it, a rule sees all); the resolved condition is compiled and its event types
//! inferred.
//!
//! Falco stops compiling at the first error; we go on with the next item so every problem is
//! reported, but like Falco we only emit the unused macro/list warnings when nothing failed.

use crate::adapter::{self, CondError, Filter, OutputFormat};
use crate::collector::{is_list_op, Collector};
use crate::info::{ExceptionInfo, Priority, RuleInfo};
use crate::result::{Context, ErrorCode, LoadResult, WarningCode};
use peregrine_event::EventTypeSet;
use peregrine_filter::ast::{CmpOp, Expr, Operand, Rhs};
use peregrine_filter::fields::SYSCALL_SOURCE;
use rustc_hash::FxHashMap;
use std::collections::BTreeSet;
use std::sync::Arc;

/// A compiled rule, immutable once built.
#[derive(Debug)]
pub struct Rule {
    pub name: String,
    pub desc: String,
    pub priority: Priority,
    pub tags: BTreeSet<String>,
    pub source: String,
    /// The condition text as written (after appends), before lists and exceptions.
    pub condition_text: String,
    /// The list-substituted, macro-resolved, exception-appended condition (shared with the
    /// loader's cache, so a rule compiled again unchanged costs no copy).
    pub condition: Arc<Expr>,
    /// Shared with the loader's cache: an unchanged rule compiled again by a later content's
    /// validation reuses the same program.
    pub(crate) filter: Arc<Filter>,
    pub output: String,
    /// Shared with the loader's cache, like `filter`.
    pub(crate) format: Arc<OutputFormat>,
    pub event_types: EventTypeSet,
    pub capture: bool,
    pub capture_duration: u32,
    pub enabled: bool,
    pub exception_fields: BTreeSet<String>,
    /// Macro and list names the condition used (for `-l` details).
    pub macros: BTreeSet<String>,
    pub lists: BTreeSet<String>,
    /// Where the rule is defined: the rules file (or embedded content's name) and the
    /// 1-based line of its `- rule:` item, for the console's rules page.
    pub file: String,
    pub line: usize,
}

impl Rule {
    /// The resolved condition in libsinsp's normalised text (`condition_compiled` of `-l`).
    pub fn condition_compiled(&self) -> String {
        adapter::render(&self.condition)
    }

    /// The compiled output format.
    pub fn output_format(&self) -> &OutputFormat {
        &self.format
    }

    /// Whether the compiled condition matches the current event of `src`.
    pub fn matches(
        &self,
        src: &mut dyn peregrine_filter::FieldSource,
        scratch: &mut adapter::Scratch,
    ) -> bool {
        self.filter.eval(src, scratch)
    }
}

/// A list after expansion of the lists it references.
#[derive(Clone, Debug)]
pub struct CompiledList {
    pub name: String,
    pub items: Vec<String>,
    pub used: bool,
}

/// A macro's condition after list substitution and resolution of the macros it sees.
#[derive(Clone, Debug)]
pub struct CompiledMacro {
    pub name: String,
    /// `None` when the condition failed to parse or resolve (already reported). Shared with
    /// the parse cache when the macro names no other macro.
    pub condition: Option<Arc<Expr>>,
    pub used: bool,
}

#[derive(Debug, Default)]
pub(crate) struct CompileOutput {
    pub lists: Vec<CompiledList>,
    pub macros: Vec<CompiledMacro>,
    pub rules: Vec<Rule>,
}

/// Wraps an item containing a blank in double quotes unless it is already quoted.
fn quote_item(e: &str) -> String {
    if e.contains(' ') && !e.starts_with('"') && !e.starts_with('\'') {
        format!("\"{e}\"")
    } else {
        e.to_string()
    }
}

fn paren_item(e: &str) -> String {
    if e.starts_with('(') {
        e.to_string()
    } else {
        format!("({e})")
    }
}

fn find_from(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() || from > hay.len() {
        return None;
    }
    memchr::memmem::find(&hay[from..], needle).map(|p| p + from)
}

/// The maximal runs of characters that are not list-substitution delimiters. The delimiters
/// are ASCII, so splitting bytes (rather than decoding characters) finds the same runs and
/// every cut is a character boundary.
fn tokens_of(text: &str) -> impl Iterator<Item = &str> {
    let b = text.as_bytes();
    let mut i = 0;
    std::iter::from_fn(move || {
        while i < b.len() && is_list_delimiter(b[i]) {
            i += 1;
        }
        let start = i;
        while i < b.len() && !is_list_delimiter(b[i]) {
            i += 1;
        }
        // `get` is always `Some` here (cuts are at ASCII bytes); `None` only ends the
        // iteration at the end of the text.
        text.get(start..i).filter(|t| !t.is_empty())
    })
}

fn is_list_delimiter(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | b'(' | b')' | b',' | b'=')
}

/// Falco's `resolve_list`: substitutes `list` wherever its name is delimited by start/end,
/// blanks or `(),=`. Returns whether it was used.
pub(crate) fn resolve_list(cnd: &mut String, name: &str, items: &[String]) -> bool {
    const BLANKS: &[u8] = b" \t\n\r";
    const DELIMS: &[u8] = b" \t\n\r(),=";
    if !cnd.contains(name) {
        return false;
    }
    let mut c: Vec<u8> = std::mem::take(cnd).into_bytes();
    let nb = name.as_bytes();
    let mut used = false;
    let mut start_opt = find_from(&c, nb, 0);
    while let Some(mut start) = start_opt {
        let mut end = start + nb.len();
        if (start == 0 || DELIMS.contains(&c[start - 1]))
            && (end >= c.len() || DELIMS.contains(&c[end]))
        {
            while start > 0 && BLANKS.contains(&c[start - 1]) {
                start -= 1;
            }
            while end < c.len() && BLANKS.contains(&c[end]) {
                end += 1;
            }
            let sub = items
                .iter()
                .map(|v| quote_item(v))
                .collect::<Vec<_>>()
                .join(", ");
            if sub.is_empty() {
                if start > 0 && c[start - 1] == b',' {
                    start -= 1;
                } else if end < c.len() && c[end] == b',' {
                    end += 1;
                }
            }
            let mut n = Vec::with_capacity(c.len() + sub.len() + 2);
            if start > 0 {
                n.extend_from_slice(&c[..start]);
                n.push(b' ');
            }
            n.extend_from_slice(sub.as_bytes());
            n.push(b' ');
            if end <= c.len() {
                n.extend_from_slice(&c[end..]);
            }
            c = n;
            start += sub.len() + 1;
            used = true;
        }
        start_opt = find_from(&c, nb, start + 1);
    }
    // Only whole names and ASCII delimiters were spliced, so the text is still UTF-8.
    *cnd = String::from_utf8(c).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into());
    used
}

/// Falco's `build_rule_exception_infos`, extended with the `<op> oneof|anyof|allof` comps:
/// `(<cond>) and not (<exception>)…` as text.
pub(crate) fn build_exceptions(
    exceptions: &[ExceptionInfo],
    fields_out: &mut BTreeSet<String>,
    condition: &mut String,
) -> Result<(), (String, Context)> {
    *condition = format!("({condition})");
    for ex in exceptions {
        let mut icond = String::new();
        if !ex.fields.is_list {
            for val in &ex.values {
                if val.is_list {
                    return Err((
                        "Expected values array to contain a list of strings".into(),
                        ex.ctx.clone(),
                    ));
                }
                if icond.is_empty() {
                    icond = format!("({} {} (", ex.fields.item, ex.comps.item);
                } else {
                    icond.push_str(", ");
                }
                fields_out.insert(ex.fields.item.clone());
                icond.push_str(&quote_item(&val.item));
            }
            if !icond.is_empty() {
                icond.push_str("))");
            }
        } else {
            icond.push('(');
            for values in &ex.values {
                if ex.fields.items.len() != values.items.len() {
                    return Err((
                        "Fields and values lists must have equal length".into(),
                        ex.ctx.clone(),
                    ));
                }
                if icond != "(" {
                    icond.push_str(" or ");
                }
                icond.push('(');
                for (k, field) in ex.fields.items.iter().enumerate() {
                    if k > 0 {
                        icond.push_str(" and ");
                    }
                    let comp = ex
                        .comps
                        .items
                        .get(k)
                        .map(|c| c.item.as_str())
                        .unwrap_or("=");
                    let v = &values.items[k];
                    let istr = if v.is_list {
                        let inner: Vec<String> =
                            v.items.iter().map(|i| quote_item(&i.item)).collect();
                        format!("({})", inner.join(", "))
                    } else if is_list_op(comp) {
                        paren_item(&v.item)
                    } else {
                        quote_item(&v.item)
                    };
                    icond.push(' ');
                    icond.push_str(&field.item);
                    icond.push(' ');
                    icond.push_str(comp);
                    icond.push(' ');
                    icond.push_str(&istr);
                    fields_out.insert(field.item.clone());
                }
                icond.push(')');
            }
            icond.push(')');
            if icond == "()" {
                icond.clear();
            }
        }
        if !icond.is_empty() {
            condition.push_str(" and not ");
            condition.push_str(&icond);
        }
    }
    Ok(())
}

fn cond_ctx_at(ctx: &Context, e: &CondError, condition: &str) -> Context {
    ctx.in_condition(e.idx, e.line, e.col, condition)
}

/// Results that depend only on their input text, kept across the compiles of one loader (Falco
/// recompiles everything collected after each file, so most conditions and outputs repeat).
#[derive(Debug, Default)]
pub(crate) struct Caches {
    /// Parsed conditions are shared, never copied: macro resolution only reads them.
    parsed: FxHashMap<String, Arc<Expr>>,
    outputs: FxHashMap<String, Arc<OutputFormat>>,
    /// A rule's resolved condition with everything computed from it: the AST, its warnings
    /// and its compiled filter (or the error). Building, checking and compiling it were the
    /// largest costs of a load, and with Falco's compile-after-each-content most rules come
    /// back unchanged. The key is what the resolved AST is a function of
    /// ([`resolution_key`]), not the AST itself: hashing the expanded AST cost more than the
    /// compile it saved.
    resolved: FxHashMap<ResolutionKey, ResolvedCondition>,
    /// Resolved bodies of macros that name other macros, by the same kind of key.
    macros: FxHashMap<ResolutionKey, Arc<Expr>>,
    /// Texts and names by id, equal texts getting equal ids for the life of the loader, so
    /// that a [`ResolutionKey`] names (kilobytes of) macro texts with a few integers.
    interned: FxHashMap<String, u32>,
}

/// The texts a resolved condition is a function of, as [`Caches::intern`] ids: the
/// condition's own list-substituted text, and each macro it pulls in (by name) with that
/// macro's list-substituted text.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct ResolutionKey {
    text: u32,
    macros: Vec<(u32, u32)>,
}

/// What [`Caches::resolved`] keeps per resolved rule condition.
#[derive(Debug)]
struct ResolvedCondition {
    ast: Arc<Expr>,
    /// A `<NA>` comparison on a `ka.`/`jevt.` field, and the deprecated fields used.
    unsafe_na: bool,
    deprecated: BTreeSet<&'static str>,
    compiled: Result<CompiledCondition, CondError>,
}

/// A compiled condition as cached: the filter, its warnings and its event types.
#[derive(Clone, Debug)]
struct CompiledCondition {
    filter: Arc<Filter>,
    warnings: Vec<CondError>,
    event_types: EventTypeSet,
}

impl Caches {
    fn intern(&mut self, text: &str) -> u32 {
        if let Some(&id) = self.interned.get(text) {
            return id;
        }
        let id = self.interned.len() as u32;
        self.interned.insert(text.to_string(), id);
        id
    }

    fn parse(&mut self, text: &str) -> Result<Arc<Expr>, CondError> {
        memo(&mut self.parsed, text, adapter::parse)
    }

    fn output(&mut self, text: &str) -> Result<Arc<OutputFormat>, String> {
        memo(&mut self.outputs, text, adapter::compile_output)
    }
}

/// The value cached for `text`, or `make(text)`, cached when it succeeds (failures are rare
/// and reported anew each time).
fn memo<T, E>(
    map: &mut FxHashMap<String, Arc<T>>,
    text: &str,
    make: impl FnOnce(&str) -> Result<T, E>,
) -> Result<Arc<T>, E> {
    if let Some(v) = map.get(text) {
        return Ok(Arc::clone(v));
    }
    let v = Arc::new(make(text)?);
    map.insert(text.to_string(), Arc::clone(&v));
    Ok(v)
}

/// List names → their position in substitution order, built once per compile. Every token
/// of every condition is looked up here on each compile, so it uses the fast non-DoS-resistant
/// hasher (keys come from the rules files being loaded, not from the network).
pub(crate) struct ListIndex(FxHashMap<String, usize>);

impl ListIndex {
    fn new(lists: &[CompiledList]) -> ListIndex {
        let mut m = FxHashMap::default();
        m.reserve(lists.len());
        for (i, l) in lists.iter().enumerate() {
            m.entry(l.name.clone()).or_insert(i);
        }
        ListIndex(m)
    }
}

/// Substitutes every list into `condition` (Falco's `resolve_list` for each list in order)
/// and parses it.
fn parse_condition(
    caches: &mut Caches,
    condition: &str,
    lists: &mut [CompiledList],
    index: &ListIndex,
    used_lists: &mut BTreeSet<String>,
    ctx: &Context,
) -> Result<(Arc<Expr>, String), (ErrorCode, String, Context)> {
    let mut text = condition.to_string();
    // A list substitutes only where its name is a whole token (delimited by blanks, `(),=` or
    // the ends), so only lists named by a token are candidates. They are applied in list
    // order; items a substitution brings in may name later lists, which then apply too, as
    // when Falco runs every list over the text in turn.
    let mut pending: BTreeSet<usize> = tokens_of(condition)
        .filter_map(|t| index.0.get(t).copied())
        .collect();
    let mut used = Vec::new();
    while let Some(i) = pending.pop_first() {
        let l = &lists[i];
        if resolve_list(&mut text, &l.name, &l.items) {
            used.push(i);
            for item in &l.items {
                pending.extend(
                    tokens_of(item)
                        .filter_map(|t| index.0.get(t).copied())
                        .filter(|&j| j > i),
                );
            }
        }
    }
    for i in used {
        lists[i].used = true;
        used_lists.insert(lists[i].name.clone());
    }
    match caches.parse(&text) {
        Ok(e) => Ok((e, text)),
        Err(e) => Err((
            ErrorCode::CompileCondition,
            e.message.clone(),
            cond_ctx_at(ctx, &e, &text),
        )),
    }
}

/// Each macro's list-substituted text and the macros its own resolution pulled in, by
/// position: what [`resolution_key`] needs.
#[derive(Default)]
struct MacroSources {
    /// [`Caches::intern`] ids of the texts.
    texts: Vec<u32>,
    deps: Vec<BTreeSet<String>>,
}

/// A key that determines a successfully resolved condition: its list-substituted text (`text`,
/// interned) and the name and list-substituted text of every macro it pulls in, directly or
/// through other macros. Parsing is a function of the text, and a macro name resolves to the body parsed
/// from that macro's text (a resolution that differs otherwise fails and never reaches the
/// compile), so equal keys mean equal resolved ASTs, positions included.
fn resolution_key(
    text: u32,
    resolved: &BTreeSet<String>,
    col: &Collector,
    sources: &MacroSources,
    caches: &mut Caches,
) -> ResolutionKey {
    let mut all: BTreeSet<&str> = resolved.iter().map(String::as_str).collect();
    let mut todo: Vec<&str> = all.iter().copied().collect();
    while let Some(name) = todo.pop() {
        let Some(deps) = col.macros.position(name).and_then(|i| sources.deps.get(i)) else {
            continue;
        };
        for d in deps {
            if all.insert(d) {
                todo.push(d);
            }
        }
    }
    ResolutionKey {
        text,
        macros: all
            .into_iter()
            .map(|name| {
                let body = col.macros.position(name).and_then(|i| sources.texts.get(i));
                (caches.intern(name), body.copied().unwrap_or(u32::MAX))
            })
            .collect(),
    }
}

/// The macros a condition may see and how to find them.
struct MacroEnv<'a> {
    col: &'a Collector,
    macros: &'a [CompiledMacro],
    visibility: u32,
}

struct Resolution {
    /// Nodes macro substitution may still copy into this condition.
    budget: usize,
    too_large: bool,
    errors: Vec<(String, peregrine_filter::ast::Pos)>,
    unknown: Vec<(String, peregrine_filter::ast::Pos)>,
    resolved: BTreeSet<String>,
    /// A macro that exists but failed to compile was referenced (already reported).
    poisoned: bool,
    path: Vec<String>,
}

impl Default for Resolution {
    fn default() -> Self {
        Resolution {
            budget: MAX_RESOLVED_NODES,
            too_large: false,
            errors: Vec::new(),
            unknown: Vec::new(),
            resolved: BTreeSet::new(),
            poisoned: false,
            path: Vec::new(),
        }
    }
}

/// Most nodes a condition may hold once macros are substituted (the largest upstream rule
/// needs a few thousand).
const MAX_RESOLVED_NODES: usize = 200_000;

fn expr_size(e: &Expr) -> usize {
    let mut n = 0;
    let mut todo = vec![e];
    while let Some(e) = todo.pop() {
        n += 1;
        match e {
            Expr::And(c, _) | Expr::Or(c, _) => todo.extend(c.iter()),
            Expr::Not(c, _) => todo.push(c),
            _ => {}
        }
    }
    n
}

/// Checks the macro references of a condition as `filter_macro_resolver` resolves them
/// (recursively, with loop detection and a node budget), without copying anything: `r` ends up
/// exactly as a substitution would leave it, and [`substitute_macros`] builds the tree only
/// when it is needed and valid. Walking by reference is what makes re-checking a condition
/// that a cache already holds cheap.
fn check_macros(e: &Expr, env: &MacroEnv<'_>, r: &mut Resolution) {
    match e {
        Expr::And(children, _) | Expr::Or(children, _) => {
            for c in children {
                check_macros(c, env, r);
            }
        }
        Expr::Not(child, _) => check_macros(child, env, r),
        Expr::Identifier(name, pos) => {
            let Some(body) = visible_macro(name, *pos, env, r) else {
                return;
            };
            if r.path.iter().any(|p| p == name) {
                r.errors
                    .push((format!("reference loop in macro '{name}'"), *pos));
                r.unknown.push((name.clone(), *pos));
                return;
            }
            // Macros of macros can grow a condition exponentially: every copy is paid for
            // from a fixed node budget.
            let size = expr_size(body);
            if size > r.budget {
                r.too_large = true;
                return;
            }
            r.budget -= size;
            r.path.push(name.clone());
            check_macros(body, env, r);
            r.resolved.insert(name.clone());
            r.path.pop();
        }
        Expr::Unary { .. } | Expr::Binary { .. } => {}
    }
}

/// The body of the macro `name` refers to, if it is visible and compiled; records an unknown
/// or poisoned reference in `r` otherwise.
fn visible_macro<'e>(
    name: &str,
    pos: peregrine_filter::ast::Pos,
    env: &MacroEnv<'e>,
    r: &mut Resolution,
) -> Option<&'e Expr> {
    let found = env.col.macros.position(name).and_then(|i| {
        let info = &env.col.macros.items[i];
        (info.index < env.visibility).then_some(i)
    });
    let Some(i) = found else {
        r.unknown.push((name.to_string(), pos));
        return None;
    };
    let body = env.macros.get(i).and_then(|m| m.condition.as_deref());
    if body.is_none() {
        r.poisoned = true;
    }
    body
}

/// Replaces every macro reference by a copy of the macro's body, recursively. Only called
/// after [`check_macros`] found no error, so every reference resolves.
fn substitute_macros(e: &mut Expr, env: &MacroEnv<'_>) {
    match e {
        Expr::And(children, _) | Expr::Or(children, _) => {
            for c in children {
                substitute_macros(c, env);
            }
        }
        Expr::Not(child, _) => substitute_macros(child, env),
        Expr::Identifier(name, pos) => {
            let mut scratch = Resolution::default();
            if let Some(body) = visible_macro(name, *pos, env, &mut scratch) {
                let mut new = body.clone();
                substitute_macros(&mut new, env);
                *e = new;
            }
        }
        Expr::Unary { .. } | Expr::Binary { .. } => {}
    }
}

/// Deepest nesting a condition may reach once macros are substituted. The parser bounds each
/// condition to Falco's 1000 levels, but macros inside macros multiply that; the compiler and
/// the resolver recurse over the tree, so the expanded tree is bounded too.
const MAX_RESOLVED_DEPTH: usize = 1000;

fn too_deep() -> String {
    format!("condition nesting exceeds {MAX_RESOLVED_DEPTH} levels after macro expansion")
}

/// Whether a condition names a macro (or an unknown identifier), computed without recursion.
fn has_identifier(e: &Expr) -> bool {
    let mut todo = vec![e];
    while let Some(e) = todo.pop() {
        match e {
            Expr::Identifier(..) => return true,
            Expr::And(c, _) | Expr::Or(c, _) => todo.extend(c.iter()),
            Expr::Not(c, _) => todo.push(c),
            Expr::Unary { .. } | Expr::Binary { .. } => {}
        }
    }
    false
}

/// Nesting depth of a condition, computed without recursion.
fn expr_depth(e: &Expr) -> usize {
    let mut max = 0;
    let mut todo = vec![(e, 1usize)];
    while let Some((e, d)) = todo.pop() {
        max = max.max(d);
        match e {
            Expr::And(c, _) | Expr::Or(c, _) => todo.extend(c.iter().map(|x| (x, d + 1))),
            Expr::Not(c, _) => todo.push((c, d + 1)),
            _ => {}
        }
    }
    max
}

fn too_large() -> String {
    format!("condition exceeds {MAX_RESOLVED_NODES} nodes after macro expansion")
}

fn resolution_error(r: &Resolution) -> Option<(String, peregrine_filter::ast::Pos)> {
    if let Some((m, p)) = r.errors.first() {
        return Some((m.clone(), *p));
    }
    r.unknown
        .first()
        .map(|(n, p)| (format!("Undefined macro '{n}' used in filter."), *p))
}

const DEPRECATED_FIELDS: &[(&str, &str)] = &[
    ("evt.dir", "due to the drop of enter events, 'evt.dir = <' always evaluates to true, and 'evt.dir = >' always evaluates to false. The rule expression can be simplified by removing the condition on 'evt.dir'"),
    ("evt.latency", "field is not available due to the drop of enter events."),
    ("evt.latency.s", "field is not available due to the drop of enter events."),
    ("evt.latency.ns", "field is not available due to the drop of enter events."),
    ("evt.latency.human", "field is not available due to the drop of enter events."),
    ("evt.wait_latency", "field is not available due to the drop of enter events."),
];

/// `filter_warning_resolver`: `<NA>` equality checks on `ka.`/`jevt.` fields and deprecated
/// fields, each reported once per condition.
fn condition_warnings(e: &Expr, na: &mut bool, deprecated: &mut BTreeSet<&'static str>) {
    match e {
        Expr::And(c, _) | Expr::Or(c, _) => {
            for x in c {
                condition_warnings(x, na, deprecated);
            }
        }
        Expr::Not(c, _) => condition_warnings(c, na, deprecated),
        Expr::Identifier(..) => {}
        Expr::Unary { left, .. } => note_deprecated(left, deprecated),
        Expr::Binary {
            left, op, right, ..
        } => {
            note_deprecated(left, deprecated);
            if let Operand::Field(f) = left {
                let unsafe_field = f.name.starts_with("ka.") || f.name.starts_with("jevt.");
                let equality = matches!(
                    op,
                    CmpOp::Eq
                        | CmpOp::EqEq
                        | CmpOp::Ne
                        | CmpOp::In
                        | CmpOp::Intersects
                        | CmpOp::PMatch
                );
                if unsafe_field && equality {
                    let hit = match right {
                        Rhs::Value(v, _) => v == b"<NA>",
                        Rhs::List(items, _) => items.iter().any(|(v, _)| v == b"<NA>"),
                        _ => false,
                    };
                    *na |= hit;
                }
            }
        }
    }
}

fn note_deprecated(op: &Operand, out: &mut BTreeSet<&'static str>) {
    if let Operand::Field(f) = op {
        if let Some((name, _)) = DEPRECATED_FIELDS.iter().find(|(n, _)| *n == f.name) {
            out.insert(name);
        }
    }
}

fn deprecated_desc(name: &str) -> &'static str {
    DEPRECATED_FIELDS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, d)| *d)
        .unwrap_or("")
}

fn err_is_unknown_type_or_field(err: &str) -> bool {
    err.contains("nonexistent field")
        || err.contains("invalid formatting token")
        || err.contains("unknown event type")
        || err.contains("unknown filter:")
}

/// Rules matching more event types than this get `LOAD_NO_EVTTYPE`: Falco's threshold is 100
/// libscap event codes, i.e. about 50 syscalls counted as enter/exit pairs.
const MAX_EVTTYPES: usize = 50;

/// Compiles everything collected; problems go to `res`.
pub(crate) fn compile(col: &Collector, res: &mut LoadResult, caches: &mut Caches) -> CompileOutput {
    let errors_before = res.errors.len();
    let mut out = CompileOutput::default();

    // Lists: expand references to lists defined before this one.
    let mut used_names: Vec<String> = Vec::new();
    for l in col.lists.iter() {
        let mut items = Vec::with_capacity(l.items.len());
        for item in &l.items {
            match col.lists.get(item) {
                Some(r) if r.index < l.visibility => {
                    used_names.push(r.name.clone());
                    items.extend(r.items.iter().cloned());
                }
                _ => items.push(item.clone()),
            }
        }
        out.lists.push(CompiledList {
            name: l.name.clone(),
            items,
            used: false,
        });
    }
    for n in used_names {
        if let Some(i) = col.lists.position(&n) {
            out.lists[i].used = true;
        }
    }

    // Macros: parse all, then resolve each in order with its visibility.
    let index = ListIndex::new(&out.lists);
    let mut scratch = BTreeSet::new();
    // Each macro's list-substituted text (empty when it failed to parse) and dependencies.
    let mut sources = MacroSources::default();
    for m in col.macros.iter() {
        let condition = match parse_condition(
            caches,
            &m.cond,
            &mut out.lists,
            &index,
            &mut scratch,
            &m.cond_ctx,
        ) {
            Ok((e, text)) => {
                sources.texts.push(caches.intern(&text));
                Some(e)
            }
            Err((code, msg, ctx)) => {
                sources.texts.push(caches.intern(""));
                res.error(code, msg, &ctx);
                None
            }
        };
        out.macros.push(CompiledMacro {
            name: m.name.clone(),
            condition,
            used: false,
        });
    }
    sources.deps = vec![BTreeSet::new(); out.macros.len()];
    for i in 0..out.macros.len() {
        let info = &col.macros.items[i];
        // A macro that names no other macro resolves to itself: only the depth check applies,
        // and its body need not be copied (most macros are such leaves).
        if let Some(body) = &out.macros[i].condition {
            if !has_identifier(body) {
                if expr_depth(body) > MAX_RESOLVED_DEPTH {
                    res.error(ErrorCode::CompileCondition, too_deep(), &info.cond_ctx);
                    out.macros[i].condition = None;
                }
                continue;
            }
        }
        // While a macro resolves, its own unresolved body stays visible so that a reference
        // loop through it is detected (as Falco does).
        let Some(body) = out.macros[i].condition.clone() else {
            continue;
        };
        let mut r = Resolution::default();
        let env = MacroEnv {
            col,
            macros: &out.macros,
            visibility: info.visibility,
        };
        check_macros(&body, &env, &mut r);
        // The resolved body, from the cache when an earlier compile resolved the same texts;
        // `Err(())` when it nests too deeply.
        let cond = if resolution_error(&r).is_none() && !r.poisoned && !r.too_large {
            let key = resolution_key(sources.texts[i], &r.resolved, col, &sources, caches);
            Some(match caches.macros.get(&key) {
                Some(ast) => Ok(Arc::clone(ast)),
                None => {
                    let mut cond = Expr::clone(&body);
                    substitute_macros(&mut cond, &env);
                    if expr_depth(&cond) > MAX_RESOLVED_DEPTH {
                        Err(())
                    } else {
                        let cond = Arc::new(cond);
                        caches.macros.insert(key, Arc::clone(&cond));
                        Ok(cond)
                    }
                }
            })
        } else {
            None
        };
        for name in &r.resolved {
            if let Some(j) = col.macros.position(name) {
                out.macros[j].used = true;
            }
        }
        sources.deps[i] = r.resolved.clone();
        if let Some((msg, pos)) = resolution_error(&r) {
            let ctx = info.ctx.in_condition(
                pos.idx as usize,
                pos.line as usize,
                pos.col as usize,
                &info.cond,
            );
            res.error(ErrorCode::Validate, msg, &ctx);
            // Poisoned: rules and macros using it are skipped without a cascade of errors.
            out.macros[i].condition = None;
            continue;
        }
        if r.poisoned {
            out.macros[i].condition = None;
            continue;
        }
        if r.too_large {
            res.error(ErrorCode::CompileCondition, too_large(), &info.cond_ctx);
            out.macros[i].condition = None;
            continue;
        }
        match cond {
            Some(Ok(cond)) => out.macros[i].condition = Some(cond),
            Some(Err(())) => {
                res.error(ErrorCode::CompileCondition, too_deep(), &info.cond_ctx);
                out.macros[i].condition = None;
            }
            None => {}
        }
    }

    for r in col.rules.iter() {
        if r.unknown_source {
            continue;
        }
        if let Some(rule) = compile_rule(col, r, &index, &sources, caches, &mut out, res) {
            out.rules.push(rule);
        }
    }

    if res.errors.len() == errors_before {
        for (i, m) in out.macros.iter().enumerate() {
            if !m.used {
                res.warn(
                    WarningCode::UnusedMacro,
                    "Macro not referred to by any other rule/macro",
                    &col.macros.items[i].ctx,
                );
            }
        }
        for (i, l) in out.lists.iter().enumerate() {
            if !l.used {
                res.warn(
                    WarningCode::UnusedList,
                    "List not referred to by any other rule/macro",
                    &col.lists.items[i].ctx,
                );
            }
        }
    }
    out
}

fn compile_rule(
    col: &Collector,
    r: &RuleInfo,
    index: &ListIndex,
    sources: &MacroSources,
    caches: &mut Caches,
    out: &mut CompileOutput,
    res: &mut LoadResult,
) -> Option<Rule> {
    let mut condition = r.cond.clone();
    let mut exception_fields = BTreeSet::new();
    if !r.exceptions.is_empty() {
        if let Err((msg, ctx)) =
            build_exceptions(&r.exceptions, &mut exception_fields, &mut condition)
        {
            res.error(ErrorCode::Validate, msg, &ctx);
            return None;
        }
    }

    let mut output = r.output.clone();
    if output.contains("%container.info") {
        res.warn(
            WarningCode::DeprecatedItem,
            "%container.info is deprecated and no more useful, and will be dropped by Falco 1.0.0. The container plugin will automatically add required fields to the output message.",
            &r.ctx,
        );
        output = output.replace("%container.info", "");
    }
    let format = match caches.output(&output) {
        Ok(f) => f,
        Err(err) => {
            if err_is_unknown_type_or_field(&err) && r.skip_if_unknown_filter {
                res.warn(WarningCode::UnknownFilter, err, &r.output_ctx);
            } else {
                res.error(ErrorCode::CompileOutput, err, &r.output_ctx);
            }
            return None;
        }
    };
    for (name, _) in DEPRECATED_FIELDS {
        if output.contains(name) {
            res.warn(
                WarningCode::DeprecatedItem,
                format!("usage of deprecated field '{name}' has been detected in the rule output"),
                &r.output_ctx,
            );
        }
    }

    let mut lists_used = BTreeSet::new();
    let (parsed, text) = match parse_condition(
        caches,
        &condition,
        &mut out.lists,
        index,
        &mut lists_used,
        &r.cond_ctx,
    ) {
        Ok(a) => a,
        Err((code, msg, ctx)) => {
            res.error(code, msg, &ctx);
            return None;
        }
    };
    let mut resolution = Resolution::default();
    let env = MacroEnv {
        col,
        macros: &out.macros,
        visibility: u32::MAX,
    };
    check_macros(&parsed, &env, &mut resolution);
    if let Some((msg, pos)) = resolution_error(&resolution) {
        let ctx = r.ctx.in_condition(
            pos.idx as usize,
            pos.line as usize,
            pos.col as usize,
            &condition,
        );
        res.error(ErrorCode::Validate, msg, &ctx);
        return None;
    }
    for name in &resolution.resolved {
        if let Some(j) = col.macros.position(name) {
            out.macros[j].used = true;
        }
    }
    if resolution.poisoned {
        return None;
    }
    if resolution.too_large {
        res.error(ErrorCode::CompileCondition, too_large(), &r.cond_ctx);
        return None;
    }
    let text_id = caches.intern(&text);
    let key = resolution_key(text_id, &resolution.resolved, col, sources, caches);
    let resolved = match caches.resolved.entry(key) {
        std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
        std::collections::hash_map::Entry::Vacant(v) => {
            let env = MacroEnv {
                col,
                macros: &out.macros,
                visibility: u32::MAX,
            };
            let mut ast = Expr::clone(&parsed);
            substitute_macros(&mut ast, &env);
            if expr_depth(&ast) > MAX_RESOLVED_DEPTH {
                res.error(ErrorCode::CompileCondition, too_deep(), &r.cond_ctx);
                return None;
            }
            let mut unsafe_na = false;
            let mut deprecated = BTreeSet::new();
            condition_warnings(&ast, &mut unsafe_na, &mut deprecated);
            let compiled = adapter::compile(&ast).map(|c| CompiledCondition {
                filter: Arc::new(c.filter),
                warnings: c.warnings,
                event_types: adapter::event_types(&ast),
            });
            v.insert(ResolvedCondition {
                ast: Arc::new(ast),
                unsafe_na,
                deprecated,
                compiled,
            })
        }
    };
    if resolved.unsafe_na {
        res.warn(
            WarningCode::UnsafeNaCheck,
            "comparing a field value with <NA> is unsafe and can lead to unpredictable behavior of the rule condition. If you need to check for the existence of a field, consider using the 'exists' operator instead.",
            &r.cond_ctx,
        );
    }
    for name in &resolved.deprecated {
        res.warn(
            WarningCode::DeprecatedItem,
            format!(
                "usage of deprecated field '{name}' has been detected in the rule condition: {}",
                deprecated_desc(name)
            ),
            &r.cond_ctx,
        );
    }

    let compiled = match &resolved.compiled {
        Ok(c) => c,
        Err(e) => {
            let ctx = cond_ctx_at(&r.cond_ctx, e, &condition);
            if err_is_unknown_type_or_field(&e.message) && r.skip_if_unknown_filter {
                res.warn(WarningCode::UnknownFilter, e.message.clone(), &ctx);
            } else {
                res.error(ErrorCode::CompileCondition, e.message.clone(), &ctx);
            }
            return None;
        }
    };
    if let Some((name, pos)) = adapter::foreign_field(&resolved.ast, &r.source) {
        let ctx = r.cond_ctx.in_condition(
            pos.idx as usize,
            pos.line as usize,
            pos.col as usize,
            &condition,
        );
        res.error(
            ErrorCode::CompileCondition,
            format!("filter_check called with nonexistent field {name}"),
            &ctx,
        );
        return None;
    }
    if let Some(tok) = format.tokens().find(|t| !t.info().usable_in(&r.source)) {
        res.error(
            ErrorCode::CompileOutput,
            format!("invalid formatting token {}", tok.name),
            &r.output_ctx,
        );
        return None;
    }
    for w in &compiled.warnings {
        res.warn(
            WarningCode::CompileCondition,
            w.message.clone(),
            &cond_ctx_at(&r.cond_ctx, w, &condition),
        );
    }
    // Only syscall events have event types; a plugin source's rules run on each of its events.
    let event_types = if r.source == SYSCALL_SOURCE {
        compiled.event_types
    } else {
        EventTypeSet::empty()
    };
    if r.source == "syscall" && r.warn_evttypes && event_types.len() > MAX_EVTTYPES {
        res.warn(
            WarningCode::NoEvttype,
            "Rule matches too many evt.type values. This has a significant performance penalty.",
            &r.ctx,
        );
    }
    Some(Rule {
        name: r.name.clone(),
        desc: r.desc.clone(),
        priority: r.priority,
        tags: r.tags.clone(),
        source: r.source.clone(),
        condition_text: r.cond.clone(),
        condition: Arc::clone(&resolved.ast),
        filter: Arc::clone(&compiled.filter),
        output,
        format,
        event_types,
        capture: r.capture,
        capture_duration: r.capture_duration,
        enabled: r.enabled,
        exception_fields,
        macros: resolution.resolved,
        lists: lists_used,
        file: r.ctx.file_name(),
        line: r.ctx.locations().last().map_or(0, |l| l.pos.line + 1),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_list(cond: &str, name: &str, items: &[&str], expected: &str, used: bool) {
        let mut c = cond.to_string();
        let items: Vec<String> = items.iter().map(|s| s.to_string()).collect();
        assert_eq!(resolve_list(&mut c, name, &items), used, "{cond}");
        assert_eq!(c, expected, "{cond}");
    }

    #[test]
    fn list_substitution_is_textual_like_falco() {
        check_list(
            "proc.name in (shell_binaries)",
            "shell_binaries",
            &["bash", "sh"],
            "proc.name in ( bash, sh )",
            true,
        );
        check_list(
            "proc.name in (shell_binaries, sudo)",
            "shell_binaries",
            &["bash"],
            "proc.name in ( bash , sudo)",
            true,
        );
        // Items with a blank are quoted unless already quoted.
        check_list(
            "proc.cmdline in (cmds)",
            "cmds",
            &["sh -c x", "\"a b\""],
            "proc.cmdline in ( \"sh -c x\", \"a b\" )",
            true,
        );
        // An empty list removes a neighbouring comma.
        check_list(
            "proc.name in (empty, sudo)",
            "empty",
            &[],
            "proc.name in (   sudo)",
            true,
        );
        // Not delimited: untouched.
        check_list(
            "fd.name in (file_my_list)",
            "my_list",
            &["x"],
            "fd.name in (file_my_list)",
            false,
        );
        check_list("a=b", "a", &["z"], "z =b", true);
    }

    #[test]
    fn quoting_helpers() {
        assert_eq!(quote_item("a b"), "\"a b\"");
        assert_eq!(quote_item("'a b'"), "'a b'");
        assert_eq!(quote_item("ab"), "ab");
        assert_eq!(paren_item("a"), "(a)");
        assert_eq!(paren_item("(a)"), "(a)");
    }
}
