//! Response policies: their YAML shape, its validation with file, line and column, and the
//! compiled form the responder matches alerts against.
//!
//! Key decision: a policies file is read with the rules loader's positioned YAML tree
//! (`peregrine_rules::yaml`), so an error points where the rules loader would point, and
//! every problem of every file is reported at once. Policies compile once (priorities,
//! signals and field conditions resolved) and a reload builds a new [`Policies`] that is
//! swapped in whole, as a rule set is.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use peregrine_filter::priority::Priority;
use peregrine_outputs::{Alert, OutputValue};
use peregrine_rules::yaml::{self, Node, NodeKind};

/// The largest policies file read.
const MAX_FILE: u64 = 4 << 20;

/// One problem in a policies file. Line and column are 1-based.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}:{column}: {message}")]
pub struct PolicyError {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// Every problem of every policies file, each on its own line.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
pub struct PolicyErrors(pub Vec<PolicyError>);

/// How a string condition on an output field compares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FieldTest {
    /// Equal to one of the values (a scalar is a list of one).
    In(Vec<String>),
    StartsWith(String),
    EndsWith(String),
    Contains(String),
    /// `*` and `?` wildcards, as container mount globs match.
    Glob(String),
}

impl FieldTest {
    fn holds(&self, v: &str) -> bool {
        match self {
            FieldTest::In(list) => list.iter().any(|x| x == v),
            FieldTest::StartsWith(p) => v.starts_with(p.as_str()),
            FieldTest::EndsWith(p) => v.ends_with(p.as_str()),
            FieldTest::Contains(p) => v.contains(p.as_str()),
            FieldTest::Glob(p) => peregrine_state::runtime::glob(p, v),
        }
    }
}

/// What an alert must carry for a policy to act. Every part given must hold; a list holds
/// when any of its entries does.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Matcher {
    /// Rule names; `*` wildcards allowed.
    pub rules: Vec<String>,
    /// Any of these tags.
    pub tags: Vec<String>,
    /// At least this severe.
    pub priority: Option<Priority>,
    pub source: Option<String>,
    pub output_fields: Vec<(String, FieldTest)>,
}

fn field_text(v: &OutputValue) -> Option<String> {
    Some(match v {
        OutputValue::Null => return None,
        OutputValue::Bool(b) => b.to_string(),
        OutputValue::Int(i) => i.to_string(),
        OutputValue::UInt(u) => u.to_string(),
        OutputValue::Double(d) => d.to_string(),
        OutputValue::Str(s) => s.clone(),
        OutputValue::List(_) => return None,
    })
}

impl Matcher {
    pub fn matches(&self, a: &Alert) -> bool {
        if !self.rules.is_empty()
            && !self
                .rules
                .iter()
                .any(|r| peregrine_state::runtime::glob(r, &a.rule))
        {
            return false;
        }
        if !self.tags.is_empty() && !self.tags.iter().any(|t| a.tags.contains(t)) {
            return false;
        }
        // Priorities order from Emergency (most severe) down to Debug.
        if self.priority.is_some_and(|min| a.priority > min) {
            return false;
        }
        if self.source.as_ref().is_some_and(|s| *s != a.source) {
            return false;
        }
        self.output_fields.iter().all(|(name, test)| {
            a.output_fields
                .iter()
                .chain(&a.extra_fields)
                .find(|(k, _)| k == name)
                .and_then(|(_, v)| field_text(v))
                .is_some_and(|v| test.holds(&v))
        })
    }
}

/// Which process a `kill` action signals.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KillTarget {
    /// The process (thread group) that made the event.
    Process,
    /// Every process of its process group.
    ProcessGroup,
    /// The init process of its container (the container's pid 1 seen from the host).
    ContainerInit,
}

/// What the container runtime is asked to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContainerOp {
    Pause,
    /// Stop with this grace period (seconds) before the runtime kills.
    Stop(u32),
    /// Kill with this signal (its name).
    Kill(&'static str),
}

/// One action with its parameters, resolved at load.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    Kill {
        target: KillTarget,
        signal: rustix::process::Signal,
    },
    Container(ContainerOp),
    /// `argv` exactly as written: no shell ever builds it from alert data.
    Script {
        argv: Vec<String>,
        timeout: Duration,
        env: Vec<(String, String)>,
    },
    Webhook {
        url: String,
        timeout: Duration,
    },
    /// Cut the container off the network but what `Spec` allows ([`crate::isolate`]).
    Isolate(crate::isolate::Spec),
    /// Write the events around the alert to a scap file ([`crate::capture`]).
    Capture(crate::capture::Params),
}

