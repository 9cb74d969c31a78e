//! Decodes the YAML items of one rules content into [`crate::info`] values and hands them to the
//! [`Collector`], with Falco's validation messages (`rule_loader_reader.cpp`).
//!
//! Falco stops a file at its first problem; we report one error per broken item and go on with
//! the next item, so a user sees every problem of a file at once. Items after a broken one are
//! still read in order, so redefinition and append semantics are unchanged for them.

use crate::collector::Collector;
use crate::info::{Entry, ExceptionInfo, ListInfo, MacroInfo, Priority, RuleInfo, RuleUpdate};
use crate::result::{Context, ErrorCode, ItemType, LoadResult, Position, WarningCode};
use crate::version::Version;
use crate::yaml::{self, Node, NodeKind};
use std::collections::BTreeSet;

/// A problem that ends the reading of one item.
#[derive(Debug)]
pub(crate) struct Diag {
    pub code: ErrorCode,
    pub msg: String,
    pub ctx: Context,
}

pub(crate) type Res<T> = Result<T, Diag>;

pub(crate) fn validate_err(msg: impl Into<String>, ctx: &Context) -> Diag {
    Diag {
        code: ErrorCode::YamlValidate,
        msg: msg.into(),
        ctx: ctx.clone(),
    }
}

macro_rules! ensure {
    ($cond:expr, $msg:expr, $ctx:expr) => {
        if !($cond) {
            return Err(validate_err($msg, $ctx));
        }
    };
}

fn pos(n: &Node) -> Position {
    Position {
        offset: n.mark.offset,
        line: n.mark.line,
        column: n.mark.column,
    }
}

fn child(ctx: &Context, n: &Node, t: ItemType, name: &str) -> Context {
    ctx.child(pos(n), t, name)
}

pub(crate) const MACRO_NAME_RE: &str = "([a-zA-Z]+[a-zA-Z0-9_]*)";
pub(crate) const LIST_NAME_RE: &str = "([^()\"'[:space:]=,]+)";

fn valid_macro_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn valid_list_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| !matches!(c, '(' | ')' | '"' | '\'' | '=' | ',') && !c.is_whitespace())
}

/// yaml-cpp's `convert<bool>`.
fn decode_bool(s: &str) -> Option<bool> {
    let forms = |w: &str| {
        let mut cap = w.to_string();
        if let Some(f) = cap.get_mut(0..1) {
            f.make_ascii_uppercase();
        }
        [w.to_string(), w.to_ascii_uppercase(), cap]
    };
    for w in ["y", "yes", "true", "on"] {
        if forms(w).iter().any(|f| f == s) {
            return Some(true);
        }
    }
    for w in ["n", "no", "false", "off"] {
        if forms(w).iter().any(|f| f == s) {
            return Some(false);
        }
    }
    None
}

/// yaml-cpp's unsigned conversion: the whole scalar must be a number.
fn decode_u32(s: &str) -> Option<u32> {
    let t = s.trim_start();
    let t = t.strip_prefix('+').unwrap_or(t);
    if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    t.parse().ok()
}

/// `decode_val`: the value of `key` must exist, be non-null, scalar and non-empty.
fn scalar_val<'a>(item: &'a Node, key: &str, ctx: &Context) -> Res<&'a Node> {
    let val = item.get(key);
    let Some(val) = val else {
        return Err(validate_err(
            format!("Item has no mapping for key '{key}'"),
            ctx,
        ));
    };
    ensure!(
        !val.is_null(),
        format!("Mapping for key '{key}' is empty"),
        ctx
    );
    let vctx = child(ctx, val, ItemType::ValueFor, key);
    let s = val.as_scalar();
    ensure!(s.is_some(), "Value is not a scalar value", &vctx);
    ensure!(
        s.is_some_and(|s| !s.is_empty()),
        "Value must be non-empty",
        &vctx
    );
    Ok(val)
}

fn decode_string(item: &Node, key: &str, ctx: &Context) -> Res<String> {
    Ok(scalar_val(item, key, ctx)?
        .as_scalar()
        .unwrap_or_default()
        .to_string())
}

