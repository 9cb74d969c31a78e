//! Which opened paths the active rules can need: the analysis behind in-kernel shedding.
//!
//! The kernel may drop an open (and the later close of its fd) when no loaded rule could match
//! an event that depends on it. For that, every rule that can match an open-family event, or
//! an event on an fd whose fields it reads, yields a *necessary condition on the opened path*:
//! a set of atoms (prefixes, exact paths, suffixes) such that, if the rule matches, the path
//! satisfies one of them. The condition is over-approximated from its AST:
//!
//! - `fd.name`/`fd.nameraw` with `=`, `in` give exact paths; `startswith`, `pmatch` and `glob`
//!   (up to its first wildcard) give prefixes; `endswith` gives a suffix; `fd.directory` gives
//!   the prefix `dir/`; `fd.filename` gives the suffix `/name` (or a suffix for `endswith`);
//! - `or` is the union, `and` the tightest side (either is sound);
//! - `not`, `!=`, `contains` (mostly) and anything else → *any path*.
//!
//! Paths that need normalisation are never shed by the kernel (they contain `..`, `/.` or
//! `//`, end with `/`, are relative or longer than its window; see [`never_shed`]), so for the
//! rest `fd.name` equals the path as passed. A `contains` of a string that itself holds `..`,
//! `/.` or `//` is therefore satisfied only by paths the kernel never sheds: it gives no atom
//! at all (the empty set), which is how Falco's "Directory traversal monitored file read" and
//! `user_ssh_directory` stay sheddable.
//!
//! A socket-only comparison (`fd.type in (ipv4, ipv6)`, `fd.sport = 22`, …) cannot be true on
//! an fd opened from a path: it also gives the empty set.

use std::collections::BTreeSet;

use peregrine_event::raw::KIND_SYSCALL;
use peregrine_event::schema::{schema_for, ParamType};
use peregrine_event::{EventType, EventTypeSet};
use peregrine_filter::ast::{CmpOp, Expr, Operand, Rhs, Transformer, TransformerArg};

use crate::RuleSet;

/// One necessary condition on an opened path.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PathAtom {
    /// The path starts with these bytes.
    Prefix(Vec<u8>),
    /// The path is exactly these bytes.
    Exact(Vec<u8>),
    /// The path ends with these bytes.
    Suffix(Vec<u8>),
}

/// What the active rules need of opened paths.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PathNeeds {
    /// Every open is needed (no shedding), because of this rule (`None`: not a rule but
    /// something else, e.g. an output field added to every rule).
    Every { rule: Option<String>, why: String },
    /// Only opens of paths matching one of these atoms (plus those the kernel never sheds).
    Atoms(BTreeSet<PathAtom>),
}

impl PathNeeds {
    /// Whether some open can be shed at all.
    pub fn can_shed(&self) -> bool {
        matches!(self, PathNeeds::Atoms(_))
    }
}

/// The open family: events whose path the kernel tests.
pub const OPEN_FAMILY: &[&str] = &["open", "openat", "openat2", "creat", "open_by_handle_at"];

/// True for a path the kernel never sheds, whatever the atoms: relative, needing
/// normalisation (`..`, `/.`, `//`, a trailing `/`), so that for every other path `fd.name` is
/// the path as passed. The kernel applies the same test (bpf/syscall/shed.h).
pub fn never_shed(path: &[u8]) -> bool {
    path.first() != Some(&b'/')
        || path.ends_with(b"/")
        || path
            .windows(2)
            .any(|w| w == b".." || w == b"/." || w == b"//")
}

/// Whether `path` (absolute, needing no normalisation) satisfies one of `atoms`.
pub fn matches(atoms: &BTreeSet<PathAtom>, path: &[u8]) -> bool {
    atoms.iter().any(|a| match a {
        PathAtom::Prefix(p) => path.starts_with(p),
        PathAtom::Exact(p) => path == p.as_slice(),
        PathAtom::Suffix(p) => path.ends_with(p),
    })
}