impl Action {
    /// The `action` label of the metrics and the audit log.
    pub fn name(&self) -> &'static str {
        match self {
            Action::Kill {
                target: KillTarget::Process,
                ..
            } => "kill",
            Action::Kill {
                target: KillTarget::ProcessGroup,
                ..
            } => "kill_process_group",
            Action::Kill {
                target: KillTarget::ContainerInit,
                ..
            } => "kill_container_init",
            Action::Container(ContainerOp::Pause) => "pause",
            Action::Container(ContainerOp::Stop(_)) => "stop",
            Action::Container(ContainerOp::Kill(_)) => "kill_container",
            Action::Script { .. } => "script",
            Action::Webhook { .. } => "webhook",
            Action::Isolate(_) => "isolate",
            Action::Capture(_) => "capture",
        }
    }
}

/// One compiled policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    pub name: String,
    pub matcher: Matcher,
    pub actions: Vec<Action>,
    pub dry_run: bool,
    /// Actions per minute before this policy's breaker opens; `None`: only the global budget.
    pub budget: Option<u32>,
    /// Where it was written, for messages.
    pub origin: String,
}

/// Every enabled policy, in file order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Policies {
    pub policies: Vec<Arc<Policy>>,
}

impl Policies {
    /// Loads every file; all problems of all files at once.
    pub fn load(files: &[PathBuf]) -> Result<Policies, PolicyErrors> {
        let mut out = Policies::default();
        let mut errors = Vec::new();
        for f in files {
            match read(f) {
                Ok(text) => match parse(&f.display().to_string(), &text) {
                    Ok(p) => out.policies.extend(p.policies),
                    Err(PolicyErrors(e)) => errors.extend(e),
                },
                Err(e) => errors.push(e),
            }
        }
        let mut seen = BTreeMap::new();
        for p in &out.policies {
            if let Some(first) = seen.insert(p.name.clone(), p.origin.clone()) {
                let (file, line, column) = split_origin(&p.origin);
                errors.push(PolicyError {
                    file,
                    line,
                    column,
                    message: format!(
                        "policy '{}' is defined twice (first at {first})",
                        peregrine_filter::escape::terminal_safe(&p.name)
                    ),
                });
            }
        }
        if errors.is_empty() {
            Ok(out)
        } else {
            Err(PolicyErrors(errors))
        }
    }

    /// The policies that act on `alert`.
    pub fn matching<'a>(&'a self, alert: &'a Alert) -> impl Iterator<Item = &'a Arc<Policy>> {
        self.policies.iter().filter(|p| p.matcher.matches(alert))
    }

    pub fn is_empty(&self) -> bool {
        self.policies.is_empty()
    }

    /// The longest look back of the `capture` actions, `None` when there are none: the
    /// agent keeps a window of events this long only when a policy can ask for it.
    pub fn capture_window(&self) -> Option<Duration> {
        self.policies
            .iter()
            .flat_map(|p| &p.actions)
            .filter_map(|a| match a {
                Action::Capture(c) => Some(c.before),
                _ => None,
            })
            .max()
    }
}

fn split_origin(o: &str) -> (String, usize, usize) {
    let mut parts = o.rsplitn(3, ':');
    let column = parts.next().and_then(|c| c.parse().ok()).unwrap_or(0);
    let line = parts.next().and_then(|c| c.parse().ok()).unwrap_or(0);
    (parts.next().unwrap_or(o).to_string(), line, column)
}

fn read(path: &Path) -> Result<String, PolicyError> {
    let err = |message: String| PolicyError {
        file: path.display().to_string(),
        line: 0,
        column: 0,
        message,
    };
    let bytes = peregrine_rules::input::read_regular(path, MAX_FILE)
        .map_err(|e| err(format!("cannot read the policies file: {e}")))?;
    String::from_utf8(bytes).map_err(|_| err("the policies file is not UTF-8 text".into()))
}

/// Collects the errors of one file.
struct Ctx<'a> {
    file: &'a str,
    errors: Vec<PolicyError>,
}