fn decode_opt_string(item: &Node, key: &str, ctx: &Context) -> Res<Option<String>> {
    if item.get(key).is_none() {
        return Ok(None);
    }
    decode_string(item, key, ctx).map(Some)
}

fn decode_bool_key(item: &Node, key: &str, ctx: &Context) -> Res<bool> {
    let val = scalar_val(item, key, ctx)?;
    let vctx = child(ctx, val, ItemType::ValueFor, key);
    decode_bool(val.as_scalar().unwrap_or_default())
        .ok_or_else(|| validate_err("Can't decode YAML scalar value", &vctx))
}

fn decode_opt_bool(item: &Node, key: &str, ctx: &Context) -> Res<Option<bool>> {
    if item.get(key).is_none() {
        return Ok(None);
    }
    decode_bool_key(item, key, ctx).map(Some)
}

fn decode_u32_key(item: &Node, key: &str, ctx: &Context) -> Res<u32> {
    let val = scalar_val(item, key, ctx)?;
    let vctx = child(ctx, val, ItemType::ValueFor, key);
    decode_u32(val.as_scalar().unwrap_or_default())
        .ok_or_else(|| validate_err("Can't decode YAML scalar value", &vctx))
}

/// `decode_seq`: a sequence of scalars (`items`, `tags`).
fn decode_seq(item: &Node, key: &str, ctx: &Context) -> Res<Vec<String>> {
    let Some(val) = item.get(key) else {
        return Err(validate_err(
            format!("Item has no mapping for key '{key}'"),
            ctx,
        ));
    };
    let vctx = child(ctx, val, ItemType::ValueFor, key);
    let Some(seq) = val.as_seq() else {
        return Err(validate_err("Value is not a sequence", &vctx));
    };
    let mut out = Vec::with_capacity(seq.len());
    for v in seq {
        match &v.kind {
            NodeKind::Scalar { value, .. } => out.push(value.clone()),
            // A null item (`~`, `null`) is not a scalar to yaml-cpp either.
            _ => {
                let ictx = child(&vctx, v, ItemType::ListItem, "");
                return Err(validate_err("sequence value is not scalar", &ictx));
            }
        }
    }
    Ok(out)
}

fn decode_tags(item: &Node, ctx: &Context) -> Res<Option<BTreeSet<String>>> {
    if item.get("tags").is_none() {
        return Ok(None);
    }
    Ok(Some(decode_seq(item, "tags", ctx)?.into_iter().collect()))
}

/// `override:` → (keys to append, keys to replace).
fn decode_overrides(
    item: &Node,
    appendable: &[&str],
    replaceable: &[&str],
    ctx: &Context,
) -> Res<(BTreeSet<String>, BTreeSet<String>)> {
    let mut app = BTreeSet::new();
    let mut rep = BTreeSet::new();
    let Some(val) = item.get("override") else {
        return Ok((app, rep));
    };
    let octx = child(ctx, item, ItemType::Overrides, "");
    let Some(entries) = val.as_map() else {
        ensure!(val.is_null(), "Value of override must be a map", &octx);
        return Ok((app, rep));
    };
    for (k, v) in entries {
        let key = k.as_scalar().unwrap_or_default().to_string();
        let op = v.as_scalar().unwrap_or_default();
        let can_app = appendable.contains(&key.as_str());
        let can_rep = replaceable.contains(&key.as_str());
        let kctx = child(&octx, k, ItemType::Overrides, &key);
        match op {
            "append" => {
                ensure!(
                    can_app,
                    format!("Key '{key}' cannot be appended to, use 'replace' instead"),
                    &kctx
                );
                app.insert(key);
            }
            "replace" => {
                ensure!(can_rep, format!("Key '{key}' cannot be replaced"), &kctx);
                rep.insert(key);
            }
            _ => {
                let mut msg = format!(
                    "Invalid override operation for key '{key}': '{op}'. Allowed values are: "
                );
                if can_app {
                    msg.push_str("append ");
                }
                if can_rep {
                    msg.push_str("replace ");
                }
                return Err(validate_err(
                    msg,
                    &child(&octx, v, ItemType::ValueFor, &key),
                ));
            }
        }
    }
    Ok((app, rep))
}

