//! Accumulates the items of every rules content loaded, applying Falco's definition semantics
//! (`rule_loader_collector.cpp`): a redefinition replaces the earlier item *in place* (it keeps
//! the first index, takes the new visibility), appends and selective replaces modify the earlier
//! item, and every item gets a global sequence number used for macro/list visibility.

use crate::info::{Entry, ExceptionInfo, ListInfo, MacroInfo, RuleInfo, RuleUpdate};
use crate::reader::{Diag, Res};
use crate::result::{Context, ErrorCode, LoadResult, WarningCode};
use crate::version::{Version, CONTAINER_PLUGIN_VERSION, ENGINE_VERSION};
use rustc_hash::FxHashMap;

/// A vector with lookup by name that keeps first-insertion order. Names come from the rules
/// files being loaded and are looked up for every macro reference of every compile, so the
/// map uses the fast hasher.
#[derive(Clone, Debug)]
pub(crate) struct Indexed<T> {
    pub items: Vec<T>,
    by_name: FxHashMap<String, usize>,
}

impl<T> Default for Indexed<T> {
    fn default() -> Self {
        Indexed {
            items: Vec::new(),
            by_name: FxHashMap::default(),
        }
    }
}

impl<T> Indexed<T> {
    pub fn get(&self, name: &str) -> Option<&T> {
        self.by_name.get(name).map(|&i| &self.items[i])
    }

    pub fn get_mut(&mut self, name: &str) -> Option<&mut T> {
        self.by_name.get(name).map(|&i| &mut self.items[i])
    }

    pub fn position(&self, name: &str) -> Option<usize> {
        self.by_name.get(name).copied()
    }

    pub fn insert(&mut self, name: &str, v: T) -> usize {
        if let Some(&i) = self.by_name.get(name) {
            self.items[i] = v;
            return i;
        }
        self.items.push(v);
        self.by_name.insert(name.to_string(), self.items.len() - 1);
        self.items.len() - 1
    }

    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.items.iter()
    }
}

fn validate(msg: impl Into<String>, ctx: &Context) -> Diag {
    Diag {
        code: ErrorCode::Validate,
        msg: msg.into(),
        ctx: ctx.clone(),
    }
}

/// Operators an exception's `comps` may name (`parser::supported_operators`), plus the
/// `<string op> oneof|anyof|allof` modifier forms.
const OPERATORS: &[&str] = &[
    "=",
    "==",
    "!=",
    "<=",
    ">=",
    "<",
    ">",
    "contains",
    "icontains",
    "bcontains",
    "glob",
    "iglob",
    "bstartswith",
    "startswith",
    "endswith",
    "regex",
    "in",
    "intersects",
    "pmatch",
    "exists",
];
const LIST_OPERATORS: &[&str] = &["in", "intersects", "pmatch"];
const MODIFIABLE: &[&str] = &[
    "=",
    "==",
    "!=",
    "glob",
    "iglob",
    "contains",
    "icontains",
    "bcontains",
    "startswith",
    "bstartswith",
    "endswith",
    "regex",
];
const MODIFIERS: &[&str] = &["oneof", "anyof", "allof"];