impl Ctx<'_> {
    fn err(&mut self, at: &Node, message: impl Into<String>) {
        self.errors.push(PolicyError {
            file: self.file.to_string(),
            line: at.mark.line + 1,
            column: at.mark.column + 1,
            message: message.into(),
        });
    }

    fn scalar(&mut self, n: &Node, what: &str) -> Option<String> {
        match n.as_scalar() {
            Some(s) => Some(s.to_string()),
            None => {
                self.err(n, format!("{what} must be a single value"));
                None
            }
        }
    }

    /// A scalar or a list of scalars.
    fn strings(&mut self, n: &Node, what: &str) -> Option<Vec<String>> {
        match &n.kind {
            NodeKind::Scalar { value, .. } => Some(vec![value.clone()]),
            NodeKind::Seq(items) => items.iter().map(|i| self.scalar(i, what)).collect(),
            _ => {
                self.err(n, format!("{what} must be a value or a list of values"));
                None
            }
        }
    }

    fn boolean(&mut self, n: &Node, what: &str) -> Option<bool> {
        match n.as_scalar().map(str::to_ascii_lowercase).as_deref() {
            Some("true" | "yes" | "on") => Some(true),
            Some("false" | "no" | "off") => Some(false),
            _ => {
                self.err(n, format!("{what} must be true or false"));
                None
            }
        }
    }

    fn number(&mut self, n: &Node, what: &str, max: u64) -> Option<u64> {
        match n.as_scalar().and_then(|s| s.parse::<u64>().ok()) {
            Some(v) if v <= max => Some(v),
            _ => {
                self.err(n, format!("{what} must be a whole number from 0 to {max}"));
                None
            }
        }
    }

    /// Map entries, reporting keys that are not scalars or not in `known`.
    fn entries<'n>(
        &mut self,
        n: &'n Node,
        what: &str,
        known: &[&str],
    ) -> Option<Vec<(&'n str, &'n Node)>> {
        if n.is_null() {
            return Some(Vec::new());
        }
        let Some(map) = n.as_map() else {
            self.err(n, format!("{what} must be a map"));
            return None;
        };
        let mut out = Vec::new();
        for (k, v) in map {
            match k.as_scalar() {
                Some(key) if known.is_empty() || known.contains(&key) => out.push((key, v)),
                Some(key) => self.err(
                    k,
                    format!(
                        "unknown key '{}' in {what} (expected one of: {})",
                        peregrine_filter::escape::terminal_safe(key),
                        known.join(", ")
                    ),
                ),
                None => self.err(k, format!("a key of {what} must be a plain value")),
            }
        }
        Some(out)
    }
}

/// Parses the text of one policies file named `file`.
pub fn parse(file: &str, text: &str) -> Result<Policies, PolicyErrors> {
    let mut cx = Ctx {
        file,
        errors: Vec::new(),
    };
    let docs = match yaml::parse_documents(text) {
        Ok(d) => d,
        Err(e) => {
            return Err(PolicyErrors(vec![PolicyError {
                file: file.to_string(),
                line: e.mark.line + 1,
                column: e.mark.column + 1,
                message: format!("invalid YAML: {e}"),
            }]))
        }
    };
    let mut out = Policies::default();
    for doc in &docs {
        if doc.is_null() {
            continue;
        }
        let Some(items) = doc.as_seq() else {
            cx.err(
                doc,
                "a policies file is a list of policies (`- policy: NAME`)",
            );
            continue;
        };
        for item in items {
            if let Some(p) = policy(&mut cx, item) {
                out.policies.push(Arc::new(p));
            }
        }
    }
    if cx.errors.is_empty() {
        Ok(out)
    } else {
        Err(PolicyErrors(cx.errors))
    }
}