/// Fields read from the fd table: a rule reading them on an event of `types` depends on the
/// open that named the event's fd. `evt.arg.NAME` does when NAME is an fd parameter of one of
/// the types (it renders as `<f>/path`); `evt.args` and `evt.arg[N]` may.
fn is_fd_field(name: &str, types: &EventTypeSet) -> bool {
    if name.starts_with("fd.") || name.starts_with("fdlist.") || name.starts_with("proc.fd") {
        return true;
    }
    if name == "evt.args" || name == "evt.arg" || name.starts_with("evt.arg[") {
        return true;
    }
    match name.strip_prefix("evt.arg.") {
        Some(param) => types.iter().any(|t| fd_param_named(t, param)),
        None => false,
    }
}

fn fd_param_named(t: EventType, param: &str) -> bool {
    syscall_schema(t).is_some_and(|s| {
        s.params
            .iter()
            .skip(1)
            .any(|p| p.name == param && p.ty == ParamType::Fd)
    })
}

fn syscall_schema(t: EventType) -> Option<&'static peregrine_event::schema::Schema> {
    t.syscall_nr()
        .and_then(|nr| u16::try_from(nr).ok())
        .and_then(|nr| schema_for(KIND_SYSCALL, nr))
}

/// Whether `name` reads an fd of an event of `types` other than the one `fd.*` fields
/// describe (sendfile's `in_fd`, dup2's `oldfd`; `evt.args` shows them all): the atoms of a
/// condition constrain only that one fd's path, so such a rule needs every open. Directory
/// fds (`dirfd`, `olddirfd`, …) are excepted: the kernel never sheds a directory's open.
fn reads_other_fd(name: &str, types: &EventTypeSet) -> bool {
    let other = |t: EventType, only: Option<&str>| {
        syscall_schema(t).is_some_and(|s| {
            s.params.iter().skip(1).any(|p| {
                p.ty == ParamType::Fd
                    && p.name != "fd"
                    && !p.name.contains("dir")
                    && only.is_none_or(|o| o == p.name)
            })
        })
    };
    if name == "evt.args" || name == "evt.arg" || name.starts_with("evt.arg[") {
        return types.iter().any(|t| other(t, None));
    }
    name.strip_prefix("evt.arg.")
        .is_some_and(|param| types.iter().any(|t| other(t, Some(param))))
}

/// Fields whose value counts or lists every fd (not one event's): any shed open changes them.
fn needs_every_fd(name: &str) -> bool {
    name.starts_with("proc.fd")
}

/// Event types that act on an fd they did not create: an fd parameter after the first (an
/// exit event's first parameter is its result, and an fd result — socket, accept, pipe — is
/// new, never named by an earlier open).
fn has_fd_param(t: EventType) -> bool {
    // Directory fds (linkat's olddir, openat's dirfd) excepted: their opens are never shed.
    syscall_schema(t).is_some_and(|s| {
        s.params
            .iter()
            .skip(1)
            .any(|p| p.ty == ParamType::Fd && !p.name.contains("dir"))
    })
}

/// Whether an event of type `t` can depend on an opened path: an open, or an event on an fd
/// it did not create.
fn path_dependent(t: EventType) -> bool {
    OPEN_FAMILY.contains(&t.name()) || has_fd_param(t)
}

/// The path atoms the active rules of `rules` need; `extra_fields` are output fields added to
/// every rule (Falco's `append_output`).
pub fn path_needs(rules: &RuleSet, extra_fields: &[&str]) -> PathNeeds {
    let opens: EventTypeSet = OPEN_FAMILY
        .iter()
        .filter_map(|n| EventType::from_name(n))
        .collect();
    let mut atoms = BTreeSet::new();
    for (i, rule) in rules.rules().iter().enumerate() {
        if !rules.is_active(i as u32) {
            continue;
        }
        let mut fields = Vec::new();
        fields_of(&rule.condition, &mut fields);
        let out = rule.output_format().fields();
        let all = || {
            fields
                .iter()
                .map(String::as_str)
                .chain(out.iter().copied())
                .chain(extra_fields.iter().copied())
        };
        if let Some(f) = all().find(|f| reads_other_fd(f, &rule.event_types)) {
            return PathNeeds::Every {
                rule: Some(rule.name.clone()),
                why: format!("it reads {f}, an fd its path condition does not constrain"),
            };
        }
        if let Some(f) = all().find(|f| needs_every_fd(f)) {
            return PathNeeds::Every {
                rule: Some(rule.name.clone()),
                why: format!("it reads {f}, which counts every open fd"),
            };
        }
        let on_open = !rule.event_types.intersection(&opens).is_empty();
        let on_fd = all().any(|f| is_fd_field(f, &rule.event_types))
            && rule.event_types.iter().any(has_fd_param);
        if !on_open && !on_fd {
            continue;
        }
        match atoms_of(&rule.condition) {
            Some(a) => atoms.extend(a),
            None => {
                return PathNeeds::Every {
                    rule: Some(rule.name.clone()),
                    why: if on_open {
                        "its condition on opens names no path".to_string()
                    } else {
                        "it reads fd fields of events on fds and its condition names no path"
                            .to_string()
                    },
                }
            }
        }
    }
    PathNeeds::Atoms(atoms)
}