fn decode_entry(val: &Node, ctx: &Context, depth: usize) -> Res<Entry> {
    let vctx = ctx.clone();
    match &val.kind {
        NodeKind::Scalar { value, .. } => {
            ensure!(!value.is_empty(), "Value must be non-empty", &vctx);
            Ok(Entry::scalar(value))
        }
        NodeKind::Seq(items) => {
            let mut out = Entry {
                is_list: true,
                ..Entry::default()
            };
            for v in items {
                let lctx = child(&vctx, v, ItemType::Exception, "");
                // Exception entries nest at most one level (values: [[a, b]] / [[a, [b, c]]]).
                ensure!(depth < 3, "Exception values are nested too deeply", &lctx);
                out.items.push(decode_entry(v, &lctx, depth + 1)?);
            }
            Ok(out)
        }
        _ => Ok(Entry::default()),
    }
}

fn read_exceptions(
    res: &mut LoadResult,
    item: &Node,
    parent: &Context,
    append: bool,
) -> Res<Vec<ExceptionInfo>> {
    let mut out: Vec<ExceptionInfo> = Vec::new();
    let Some(exs) = item.get("exceptions") else {
        return Ok(out);
    };
    if exs.is_null() {
        return Ok(out);
    }
    let exes_ctx = child(parent, exs, ItemType::Exceptions, "");
    let Some(seq) = exs.as_seq() else {
        return Err(validate_err(
            "Rule exceptions must be a sequence",
            &exes_ctx,
        ));
    };
    for ex in seq {
        let tmp = child(&exes_ctx, ex, ItemType::Exception, "");
        ensure!(
            ex.as_map().is_some(),
            "Rule exception must be a mapping",
            &tmp
        );
        let name = decode_string(ex, "name", &tmp)?;
        let ex_ctx = child(parent, ex, ItemType::Exception, &name);
        if out.iter().any(|e| e.name == name) {
            res.warn(
                WarningCode::ExceptionNameNotUnique,
                format!("Multiple definitions of exception '{name}' in the same rule"),
                &ex_ctx,
            );
        }
        let mut info = ExceptionInfo {
            name: name.clone(),
            fields: Entry::default(),
            comps: Entry::default(),
            values: Vec::new(),
            ctx: ex_ctx.clone(),
        };
        match ex.get("fields") {
            None if append => {}
            None => {
                return Err(validate_err(
                    "Item has no mapping for key 'fields'",
                    &ex_ctx,
                ))
            }
            Some(f) => {
                let fctx = child(&ex_ctx, f, ItemType::ValueFor, "fields");
                info.fields = decode_entry(f, &fctx, 0)?;
            }
        }
        if let Some(c) = ex.get("comps") {
            let cctx = child(&ex_ctx, c, ItemType::ValueFor, "comps");
            info.comps = decode_entry(c, &cctx, 0)?;
        }
        match ex.get("values") {
            Some(vals) if !vals.is_null() || !append => {
                let vals_ctx = child(&ex_ctx, vals, ItemType::ExceptionValues, "");
                let Some(vs) = vals.as_seq() else {
                    return Err(validate_err(
                        "Rule exception values must be a sequence",
                        &vals_ctx,
                    ));
                };
                for v in vs {
                    let vctx = child(&vals_ctx, v, ItemType::ExceptionValue, "");
                    info.values.push(decode_entry(v, &vctx, 0)?);
                }
            }
            _ => {
                if append {
                    res.warn(
                        WarningCode::AppendNoValues,
                        "Overriding/appending exception with no values",
                        &ex_ctx,
                    );
                }
            }
        }
        out.push(info);
    }
    Ok(out)
}

const LIST_KEYS: &[&str] = &["list", "items", "append", "override"];
const MACRO_KEYS: &[&str] = &["macro", "condition", "append", "override"];
const RULE_KEYS: &[&str] = &[
    "rule",
    "desc",
    "condition",
    "output",
    "priority",
    "tags",
    "enabled",
    "source",
    "exceptions",
    "warn_evttypes",
    "skip-if-unknown-filter",
    "capture",
    "capture_duration",
    "append",
    "override",
];