/// One `- policy:` item; `None` when it has errors (recorded) or is disabled.
fn policy(cx: &mut Ctx<'_>, item: &Node) -> Option<Policy> {
    const KEYS: &[&str] = &["policy", "enabled", "dry_run", "budget", "match", "actions"];
    let entries = cx.entries(item, "a policy", KEYS)?;
    let before = cx.errors.len();
    let get = |k: &str| entries.iter().find(|(key, _)| *key == k).map(|(_, v)| *v);
    let Some(name_node) = get("policy") else {
        cx.err(item, "a policy needs a name: `policy: NAME`");
        return None;
    };
    let name = cx.scalar(name_node, "policy")?;
    let enabled = get("enabled").map_or(Some(true), |n| cx.boolean(n, "enabled"));
    let dry_run = get("dry_run").map_or(Some(false), |n| cx.boolean(n, "dry_run"));
    let budget = match get("budget") {
        Some(n) => cx
            .number(n, "budget", u64::from(u32::MAX))
            .map(|v| Some(v as u32)),
        None => Some(None),
    };
    let matcher = match get("match") {
        Some(n) => matcher(cx, n),
        None => {
            cx.err(
                item,
                format!(
                    "policy '{}' needs a `match` block (an empty one acts on every alert: write `match: {{}}`)",
                    peregrine_filter::escape::terminal_safe(&name)
                ),
            );
            None
        }
    };
    let actions = match get("actions") {
        Some(n) => actions(cx, n),
        None => {
            cx.err(item, "a policy needs `actions`");
            None
        }
    };
    if cx.errors.len() > before {
        return None;
    }
    let (enabled, dry_run, budget, matcher, actions) =
        (enabled?, dry_run?, budget?, matcher?, actions?);
    enabled.then(|| Policy {
        name,
        matcher,
        actions,
        dry_run,
        budget,
        origin: format!(
            "{}:{}:{}",
            cx.file,
            item.mark.line + 1,
            item.mark.column + 1
        ),
    })
}

fn matcher(cx: &mut Ctx<'_>, n: &Node) -> Option<Matcher> {
    const KEYS: &[&str] = &["rules", "tags", "priority", "source", "output_fields"];
    let mut m = Matcher::default();
    for (key, v) in cx.entries(n, "match", KEYS)? {
        match key {
            "rules" => m.rules = cx.strings(v, "match.rules")?,
            "tags" => m.tags = cx.strings(v, "match.tags")?,
            "priority" => {
                let s = cx.scalar(v, "match.priority")?;
                match Priority::parse(&s) {
                    Some(p) => m.priority = Some(p),
                    None => cx.err(
                        v,
                        format!(
                            "unknown priority '{}'",
                            peregrine_filter::escape::terminal_safe(&s)
                        ),
                    ),
                }
            }
            "source" => m.source = Some(cx.scalar(v, "match.source")?),
            _ => {
                for (field, cond) in cx.entries(v, "match.output_fields", &[])? {
                    if let Some(t) = field_test(cx, cond) {
                        m.output_fields.push((field.to_string(), t));
                    }
                }
            }
        }
    }
    Some(m)
}

fn field_test(cx: &mut Ctx<'_>, n: &Node) -> Option<FieldTest> {
    if n.as_map().is_none() {
        return cx
            .strings(n, "an output field condition")
            .map(FieldTest::In);
    }
    const OPS: &[&str] = &["in", "startswith", "endswith", "contains", "glob"];
    let entries = cx.entries(n, "an output field condition", OPS)?;
    let [(op, v)] = entries.as_slice() else {
        cx.err(n, "an output field condition has exactly one operator");
        return None;
    };
    Some(match *op {
        "in" => FieldTest::In(cx.strings(v, "in")?),
        "startswith" => FieldTest::StartsWith(cx.scalar(v, "startswith")?),
        "endswith" => FieldTest::EndsWith(cx.scalar(v, "endswith")?),
        "contains" => FieldTest::Contains(cx.scalar(v, "contains")?),
        _ => FieldTest::Glob(cx.scalar(v, "glob")?),
    })
}

/// The signals an action may send, by name (with or without `SIG`).
pub(crate) fn signal(name: &str) -> Option<(rustix::process::Signal, &'static str)> {
    use rustix::process::Signal as S;
    let n = name.trim().to_ascii_uppercase();
    let n = n.strip_prefix("SIG").unwrap_or(&n);
    Some(match n {
        "KILL" => (S::KILL, "KILL"),
        "TERM" => (S::TERM, "TERM"),
        "INT" => (S::INT, "INT"),
        "HUP" => (S::HUP, "HUP"),
        "QUIT" => (S::QUIT, "QUIT"),
        "STOP" => (S::STOP, "STOP"),
        "USR1" => (S::USR1, "USR1"),
        "USR2" => (S::USR2, "USR2"),
        _ => return None,
    })
}