fn fields_of(e: &Expr, out: &mut Vec<String>) {
    fn transformer(t: &Transformer, out: &mut Vec<String>) {
        for a in &t.args {
            arg(a, out);
        }
    }
    fn arg(a: &TransformerArg, out: &mut Vec<String>) {
        match a {
            TransformerArg::Field(f) => out.push(f.name.clone()),
            TransformerArg::Transformer(t) => transformer(t, out),
            TransformerArg::List(l, _) => l.iter().for_each(|a| arg(a, out)),
            TransformerArg::Value(..) => {}
        }
    }
    fn operand(o: &Operand, out: &mut Vec<String>) {
        match o {
            Operand::Field(f) => out.push(f.name.clone()),
            Operand::Transformer(t) => transformer(t, out),
        }
    }
    match e {
        Expr::And(c, _) | Expr::Or(c, _) => c.iter().for_each(|e| fields_of(e, out)),
        Expr::Not(c, _) => fields_of(c, out),
        Expr::Identifier(..) => {}
        Expr::Unary { left, .. } => operand(left, out),
        Expr::Binary { left, right, .. } => {
            operand(left, out);
            if let Rhs::Transformer(t) = right {
                transformer(t, out);
            }
        }
    }
}

/// The atoms a condition implies, `None` for "any path".
fn atoms_of(e: &Expr) -> Option<BTreeSet<PathAtom>> {
    match e {
        Expr::Or(c, _) => {
            let mut all = BTreeSet::new();
            for e in c {
                all.extend(atoms_of(e)?);
            }
            Some(all)
        }
        // Any conjunct's set is a necessary condition; the smallest set sheds the most.
        Expr::And(c, _) => c.iter().filter_map(atoms_of).min_by_key(tightness),
        Expr::Binary {
            left: Operand::Field(f),
            op: CmpOp::Eq | CmpOp::EqEq | CmpOp::In,
            right,
            ..
        } if f.name == "evt.type" => {
            // A branch for event types none of which can depend on an opened path (an exec
            // beside an open in `or`) is not satisfied by any event that does: no atom.
            let names = values(right)?;
            let dependent = names.iter().any(|n| {
                std::str::from_utf8(n)
                    .ok()
                    .and_then(EventType::from_name)
                    .is_none_or(path_dependent)
            });
            if dependent {
                None
            } else {
                Some(BTreeSet::new())
            }
        }
        Expr::Binary {
            left: Operand::Field(f),
            op,
            right,
            ..
        } => comparison(&f.name, *op, right),
        _ => None,
    }
}

/// Orders atom sets: fewer atoms first, then longer ones (a rough "sheds more").
fn tightness(s: &BTreeSet<PathAtom>) -> (usize, std::cmp::Reverse<usize>) {
    let len = s
        .iter()
        .map(|a| match a {
            PathAtom::Prefix(p) | PathAtom::Exact(p) | PathAtom::Suffix(p) => p.len(),
        })
        .min()
        .unwrap_or(usize::MAX);
    (s.len(), std::cmp::Reverse(len))
}

fn values(right: &Rhs) -> Option<Vec<&[u8]>> {
    match right {
        Rhs::Value(v, _) => Some(vec![v.as_slice()]),
        Rhs::List(l, _) => Some(l.iter().map(|(v, _)| v.as_slice()).collect()),
        Rhs::Identifier(..) | Rhs::Transformer(_) => None,
    }
}

/// fd.type / fd.typechar values that an fd opened from a path can have.
const FILE_TYPES: &[&[u8]] = &[b"file", b"directory", b"f", b"d"];