fn warn_unknown_keys(res: &mut LoadResult, item: &Node, known: &[&str], ctx: &Context) {
    for (k, _) in item.as_map().unwrap_or_default() {
        if let Some(key) = k.as_scalar() {
            if !known.contains(&key) {
                res.warn(
                    WarningCode::UnknownKey,
                    format!("Unknown key '{key}'. The key will be ignored."),
                    &child(ctx, k, ItemType::ValueFor, key),
                );
            }
        }
    }
}

const RULE_APPENDABLE: &[&str] = &["condition", "output", "desc", "tags", "exceptions"];
const RULE_REPLACEABLE: &[&str] = &[
    "condition",
    "output",
    "desc",
    "priority",
    "tags",
    "exceptions",
    "enabled",
    "warn_evttypes",
    "skip-if-unknown-filter",
    "capture",
    "capture_duration",
];

pub(crate) const WARNING_APPEND: &str = "'append' key is deprecated. Add an 'append' entry (e.g. 'condition: append') under 'override' instead.";
pub(crate) const WARNING_ENABLED: &str = "The standalone 'enabled' key usage is deprecated. The correct approach requires also a 'replace' entry under the 'override' key (i.e. 'enabled: replace').";
pub(crate) const ERROR_OVERRIDE_APPEND: &str = "Keys 'override' and 'append: true' cannot be used together. Add an 'append' entry (e.g. 'condition: append') under 'override' instead.";

/// Reads one rules content into the collector; problems go to `res`.
pub(crate) fn read(res: &mut LoadResult, col: &mut Collector, name: &str, content: &str) {
    let root = Context::root(name);
    let docs = match yaml::parse_documents(content) {
        Ok(d) => d,
        Err(e) => {
            let ctx = root.child(
                Position {
                    offset: e.mark.offset,
                    line: e.mark.line,
                    column: e.mark.column,
                },
                ItemType::ValueFor,
                "",
            );
            res.error(ErrorCode::YamlParse, e.message, &ctx);
            return;
        }
    };
    for doc in &docs {
        if doc.is_null() {
            continue;
        }
        let items = match &doc.kind {
            NodeKind::Seq(items) => items,
            NodeKind::Map(_) => {
                res.error(
                    ErrorCode::YamlValidate,
                    "Rules content is not yaml array of objects",
                    &root,
                );
                return;
            }
            _ => {
                res.error(ErrorCode::YamlValidate, "Rules content is not yaml", &root);
                return;
            }
        };
        for item in items {
            if item.is_null() {
                continue;
            }
            if let Err(d) = read_item(res, col, item, &root) {
                res.error(d.code, d.msg, &d.ctx);
            }
        }
    }
}