fn signal_param(
    cx: &mut Ctx<'_>,
    n: Option<&Node>,
) -> Option<(rustix::process::Signal, &'static str)> {
    let Some(n) = n else {
        return signal("KILL");
    };
    let s = cx.scalar(n, "signal")?;
    let found = signal(&s);
    if found.is_none() {
        cx.err(
            n,
            format!(
                "unknown signal '{}' (KILL, TERM, INT, HUP, QUIT, STOP, USR1, USR2)",
                peregrine_filter::escape::terminal_safe(&s)
            ),
        );
    }
    found
}

/// The longest timeout a script or webhook may have.
const MAX_TIMEOUT_SECS: u64 = 300;

fn actions(cx: &mut Ctx<'_>, n: &Node) -> Option<Vec<Action>> {
    let Some(items) = n.as_seq() else {
        cx.err(n, "actions must be a list (`- kill: {}`)");
        return None;
    };
    if items.is_empty() {
        cx.err(n, "a policy needs at least one action");
        return None;
    }
    let mut out = Vec::new();
    let mut ok = true;
    for item in items {
        match action(cx, item) {
            Some(a) => out.push(a),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

fn action(cx: &mut Ctx<'_>, item: &Node) -> Option<Action> {
    const KINDS: &[&str] = &[
        "kill",
        "pause",
        "stop",
        "kill_container",
        "script",
        "webhook",
        "isolate",
        "capture",
    ];
    if item.as_map().is_none_or(|m| m.len() != 1) {
        cx.err(item, "an action is a map with exactly one key (its kind)");
        return None;
    }
    let entries = cx.entries(item, "an action", KINDS)?;
    let [(kind, params)] = entries.as_slice() else {
        return None;
    };
    let get = param;
    match *kind {
        "kill" => {
            let p = cx.entries(params, "kill", &["target", "signal"])?;
            let target = match get(&p, "target").map(|n| (n, n.as_scalar())) {
                None | Some((_, Some("process"))) => KillTarget::Process,
                Some((_, Some("process_group"))) => KillTarget::ProcessGroup,
                Some((_, Some("container_init"))) => KillTarget::ContainerInit,
                Some((n, _)) => {
                    cx.err(
                        n,
                        "kill.target must be process, process_group or container_init",
                    );
                    return None;
                }
            };
            let (signal, _) = signal_param(cx, get(&p, "signal"))?;
            Some(Action::Kill { target, signal })
        }
        "pause" => {
            cx.entries(params, "pause", &[])
                .filter(Vec::is_empty)
                .or_else(|| {
                    cx.err(params, "pause takes no parameters (`pause: {}`)");
                    None
                })?;
            Some(Action::Container(ContainerOp::Pause))
        }
        "stop" => {
            let p = cx.entries(params, "stop", &["timeout"])?;
            let t = match get(&p, "timeout") {
                Some(n) => cx.number(n, "stop.timeout", MAX_TIMEOUT_SECS)? as u32,
                None => 10,
            };
            Some(Action::Container(ContainerOp::Stop(t)))
        }
        "kill_container" => {
            let p = cx.entries(params, "kill_container", &["signal"])?;
            let (_, name) = signal_param(cx, get(&p, "signal"))?;
            Some(Action::Container(ContainerOp::Kill(name)))
        }
        "script" => {
            let p = cx.entries(params, "script", &["command", "timeout", "env"])?;
            let Some(cmd) = get(&p, "command") else {
                cx.err(
                    params,
                    "script needs `command` (a list: program and arguments)",
                );
                return None;
            };
            let argv = cx.strings(cmd, "script.command")?;
            if argv.first().is_none_or(|p| !p.starts_with('/')) {
                cx.err(
                    cmd,
                    "script.command starts with the program's absolute path",
                );
                return None;
            }
            let timeout = timeout(cx, get(&p, "timeout"), "script.timeout")?;
            let mut env = Vec::new();
            if let Some(e) = get(&p, "env") {
                for (k, v) in cx.entries(e, "script.env", &[])? {
                    env.push((k.to_string(), cx.scalar(v, "script.env")?));
                }
            }
            Some(Action::Script { argv, timeout, env })
        }
        "isolate" => isolate(cx, params).map(Action::Isolate),
        "capture" => capture(cx, params).map(Action::Capture),
        _ => {
            let p = cx.entries(params, "webhook", &["url", "timeout"])?;
            let Some(u) = get(&p, "url") else {
                cx.err(params, "webhook needs `url`");
                return None;
            };
            let url = cx.scalar(u, "webhook.url")?;
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                cx.err(u, "webhook.url must start with http:// or https://");
                return None;
            }
            let timeout = timeout(cx, get(&p, "timeout"), "webhook.timeout")?;
            Some(Action::Webhook { url, timeout })
        }
    }
}

fn isolate(cx: &mut Ctx<'_>, params: &Node) -> Option<crate::isolate::Spec> {
    use crate::isolate::{Cidr, Spec};
    let p = cx.entries(
        params,
        "isolate",
        &["allow_cidrs", "allow_ports", "allow_dns"],
    )?;
    let mut spec = Spec::default();
    if let Some(n) = param(&p, "allow_cidrs") {
        for c in cx.strings(n, "isolate.allow_cidrs")? {
            match Cidr::parse(&c) {
                Some(c) => spec.allow_cidrs.push(c),
                None => {
                    cx.err(
                        n,
                        format!(
                            "isolate.allow_cidrs: '{}' is not an address or ADDRESS/PREFIX",
                            peregrine_filter::escape::terminal_safe(&c)
                        ),
                    );
                    return None;
                }
            }
        }
    }
    if let Some(n) = param(&p, "allow_ports") {
        for port in cx.strings(n, "isolate.allow_ports")? {
            match port.parse::<u16>() {
                Ok(v) if v > 0 => spec.allow_ports.push(v),
                _ => {
                    cx.err(
                        n,
                        format!(
                            "isolate.allow_ports: '{}' is not a port from 1 to 65535",
                            peregrine_filter::escape::terminal_safe(&port)
                        ),
                    );
                    return None;
                }
            }
        }
    }
    if let Some(n) = param(&p, "allow_dns") {
        spec.allow_dns = cx.boolean(n, "isolate.allow_dns")?;
    }
    Some(spec)
}

fn capture(cx: &mut Ctx<'_>, params: &Node) -> Option<crate::capture::Params> {
    use crate::capture::{Params, MAX_AFTER_SECS, MAX_BEFORE_SECS};
    let p = cx.entries(
        params,
        "capture",
        &["seconds_before", "seconds_after", "directory", "max_bytes"],
    )?;
    let mut out = Params::default();
    if let Some(n) = param(&p, "seconds_before") {
        out.before =
            Duration::from_secs(cx.number(n, "capture.seconds_before", MAX_BEFORE_SECS)?);
    }
    if let Some(n) = param(&p, "seconds_after") {
        out.after = Duration::from_secs(cx.number(n, "capture.seconds_after", MAX_AFTER_SECS)?);
    }
    if let Some(n) = param(&p, "directory") {
        let d = cx.scalar(n, "capture.directory")?;
        if !d.starts_with('/') {
            cx.err(n, "capture.directory must be an absolute path");
            return None;
        }
        out.directory = PathBuf::from(d);
    }
    if let Some(n) = param(&p, "max_bytes") {
        out.max_bytes = cx.number(n, "capture.max_bytes", 1 << 40)?;
        if out.max_bytes < 4096 {
            cx.err(n, "capture.max_bytes must be at least 4096");
            return None;
        }
    }
    Some(out)
}

fn param<'n>(p: &[(&str, &'n Node)], k: &str) -> Option<&'n Node> {
    p.iter().find(|(key, _)| *key == k).map(|(_, v)| *v)
}