/// Collapses runs of blanks in a comparison operator (`startswith   oneof`).
pub(crate) fn normalize_comp(op: &str) -> String {
    op.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Whether `op` is `<string op> <modifier>`.
pub(crate) fn is_modified_op(op: &str) -> bool {
    let mut parts = op.split_whitespace();
    match (parts.next(), parts.next(), parts.next()) {
        (Some(base), Some(m), None) => MODIFIABLE.contains(&base) && MODIFIERS.contains(&m),
        _ => false,
    }
}

/// Operators that take a parenthesised list on their right.
pub(crate) fn is_list_op(op: &str) -> bool {
    LIST_OPERATORS.contains(&op) || is_modified_op(op)
}

fn is_operator_defined(op: &str) -> bool {
    OPERATORS.contains(&op) || is_modified_op(op)
}

/// Falco's `validate_exception_info`; fields are only checked for rules of a known source.
fn validate_exception(ex: &mut ExceptionInfo, check_fields: bool) -> Res<()> {
    if ex.fields.is_list {
        if !ex.comps.is_valid() {
            ex.comps.is_list = true;
            ex.comps.items = ex.fields.items.iter().map(|_| Entry::scalar("=")).collect();
        }
        if ex.fields.items.len() != ex.comps.items.len() {
            return Err(validate(
                "Fields and comps lists must have equal length",
                &ex.ctx,
            ));
        }
        for c in &mut ex.comps.items {
            c.item = normalize_comp(&c.item);
            if !is_operator_defined(&c.item) {
                return Err(validate(
                    format!("'{}' is not a supported comparison operator", c.item),
                    &ex.ctx,
                ));
            }
        }
        if check_fields {
            for f in &ex.fields.items {
                if !crate::adapter::field_defined(&f.item) {
                    return Err(validate(
                        format!("'{}' is not a supported filter field", f.item),
                        &ex.ctx,
                    ));
                }
            }
        }
    } else {
        if !ex.comps.is_valid() {
            ex.comps = Entry::scalar("in");
        }
        if ex.comps.is_list {
            return Err(validate("Fields and comps must both be strings", &ex.ctx));
        }
        ex.comps.item = normalize_comp(&ex.comps.item);
        if !is_list_op(&ex.comps.item) {
            return Err(validate(
                "When fields is a single value, comps must be one of (in, pmatch, intersects) or a string operator with a oneof, anyof or allof modifier",
                &ex.ctx,
            ));
        }
        if check_fields && !crate::adapter::field_defined(&ex.fields.item) {
            return Err(validate(
                format!("'{}' is not a supported filter field", ex.fields.item),
                &ex.ctx,
            ));
        }
    }
    Ok(())
}

/// Every item collected so far, across rules contents.
#[derive(Debug, Default)]
pub(crate) struct Collector {
    pub lists: Indexed<ListInfo>,
    pub macros: Indexed<MacroInfo>,
    pub rules: Indexed<RuleInfo>,
    cur_index: u32,
    pub required_engine_version: Option<Version>,
    /// The plugins the run stands in for natively beyond `container` (their sources are
    /// known sources and their versions satisfy `required_plugin_versions`).
    pub plugins: Vec<crate::NativePlugin>,
}

impl Collector {
    fn next_index(&mut self) -> u32 {
        let i = self.cur_index;
        self.cur_index += 1;
        i
    }

    pub fn define_engine_version(&mut self, v: Version, ctx: &Context) -> Res<()> {
        if !ENGINE_VERSION.compatible_with(&v) {
            return Err(validate(
                format!("Rules require engine version {v}, but engine version is {ENGINE_VERSION}"),
                ctx,
            ));
        }
        if self.required_engine_version.is_none_or(|cur| cur < v) {
            self.required_engine_version = Some(v);
        }
        Ok(())
    }

    /// Checks a `required_plugin_versions` entry right away: the only plugin we stand in for is
    /// `container` (its fields are native), at version 0.4.x.
    pub fn define_plugin_requirement(
        &mut self,
        alternatives: Vec<(String, String)>,
        ctx: &Context,
    ) -> Res<()> {
        let mut seen: Vec<&str> = Vec::new();
        let mut satisfied = false;
        for (name, version) in &alternatives {
            let Some(v) = Version::parse(version) else {
                return Err(validate(
                    format!("Invalid required version '{version}' for plugin '{name}'"),
                    ctx,
                ));
            };
            if seen.contains(&name.as_str()) {
                return Err(validate(
                    format!(
                        "Defined multiple alternative version requirements for plugin '{name}'"
                    ),
                    ctx,
                ));
            }
            seen.push(name);
            if name == "container"
                && v.major == CONTAINER_PLUGIN_VERSION.major
                && v.minor <= CONTAINER_PLUGIN_VERSION.minor
            {
                satisfied = true;
            }
            if self
                .plugins
                .iter()
                .any(|p| p.name == *name && p.version.compatible_with(&v))
            {
                satisfied = true;
            }
        }
        if !satisfied {
            let wanted: Vec<String> = alternatives
                .iter()
                .map(|(n, v)| format!("{n} (>= {v})"))
                .collect();
            return Err(validate(
                format!(
                    "Plugin requirement not satisfied, must load one of: {}",
                    wanted.join(", ")
                ),
                ctx,
            ));
        }
        Ok(())
    }

    pub fn define_list(&mut self, mut info: ListInfo) {
        let id = self.next_index();
        info.visibility = id;
        info.index = self.lists.get(&info.name).map_or(id, |p| p.index);
        let name = info.name.clone();
        self.lists.insert(&name, info);
    }

    pub fn append_list(&mut self, info: ListInfo) -> Res<()> {
        let id = self.next_index();
        let Some(prev) = self.lists.get_mut(&info.name) else {
            return Err(validate(
                "List uses 'append' or 'override.items: append' but no list by that name already exists",
                &info.ctx,
            ));
        };
        prev.items.extend(info.items);
        prev.visibility = id;
        Ok(())
    }

    pub fn define_macro(&mut self, mut info: MacroInfo) {
        let id = self.next_index();
        info.visibility = id;
        info.index = self.macros.get(&info.name).map_or(id, |p| p.index);
        let name = info.name.clone();
        self.macros.insert(&name, info);
    }

    pub fn append_macro(&mut self, info: MacroInfo) -> Res<()> {
        let id = self.next_index();
        let Some(prev) = self.macros.get_mut(&info.name) else {
            return Err(validate(
                "Macro uses 'append' or 'override.condition: append' but no macro by that name already exists",
                &info.ctx,
            ));
        };
        prev.cond.push(' ');
        prev.cond.push_str(&info.cond);
        prev.visibility = id;
        Ok(())
    }

    pub fn define_rule(&mut self, res: &mut LoadResult, mut info: RuleInfo) -> Res<()> {
        if let Some(prev) = self.rules.get(&info.name) {
            if prev.source != info.source {
                return Err(validate(
                    "Rule has been re-defined with a different source",
                    &info.ctx,
                ));
            }
        }
        if info.source != "syscall"
            && !self
                .plugins
                .iter()
                .any(|p| p.source.as_deref() == Some(info.source.as_str()))
        {
            info.unknown_source = true;
            res.warn(
                WarningCode::UnknownSource,
                format!("Unknown source {}, skipping", info.source),
                &info.ctx,
            );
        }
        for ex in &mut info.exceptions {
            if !ex.fields.is_valid() {
                return Err(validate(
                    "Rule exception item must have fields property with a list of fields",
                    &ex.ctx,
                ));
            }
            validate_exception(ex, !info.unknown_source)?;
        }
        let id = self.next_index();
        info.visibility = id;
        info.index = self.rules.get(&info.name).map_or(id, |p| p.index);
        let name = info.name.clone();
        self.rules.insert(&name, info);
        Ok(())
    }

    pub fn append_rule(
        &mut self,
        _res: &mut LoadResult,
        info: RuleUpdate,
        ctx: &Context,
    ) -> Res<()> {
        let id = self.next_index();
        let Some(prev) = self.rules.get_mut(&info.name) else {
            return Err(validate(
                "Rule uses 'append' or 'override.<key>: append' but no rule by that name already exists",
                ctx,
            ));
        };
        if info.source.as_ref().is_some_and(|s| *s != prev.source) {
            return Err(validate(
                "Rule has been re-defined with a different source",
                ctx,
            ));
        }
        if !info.has_any_value() {
            return Err(validate(
                "Appended rule must have exceptions or condition property",
                ctx,
            ));
        }
        if let Some(c) = info.cond.filter(|c| !c.is_empty()) {
            prev.cond.push(' ');
            prev.cond.push_str(&c);
        }
        if let Some(o) = info.output.filter(|c| !c.is_empty()) {
            prev.output.push(' ');
            prev.output.push_str(&o);
        }
        if let Some(d) = info.desc.filter(|c| !c.is_empty()) {
            prev.desc.push(' ');
            prev.desc.push_str(&d);
        }
        if let Some(tags) = info.tags {
            prev.tags.extend(tags);
        }
        if let Some(exs) = info.exceptions {
            for mut ex in exs {
                match prev.exceptions.iter_mut().find(|e| e.name == ex.name) {
                    None => {
                        if !ex.fields.is_valid() {
                            return Err(validate(
                                "Rule exception must have fields property with a list of fields",
                                &ex.ctx,
                            ));
                        }
                        if ex.values.is_empty() {
                            return Err(validate(
                                "Rule exception must have values property with a list of values",
                                &ex.ctx,
                            ));
                        }
                        validate_exception(&mut ex, !prev.unknown_source)?;
                        prev.exceptions.push(ex);
                    }
                    Some(pe) => {
                        if ex.fields.is_valid() {
                            return Err(validate(
                                "Can not append exception fields to existing exception, only values",
                                &ex.ctx,
                            ));
                        }
                        if ex.comps.is_valid() {
                            return Err(validate(
                                "Can not append exception comps to existing exception, only values",
                                &ex.ctx,
                            ));
                        }
                        pe.values.extend(ex.values);
                    }
                }
            }
        }
        prev.visibility = id;
        Ok(())
    }

    pub fn replace_rule(&mut self, info: RuleUpdate, ctx: &Context) -> Res<()> {
        let id = self.next_index();
        let Some(prev) = self.rules.get_mut(&info.name) else {
            return Err(validate(
                "An 'override.<key>: replace' to a rule was requested but no rule by that name already exists",
                ctx,
            ));
        };
        if info.source.as_ref().is_some_and(|s| *s != prev.source) {
            return Err(validate(
                "Rule has been re-defined with a different source",
                ctx,
            ));
        }
        if !info.has_any_value() {
            return Err(validate(
                "The rule must have at least one field that can be replaced",
                ctx,
            ));
        }
        if let Some(c) = info.cond {
            prev.cond = c;
            if let Some(cc) = info.cond_ctx {
                prev.cond_ctx = cc;
            }
        }
        if let Some(o) = info.output {
            prev.output = o;
        }
        if let Some(d) = info.desc {
            prev.desc = d;
        }
        if let Some(t) = info.tags {
            prev.tags = t;
        }
        if let Some(mut exs) = info.exceptions {
            for ex in &mut exs {
                if ex.fields.is_valid() {
                    validate_exception(ex, !prev.unknown_source)?;
                }
            }
            prev.exceptions = exs;
        }
        if let Some(p) = info.priority {
            prev.priority = p;
        }
        if let Some(e) = info.enabled {
            prev.enabled = e;
        }
        if let Some(w) = info.warn_evttypes {
            prev.warn_evttypes = w;
        }
        if let Some(s) = info.skip_if_unknown_filter {
            prev.skip_if_unknown_filter = s;
        }
        if let Some(c) = info.capture {
            prev.capture = c;
        }
        if let Some(d) = info.capture_duration {
            prev.capture_duration = d;
        }
        prev.visibility = id;
        Ok(())
    }

    pub fn enable_rule(&mut self, name: &str, enabled: bool, ctx: &Context) -> Res<()> {
        let Some(prev) = self.rules.get_mut(name) else {
            return Err(validate(
                "Rule has 'enabled' key but no rule by that name already exists",
                ctx,
            ));
        };
        prev.enabled = enabled;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comparison_operator_forms() {
        for (op, defined, list) in [
            ("=", true, false),
            ("in", true, true),
            ("pmatch", true, true),
            ("startswith oneof", true, true),
            ("contains allof", true, true),
            ("frobulate oneof", false, false),
            ("in oneof", false, false),
            (">= oneof", false, false),
            ("oneof", false, false),
        ] {
            assert_eq!(is_operator_defined(op), defined, "{op}");
            assert_eq!(is_list_op(op), list, "{op}");
        }
        assert_eq!(normalize_comp(" startswith   oneof "), "startswith oneof");
    }
}