/// Socket-only fields: no value for an fd opened from a path.
const SOCKET_FIELDS: &[&str] = &[
    "fd.sip",
    "fd.cip",
    "fd.rip",
    "fd.lip",
    "fd.sport",
    "fd.cport",
    "fd.rport",
    "fd.lport",
    "fd.sproto",
    "fd.cproto",
    "fd.rproto",
    "fd.lproto",
    "fd.l4proto",
    "fd.net",
    "fd.snet",
    "fd.cnet",
    "fd.rnet",
    "fd.lnet",
    "fd.sip.name",
    "fd.cip.name",
    "fd.rip.name",
    "fd.lip.name",
    "fd.connected",
    "fd.is_server",
    "fd.name_changed",
];

fn comparison(field: &str, op: CmpOp, right: &Rhs) -> Option<BTreeSet<PathAtom>> {
    let vals = values(right)?;
    let positive = matches!(op, CmpOp::Eq | CmpOp::EqEq | CmpOp::In);
    if (field == "fd.type" || field == "fd.typechar") && positive {
        // No opened path can satisfy a comparison with socket/pipe/… types only.
        return if vals.iter().any(|v| FILE_TYPES.contains(v)) {
            None
        } else {
            Some(BTreeSet::new())
        };
    }
    if SOCKET_FIELDS.contains(&field) && positive {
        return Some(BTreeSet::new());
    }
    let mut out = BTreeSet::new();
    for v in vals {
        // `Some(None)`: only paths the kernel never sheds satisfy it, no atom needed.
        if let Some(a) = atom(field, op, v)? {
            out.insert(a);
        }
    }
    Some(out)
}

/// One value's atom; `Some(None)` when only never-shed paths can satisfy it.
fn atom(field: &str, op: CmpOp, v: &[u8]) -> Option<Option<PathAtom>> {
    let unshedable = |s: &[u8]| s.windows(2).any(|w| w == b".." || w == b"/." || w == b"//");
    match (field, op) {
        ("fd.name" | "fd.nameraw", CmpOp::Eq | CmpOp::EqEq | CmpOp::In) => {
            Some(Some(PathAtom::Exact(v.to_vec())))
        }
        ("fd.name" | "fd.nameraw", CmpOp::StartsWith | CmpOp::PMatch) => {
            nonempty(v).then(|| Some(PathAtom::Prefix(v.to_vec())))
        }
        ("fd.name" | "fd.nameraw", CmpOp::Glob) => glob_atom(v).map(Some),
        ("fd.name" | "fd.nameraw", CmpOp::EndsWith) => {
            nonempty(v).then(|| Some(PathAtom::Suffix(v.to_vec())))
        }
        ("fd.name" | "fd.nameraw", CmpOp::Contains) if unshedable(v) => Some(None),
        ("fd.directory", CmpOp::Eq | CmpOp::EqEq | CmpOp::In) => {
            let mut p = v.to_vec();
            if !p.ends_with(b"/") {
                p.push(b'/');
            }
            Some(Some(PathAtom::Prefix(p)))
        }
        ("fd.directory", CmpOp::StartsWith | CmpOp::PMatch) => {
            nonempty(v).then(|| Some(PathAtom::Prefix(v.to_vec())))
        }
        ("fd.filename", CmpOp::Eq | CmpOp::EqEq | CmpOp::In) => {
            let mut p = b"/".to_vec();
            p.extend_from_slice(v);
            Some(Some(PathAtom::Suffix(p)))
        }
        ("fd.filename", CmpOp::EndsWith) => nonempty(v).then(|| Some(PathAtom::Suffix(v.to_vec()))),
        _ => None,
    }
}

fn nonempty(v: &[u8]) -> bool {
    !v.is_empty()
}

/// A glob's literal prefix (up to its first wildcard) or, without wildcards, the exact path.
fn glob_atom(v: &[u8]) -> Option<PathAtom> {
    match v
        .iter()
        .position(|c| matches!(c, b'*' | b'?' | b'[' | b'\\'))
    {
        None => Some(PathAtom::Exact(v.to_vec())),
        Some(0) => None,
        Some(i) => Some(PathAtom::Prefix(v[..i].to_vec())),
    }
}