fn timeout(cx: &mut Ctx<'_>, n: Option<&Node>, what: &str) -> Option<Duration> {
    match n {
        None => Some(Duration::from_secs(5)),
        Some(n) => cx
            .number(n, what, MAX_TIMEOUT_SECS)
            .map(Duration::from_secs),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(rule: &str, prio: Priority, fields: &[(&str, &str)]) -> Alert {
        let mut a = Alert::new(1, rule, prio, "out");
        a.tags = vec!["mitre_execution".into(), "host".into()];
        a.output_fields = fields
            .iter()
            .map(|(k, v)| (k.to_string(), OutputValue::Str(v.to_string())))
            .collect();
        a
    }

    /// Parses `text` and returns the one policy, or the error lines.
    fn check(text: &str) -> Result<Policy, Vec<String>> {
        match parse("p.yaml", text) {
            Ok(mut p) => Ok(Arc::unwrap_or_clone(p.policies.remove(0))),
            Err(e) => Err(e.0.iter().map(ToString::to_string).collect()),
        }
    }

    #[test]
    fn the_issue_shape_loads() {
        let p = check(
            "- policy: kill shadow readers\n  match:\n    rules: [Read sensitive file untrusted]\n  actions:\n    - kill: {}\n",
        )
        .expect("loads");
        assert_eq!(p.name, "kill shadow readers");
        assert_eq!(p.matcher.rules, vec!["Read sensitive file untrusted"]);
        assert_eq!(
            p.actions,
            vec![Action::Kill {
                target: KillTarget::Process,
                signal: rustix::process::Signal::KILL
            }]
        );
        assert_eq!(p.origin, "p.yaml:1:3");
    }

    #[test]
    fn every_action_and_parameter() {
        let p = check(
            r#"
- policy: all
  dry_run: true
  budget: 3
  match:
    tags: mitre_execution
    priority: warning
    source: syscall
    output_fields:
      proc.name: [sh, bash]
      fd.name: {startswith: /etc/}
  actions:
    - kill: {target: process_group, signal: SIGTERM}
    - kill: {target: container_init}
    - pause: {}
    - stop: {timeout: 3}
    - kill_container: {signal: term}
    - script: {command: [/bin/cat, "-"], timeout: 2, env: {A: b}}
    - webhook: {url: "http://127.0.0.1:9/x"}
    - isolate: {allow_cidrs: [10.0.0.0/8, "fd00::1"], allow_ports: [443, 8443], allow_dns: true}
    - capture: {seconds_before: 2, seconds_after: 3, directory: /var/tmp/pg, max_bytes: 100000}
"#,
        )
        .expect("loads");
        assert!(p.dry_run);
        assert_eq!(p.budget, Some(3));
        let names: Vec<_> = p.actions.iter().map(Action::name).collect();
        assert_eq!(
            names,
            [
                "kill_process_group",
                "kill_container_init",
                "pause",
                "stop",
                "kill_container",
                "script",
                "webhook",
                "isolate",
                "capture"
            ]
        );
        let Action::Isolate(spec) = &p.actions[7] else {
            panic!("{:?}", p.actions[7]);
        };
        let cidrs: Vec<String> = spec.allow_cidrs.iter().map(ToString::to_string).collect();
        assert_eq!(cidrs, ["10.0.0.0/8", "fd00::1/128"]);
        assert_eq!(
            (spec.allow_ports.as_slice(), spec.allow_dns),
            (&[443, 8443][..], true)
        );
        assert_eq!(
            p.actions[8],
            Action::Capture(crate::capture::Params {
                before: Duration::from_secs(2),
                after: Duration::from_secs(3),
                directory: PathBuf::from("/var/tmp/pg"),
                max_bytes: 100_000,
            })
        );
        assert_eq!(p.actions[4], Action::Container(ContainerOp::Kill("TERM")));
        assert_eq!(
            p.actions[5],
            Action::Script {
                argv: vec!["/bin/cat".into(), "-".into()],
                timeout: Duration::from_secs(2),
                env: vec![("A".into(), "b".into())]
            }
        );
    }

    #[test]
    fn errors_name_file_line_and_column_all_at_once() {
        let errs = check(
            "- policy: a\n  match: {priority: loud}\n  actions:\n    - explode: {}\n    - kill: {signal: NINE}\n- policy: b\n  actions: [{script: {command: [rm]}}]\n",
        )
        .expect_err("fails");
        assert_eq!(
            errs,
            [
                "p.yaml:2:21: unknown priority 'loud'",
                "p.yaml:4:7: unknown key 'explode' in an action (expected one of: kill, pause, stop, kill_container, script, webhook, isolate, capture)",
                "p.yaml:5:22: unknown signal 'NINE' (KILL, TERM, INT, HUP, QUIT, STOP, USR1, USR2)",
                "p.yaml:6:3: policy 'b' needs a `match` block (an empty one acts on every alert: write `match: {}`)",
                "p.yaml:7:32: script.command starts with the program's absolute path",
            ]
        );
        assert_eq!(
            check("- policy: [x\n").expect_err("bad yaml")[0]
                .split(": invalid YAML")
                .next(),
            Some("p.yaml:2:1")
        );
        assert_eq!(
            check("policy: x\n").expect_err("not a list"),
            ["p.yaml:1:1: a policies file is a list of policies (`- policy: NAME`)"]
        );
    }

    #[test]
    fn isolate_and_capture_parameters_are_checked() {
        let errs = check(
            "- policy: a\n  match: {}\n  actions:\n    - isolate: {allow_cidrs: [10.0.0.0/40]}\n    - isolate: {allow_ports: [0]}\n    - capture: {directory: rel, seconds_before: 61}\n",
        )
        .expect_err("fails");
        assert_eq!(
            errs,
            [
                "p.yaml:4:30: isolate.allow_cidrs: '10.0.0.0/40' is not an address or ADDRESS/PREFIX",
                "p.yaml:5:30: isolate.allow_ports: '0' is not a port from 1 to 65535",
                "p.yaml:6:49: capture.seconds_before must be a whole number from 0 to 60",
            ]
        );
        let p = check("- policy: a\n  match: {}\n  actions: [isolate: {}, capture: {}]\n")
            .expect("defaults");
        assert_eq!(
            p.actions,
            [
                Action::Isolate(crate::isolate::Spec::default()),
                Action::Capture(crate::capture::Params::default())
            ]
        );
        let set = Policies {
            policies: vec![Arc::new(p)],
        };
        assert_eq!(set.capture_window(), Some(Duration::from_secs(5)));
        assert_eq!(Policies::default().capture_window(), None);
    }

    #[test]
    fn disabled_policies_are_left_out() {
        let p = parse(
            "p.yaml",
            "- policy: off\n  enabled: false\n  match: {}\n  actions: [kill: {}]\n",
        )
        .expect("loads");
        assert!(p.is_empty());
    }

    #[test]
    fn matching() {
        let p = check(
            "- policy: m\n  match:\n    rules: ['Read sensitive*']\n    tags: [host]\n    priority: warning\n    output_fields:\n      proc.name: cat\n      fd.name: {glob: /etc/sha*}\n  actions: [kill: {}]\n",
        )
        .expect("loads");
        let ok = [("proc.name", "cat"), ("fd.name", "/etc/shadow")];
        let m = |a: &Alert| p.matcher.matches(a);
        assert!(m(&alert(
            "Read sensitive file untrusted",
            Priority::Warning,
            &ok
        )));
        assert!(m(&alert("Read sensitive file", Priority::Critical, &ok)));
        // Less severe than the minimum.
        assert!(!m(&alert("Read sensitive file", Priority::Notice, &ok)));
        assert!(!m(&alert("Other rule", Priority::Warning, &ok)));
        assert!(!m(&alert(
            "Read sensitive file",
            Priority::Warning,
            &[("proc.name", "less"), ("fd.name", "/etc/shadow")]
        )));
        // A field the alert lacks never matches.
        assert!(!m(&alert(
            "Read sensitive file",
            Priority::Warning,
            &[("proc.name", "cat")]
        )));
        let mut other_source = alert("Read sensitive file", Priority::Warning, &ok);
        other_source.tags.clear();
        assert!(!m(&other_source));
    }

    #[test]
    fn duplicate_names_across_files_are_reported() {
        let dir = std::env::temp_dir().join(format!("pg-policies-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let (a, b) = (dir.join("a.yaml"), dir.join("b.yaml"));
        let text = "- policy: same\n  match: {}\n  actions: [kill: {}]\n";
        std::fs::write(&a, text).expect("write");
        std::fs::write(&b, format!("\n{text}")).expect("write");
        let errs = Policies::load(&[a.clone(), b.clone()]).expect_err("duplicate");
        assert_eq!(
            errs.0[0].to_string(),
            format!(
                "{}:2:3: policy 'same' is defined twice (first at {}:1:3)",
                b.display(),
                a.display()
            )
        );
        let missing = Policies::load(&[dir.join("none.yaml")]).expect_err("missing");
        assert!(missing.0[0]
            .message
            .starts_with("cannot read the policies file"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