fn read_item(res: &mut LoadResult, col: &mut Collector, item: &Node, parent: &Context) -> Res<()> {
    {
        let tmp = child(parent, item, ItemType::RulesContentItem, "");
        ensure!(
            item.as_map().is_some(),
            "Unexpected element type. Each element should be a yaml associative array.",
            &tmp
        );
    }
    if item.get("required_engine_version").is_some() {
        let ctx = child(parent, item, ItemType::RequiredEngineVersion, "");
        let val = scalar_val(item, "required_engine_version", &ctx)?;
        let text = val.as_scalar().unwrap_or_default();
        let version = match decode_u32(text) {
            Some(n) => Version::new(0, n as u64, 0),
            None => Version::parse(text).ok_or_else(|| {
                validate_err(
                    format!("Unable to parse engine version '{text}' as a semver string. Expected \"x.y.z\" semver format."),
                    &ctx,
                )
            })?,
        };
        col.define_engine_version(version, &ctx)
    } else if let Some(reqs) = item.get("required_plugin_versions") {
        let ctx = child(parent, reqs, ItemType::RequiredPluginVersions, "");
        let Some(seq) = reqs.as_seq() else {
            return Err(validate_err(
                "Value of required_plugin_versions must be a sequence",
                &ctx,
            ));
        };
        for plugin in seq {
            let tmp = child(&ctx, plugin, ItemType::RequiredPluginVersionsEntry, "");
            ensure!(
                plugin.as_map().is_some(),
                "Plugin version must be a mapping",
                &tmp
            );
            let pname = decode_string(plugin, "name", &tmp)?;
            let pctx = child(&ctx, plugin, ItemType::RequiredPluginVersionsEntry, &pname);
            let version = decode_string(plugin, "version", &pctx)?;
            let mut alts = vec![(pname, version)];
            if let Some(a) = plugin.get("alternatives") {
                let Some(aseq) = a.as_seq() else {
                    return Err(validate_err(
                        "Value of plugin version alternatives must be a sequence",
                        &pctx,
                    ));
                };
                for req in aseq {
                    let t = child(&pctx, req, ItemType::RequiredPluginVersionsAlternative, "");
                    ensure!(
                        req.as_map().is_some(),
                        "Plugin version alternative must be a mapping",
                        &t
                    );
                    let n = decode_string(req, "name", &t)?;
                    let t = child(&pctx, req, ItemType::RequiredPluginVersionsAlternative, &n);
                    let v = decode_string(req, "version", &t)?;
                    alts.push((n, v));
                }
            }
            col.define_plugin_requirement(alts, &pctx)?;
        }
        Ok(())
    } else if item.get("list").is_some() {
        let tmp = child(parent, item, ItemType::List, "");
        let name = decode_string(item, "list", &tmp)?;
        let ctx = child(parent, item, ItemType::List, &name);
        if !valid_list_name(&name) {
            res.warn(
                WarningCode::InvalidListName,
                format!(
                    "List has an invalid name. List names should match a regular expression: {LIST_NAME_RE}"
                ),
                &ctx,
            );
        }
        warn_unknown_keys(res, item, LIST_KEYS, &ctx);
        let items = decode_seq(item, "items", &ctx)?;
        let append = decode_opt_bool(item, "append", &ctx)?.unwrap_or(false);
        if append {
            res.warn(WarningCode::DeprecatedItem, WARNING_APPEND, &ctx);
        }
        let (oa, or) = decode_overrides(item, &["items"], &["items"], &ctx)?;
        ensure!(
            !(append && (!oa.is_empty() || !or.is_empty())),
            ERROR_OVERRIDE_APPEND,
            &ctx
        );
        let info = ListInfo {
            name,
            items,
            ctx,
            index: 0,
            visibility: 0,
        };
        if append || oa.contains("items") {
            col.append_list(info)
        } else {
            col.define_list(info);
            Ok(())
        }
    } else if item.get("macro").is_some() {
        let tmp = child(parent, item, ItemType::Macro, "");
        let name = decode_string(item, "macro", &tmp)?;
        let ctx = child(parent, item, ItemType::Macro, &name);
        if !valid_macro_name(&name) {
            res.warn(
                WarningCode::InvalidMacroName,
                format!(
                    "Macro has an invalid name. Macro names should match a regular expression: {MACRO_NAME_RE}"
                ),
                &ctx,
            );
        }
        warn_unknown_keys(res, item, MACRO_KEYS, &ctx);
        let cond = decode_string(item, "condition", &ctx)?;
        let cond_node = item.get("condition").unwrap_or(item);
        let cond_ctx = child(&ctx, cond_node, ItemType::MacroCondition, "");
        let append = decode_opt_bool(item, "append", &ctx)?.unwrap_or(false);
        if append {
            res.warn(WarningCode::DeprecatedItem, WARNING_APPEND, &ctx);
        }
        let (oa, or) = decode_overrides(item, &["condition"], &["condition"], &ctx)?;
        ensure!(
            !(append && (!oa.is_empty() || !or.is_empty())),
            ERROR_OVERRIDE_APPEND,
            &ctx
        );
        let info = MacroInfo {
            name,
            cond,
            ctx,
            cond_ctx,
            index: 0,
            visibility: 0,
        };
        if append || oa.contains("condition") {
            col.append_macro(info)
        } else {
            col.define_macro(info);
            Ok(())
        }
    } else if item.get("rule").is_some() {
        read_rule(res, col, item, parent)
    } else {
        let ctx = child(parent, item, ItemType::RulesContentItem, "");
        res.warn(WarningCode::UnknownItem, "Unknown top level item", &ctx);
        Ok(())
    }
}

fn read_rule(res: &mut LoadResult, col: &mut Collector, item: &Node, parent: &Context) -> Res<()> {
    let tmp = child(parent, item, ItemType::Rule, "");
    let name = decode_string(item, "rule", &tmp)?;
    let ctx = child(parent, item, ItemType::Rule, &name);
    warn_unknown_keys(res, item, RULE_KEYS, &ctx);
    let has_append = decode_opt_bool(item, "append", &ctx)?.unwrap_or(false);
    if has_append {
        res.warn(WarningCode::DeprecatedItem, WARNING_APPEND, &ctx);
    }
    let (oa, or) = decode_overrides(item, RULE_APPENDABLE, RULE_REPLACEABLE, &ctx)?;
    let has_overrides = !oa.is_empty() || !or.is_empty();
    ensure!(!(has_append && has_overrides), ERROR_OVERRIDE_APPEND, &ctx);

    if has_overrides {
        let mut expected: BTreeSet<&str> = RULE_APPENDABLE
            .iter()
            .chain(RULE_REPLACEABLE)
            .copied()
            .filter(|k| item.get(k).is_some())
            .collect();
        let mut check = |set: &BTreeSet<String>, kind: &str, key: &str| -> Res<bool> {
            if !set.contains(key) {
                return Ok(false);
            }
            ensure!(
                expected.remove(key),
                format!("An {kind} override for '{key}' was specified but '{key}' is not defined"),
                &ctx
            );
            Ok(true)
        };
        let mut updates = Vec::new();
        for (set, kind) in [(&oa, "append"), (&or, "replace")] {
            if set.is_empty() {
                continue;
            }
            let mut v = RuleUpdate {
                name: name.clone(),
                source: decode_opt_string(item, "source", &ctx)?,
                ..RuleUpdate::default()
            };
            if check(set, kind, "condition")? {
                v.cond = Some(decode_string(item, "condition", &ctx)?);
                v.cond_ctx = item
                    .get("condition")
                    .map(|n| child(&ctx, n, ItemType::RuleCondition, ""));
            }
            if check(set, kind, "exceptions")? {
                // A replace defines the exceptions anew, so their fields are required.
                v.exceptions = Some(read_exceptions(res, item, &ctx, kind == "append")?);
            }
            if check(set, kind, "output")? {
                v.output = Some(decode_string(item, "output", &ctx)?);
            }
            if check(set, kind, "desc")? {
                v.desc = Some(decode_string(item, "desc", &ctx)?);
            }
            if check(set, kind, "tags")? {
                v.tags = decode_tags(item, &ctx)?;
            }
            if check(set, kind, "priority")? {
                let p = decode_string(item, "priority", &ctx)?;
                let pn = item.get("priority").unwrap_or(item);
                let pctx = child(&ctx, pn, ItemType::RulePriority, "");
                v.priority = Some(
                    Priority::parse(&p).ok_or_else(|| validate_err("Invalid priority", &pctx))?,
                );
            }
            if check(set, kind, "enabled")? {
                v.enabled = Some(decode_bool_key(item, "enabled", &ctx)?);
            }
            if check(set, kind, "warn_evttypes")? {
                v.warn_evttypes = Some(decode_bool_key(item, "warn_evttypes", &ctx)?);
            }
            if check(set, kind, "skip-if-unknown-filter")? {
                v.skip_if_unknown_filter =
                    Some(decode_bool_key(item, "skip-if-unknown-filter", &ctx)?);
            }
            if check(set, kind, "capture")? {
                v.capture = Some(decode_bool_key(item, "capture", &ctx)?);
            }
            if check(set, kind, "capture_duration")? {
                v.capture_duration = Some(decode_u32_key(item, "capture_duration", &ctx)?);
            }
            updates.push((kind, v));
        }
        if let Some(key) = expected.iter().next() {
            let n = item.get(key).unwrap_or(item);
            let kctx = child(&ctx, n, ItemType::Overrides, key);
            return Err(validate_err(
                format!(
                    "Unexpected key '{key}': no corresponding entry under 'override' is defined."
                ),
                &kctx,
            ));
        }
        for (kind, v) in updates {
            if kind == "append" {
                col.append_rule(res, v, &ctx)?;
            } else {
                col.replace_rule(v, &ctx)?;
            }
        }
        Ok(())
    } else if has_append {
        let mut v = RuleUpdate {
            name: name.clone(),
            source: decode_opt_string(item, "source", &ctx)?,
            ..RuleUpdate::default()
        };
        if let Some(c) = item.get("condition") {
            v.cond_ctx = Some(child(&ctx, c, ItemType::RuleCondition, ""));
            v.cond = Some(decode_string(item, "condition", &ctx)?);
        }
        if item.get("exceptions").is_some() {
            v.exceptions = Some(read_exceptions(res, item, &ctx, true)?);
        }
        col.append_rule(res, v, &ctx)
    } else if item.get("condition").is_none()
        && item.get("output").is_none()
        && item.get("desc").is_none()
        && item.get("priority").is_none()
    {
        let enabled = decode_bool_key(item, "enabled", &ctx)?;
        res.warn(WarningCode::DeprecatedItem, WARNING_ENABLED, &ctx);
        col.enable_rule(&name, enabled, &ctx)
    } else {
        let cond = decode_string(item, "condition", &ctx)?;
        let cond_ctx = child(
            &ctx,
            item.get("condition").unwrap_or(item),
            ItemType::RuleCondition,
            "",
        );
        let output = decode_string(item, "output", &ctx)?;
        let output_ctx = child(
            &ctx,
            item.get("output").unwrap_or(item),
            ItemType::RuleOutput,
            "",
        );
        let desc = decode_string(item, "desc", &ctx)?;
        let p = decode_string(item, "priority", &ctx)?;
        let pctx = child(
            &ctx,
            item.get("priority").unwrap_or(item),
            ItemType::RulePriority,
            "",
        );
        let priority =
            Priority::parse(&p).ok_or_else(|| validate_err("Invalid priority", &pctx))?;
        let source = decode_opt_string(item, "source", &ctx)?.unwrap_or_else(|| "syscall".into());
        let info = RuleInfo {
            name,
            cond,
            cond_ctx,
            output: output.trim().to_string(),
            output_ctx,
            desc,
            priority,
            source,
            enabled: decode_opt_bool(item, "enabled", &ctx)?.unwrap_or(true),
            warn_evttypes: decode_opt_bool(item, "warn_evttypes", &ctx)?.unwrap_or(true),
            skip_if_unknown_filter: decode_opt_bool(item, "skip-if-unknown-filter", &ctx)?
                .unwrap_or(false),
            capture: decode_opt_bool(item, "capture", &ctx)?.unwrap_or(false),
            capture_duration: match item.get("capture_duration") {
                Some(_) => decode_u32_key(item, "capture_duration", &ctx)?,
                None => 0,
            },
            tags: decode_tags(item, &ctx)?.unwrap_or_default(),
            exceptions: read_exceptions(res, item, &ctx, false)?,
            unknown_source: false,
            ctx,
            index: 0,
            visibility: 0,
        };
        col.define_rule(res, info)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_rules_match_falco_regexes() {
        for (name, macro_ok, list_ok) in [
            ("spawned_process", true, true),
            ("a1_b", true, true),
            ("1abc", false, true),
            ("_x", false, true),
            ("my-macro", false, true),
            ("bad name", false, false),
            ("x,y", false, false),
            ("runc:[0:PARENT]", false, true),
        ] {
            assert_eq!(valid_macro_name(name), macro_ok, "macro {name}");
            assert_eq!(valid_list_name(name), list_ok, "list {name}");
        }
    }

    #[test]
    fn yaml_cpp_bools() {
        for (s, b) in [
            ("true", Some(true)),
            ("True", Some(true)),
            ("YES", Some(true)),
            ("on", Some(true)),
            ("false", Some(false)),
            ("Off", Some(false)),
            ("n", Some(false)),
            ("tRue", None),
            ("1", None),
        ] {
            assert_eq!(decode_bool(s), b, "{s}");
        }
    }
}
