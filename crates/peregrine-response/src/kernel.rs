//! Which kill policies the kernel can carry out in the matched system call, and the filters
//! that it loads for them.
//!
//! Key decision: a policy runs in the kernel only when the kernel's filter is *exactly* the
//! rule, never a superset: every conjunct of every rule the policy selects (after lists,
//! macros and exceptions are expanded: the compiled AST) must be one this module knows how to
//! evaluate from the event alone, with the same answer user space would give. Anything else
//! — an unknown field, a `not`, an `or` across fields, an output-field condition in the
//! policy — keeps the whole policy in user space, and [`Plan::lines`] says why. A filter
//! may be *narrower* than its rule (only successful calls, only normalised absolute paths,
//! only the container layouts the kernel recognises): what it leaves is still killed from
//! user space, because the policy stays there as well (the kernel's kills are looked up by
//! the worker and reported as "killed in kernel").
//!
//! What the kernel evaluates (bpf/lib/kill.h):
//! - exec (`evt.type in (execve, execveat)`, both: `sched_process_exec` cannot tell them
//!   apart): `proc.name` `=`/`in` (the comm the exec just set), `proc.is_exe_writable`,
//!   `proc.is_exe_upper_layer`, `proc.is_exe_from_memfd` `= true` (the same bits the exec
//!   record carries), `proc.pname` / `proc.aname[1]` `=`/`in` (see [`PNAME_LIMITS`]);
//! - open (any of open, openat, openat2, creat; exactly those the rule names), at exit, on
//!   success: `fd.name` `=`/`in`/`startswith`, `evt.is_open_read`/`evt.is_open_write = true`;
//! - connect, at exit, on success (or `EINPROGRESS`): `fd.sport`/`fd.rport` `=`/`in`,
//!   `fd.sip`/`fd.rip` `=`/`in`, `fd.snet`/`fd.rnet` `=`/`in` (CIDR), `evt.rawres >= 0`;
//! - everywhere: `container.id != host` (the kernel recognises docker, podman, CRI-O and
//!   containerd cgroup names: a subset of what user space calls a container), `evt.dir = <`.

use std::collections::BTreeSet;
use std::net::IpAddr;

use peregrine_filter::ast::{CmpOp, Expr, Operand, Rhs};
use peregrine_filter::escape::terminal_safe;
use peregrine_rules::RuleSet;

use crate::policy::{Action, KillTarget, Matcher, Policies};

/// Why the kernel's parent name can differ from user space's `proc.pname`, and what the
/// kernel does about it (printed with every policy that has a parent-name filter).
///
/// User space's `proc.pname` is the name the parent process got at its exec (the state's
/// record of it), by the state's parent pid. The kernel reads the comm of `real_parent`'s
/// thread group leader at `sched_process_exec`. They differ when the parent renamed itself
/// since its exec (`prctl(PR_SET_NAME)`, `/proc/PID/comm`: user space does not see it), when
/// the child was re-parented to a reaper (user space learns it from the old parent's exit
/// event, which may still be queued), and for a moment when the parent re-exec'd (its new
/// name is in the kernel before its exec record reaches the state). The kernel therefore
/// decides only when the parent's comm is its executable's file name and the parent is no
/// reaper (pid 1 of its namespace, a subreaper); otherwise user space decides. `proc.aname`
/// of any other depth, and `proc.pname` on an open or connect, stay in user space.
pub const PNAME_LIMITS: &str = "the parent's comm, decided in the kernel only when it is the parent's executable's name (not renamed since its exec) and the parent is no reaper (a re-parented child's new parent); user space decides the rest";

/// Filters the kernel holds at most (one bit each in its masks).
pub const MAX_FILTERS: usize = 32;

/// The longest comm (`proc.name` of an exec), without its NUL.
pub const COMM_MAX: usize = 15;

/// Paths the kernel compares are shorter than this (its 256-byte key holds a generation
/// byte and the NUL too, and a path that fills it may have been cut).
pub const PATH_MAX: usize = 254;

/// Open-family system calls a filter applies to (a rule names some of them).
pub mod open_calls {
    pub const OPEN: u8 = 1;
    pub const OPENAT: u8 = 2;
    pub const OPENAT2: u8 = 4;
    pub const CREAT: u8 = 8;
}

/// `proc.is_exe_*` bits, as the exec record's `flags` parameter (Falco's `PPM_EXE_*`).
pub mod exe_flags {
    pub const WRITABLE: u32 = 1;
    pub const UPPER_LAYER: u32 = 2;
    pub const FROM_MEMFD: u32 = 4;
}

/// What one filter tests, beyond its scope.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Test {
    /// At `sched_process_exec`: the new comm is one of `names` (if any), the parent's comm
    /// one of `pnames` (if any), and the new image has every bit of `flags`.
    Exec {
        names: Option<BTreeSet<Vec<u8>>>,
        pnames: Option<BTreeSet<Vec<u8>>>,
        flags: u32,
    },
    /// At the exit of a successful open of `calls` (bits of [`open_calls`]): the path is one
    /// of `exact` or starts with one of `prefixes`; opened for reading / writing if asked.
    Open {
        calls: u8,
        exact: BTreeSet<Vec<u8>>,
        prefixes: BTreeSet<Vec<u8>>,
        read: bool,
        write: bool,
    },
    /// At the exit of a successful connect: the remote port is one of `ports` (if any) and
    /// the remote address is in one of `nets` (if any).
    Connect {
        ports: Option<BTreeSet<u16>>,
        nets: Option<BTreeSet<(IpAddr, u8)>>,
        /// `evt.rawres >= 0`: a non-blocking connect's `EINPROGRESS` does not count.
        success_only: bool,
    },
}

/// One filter: a rule of a policy, compiled for the kernel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Filter {
    pub policy: String,
    pub rule: String,
    /// Count and report, never signal (the policy's or the global dry run).
    pub dry_run: bool,
    /// Only processes in a container (`container.id != host`).
    pub in_container: bool,
    pub test: Test,
}

/// Where a policy's kill runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Placement {
    /// In the kernel, through these filters (user space still handles what they leave).
    Kernel(Vec<Filter>),
    /// In user space only, for this reason.
    UserSpace(String),
}

/// The placement of every policy with a kill action, in policy order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    pub policies: Vec<(String, Placement)>,
}

impl Plan {
    /// Every kernel filter, in order: a filter's index is its bit in the kernel's masks.
    pub fn filters(&self) -> impl Iterator<Item = &Filter> {
        self.policies.iter().flat_map(|(_, p)| match p {
            Placement::Kernel(f) => f.as_slice(),
            Placement::UserSpace(_) => &[],
        })
    }

    /// Whether the policy named `policy` has kernel filters.
    pub fn in_kernel(&self, policy: &str) -> bool {
        self.policies
            .iter()
            .any(|(n, p)| n == policy && matches!(p, Placement::Kernel(_)))
    }

    /// One line per policy for the start-up log (escaped: names come from operators' files).
    pub fn lines(&self) -> Vec<String> {
        self.policies
            .iter()
            .map(|(name, p)| match p {
                Placement::Kernel(f) => format!(
                    "policy '{}': kill in the kernel, in the matched system call ({} filter{}: {})",
                    terminal_safe(name),
                    f.len(),
                    if f.len() == 1 { "" } else { "s" },
                    f.iter()
                        .map(|f| format!("'{}' {}", terminal_safe(&f.rule), f.describe()))
                        .collect::<Vec<_>>()
                        .join("; ")
                ),
                Placement::UserSpace(why) => format!(
                    "policy '{}': kill from user space — {}",
                    terminal_safe(name),
                    terminal_safe(why)
                ),
            })
            .collect()
    }
}

impl Filter {
    fn describe(&self) -> String {
        let scope = if self.in_container {
            " in containers"
        } else {
            ""
        };
        let dry = if self.dry_run { ", dry run" } else { "" };
        let what = match &self.test {
            Test::Exec {
                names,
                pnames,
                flags,
            } => format!(
                "exec{}{}{}",
                names
                    .as_ref()
                    .map_or(String::new(), |n| format!(" of {} name(s)", n.len())),
                pnames.as_ref().map_or(String::new(), |n| format!(
                    " from {} parent name(s) ({PNAME_LIMITS})",
                    n.len()
                )),
                if *flags != 0 {
                    format!(" with exe flags {flags:#x}")
                } else {
                    String::new()
                }
            ),
            Test::Open {
                exact, prefixes, ..
            } => format!(
                "open of {} path(s), {} prefix(es)",
                exact.len(),
                prefixes.len()
            ),
            Test::Connect { ports, nets, .. } => format!(
                "connect to {} port(s), {} net(s)",
                ports.as_ref().map_or(0, BTreeSet::len),
                nets.as_ref().map_or(0, BTreeSet::len)
            ),
        };
        format!("{what}{scope}{dry}")
    }
}

/// What the kernel did to one process, as its kill log says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelKill {
    pub policy: String,
    pub rule: String,
    pub dry_run: bool,
    /// The kernel's budget was spent: it matched and left the process alive.
    pub observed: bool,
    /// From the filter's match to the signal sent, in the kernel.
    pub signal_ns: u64,
}

/// The agent's side of the in-kernel kill, as the response worker sees it (implemented over
/// the capture's maps by the runtime, so this crate stays free of BPF).
pub trait KernelKills: Send + Sync {
    /// The kernel's kill of thread group `tgid` for the event at `event_time_ns` (epoch),
    /// taken out of its log; `None` when the kernel did not act on that process then.
    fn take(&self, tgid: i64, event_time_ns: u64) -> Option<KernelKill>;
    /// Switches every kernel filter on or off; false when the kernel refused.
    fn set_active(&self, on: bool) -> bool;
}

/// Where the responder keeps the attached [`KernelKills`].
pub(crate) type Slot = std::sync::Arc<std::sync::Mutex<Option<std::sync::Arc<dyn KernelKills>>>>;

impl crate::Worker {
    /// One more circuit-breaker trip in the counters.
    fn count_breaker_trip(&self) {
        self.counters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .breaker_trips += 1;
    }

    /// A kill the kernel already made for this policy, reported instead of running the
    /// action again: it spends the budget like any action, and when that opens a breaker the
    /// kernel's filters go off (until a later action finds the budget available again).
    pub(crate) fn reported_by_kernel(
        &mut self,
        policy: &crate::Policy,
        action: &Action,
        job: &crate::Job,
    ) -> Option<crate::Outcome> {
        use crate::budget::Take;
        use std::time::Instant;
        let k = self
            .kernel
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()?;
        let now = Instant::now();
        if self.kernel_off && self.global.check(now) == Take::Granted {
            let own_ok = match self.per_policy.get_mut(&policy.name) {
                Some(b) => b.check(now) == Take::Granted,
                None => true,
            };
            if own_ok && k.set_active(true) {
                self.kernel_off = false;
                log::info!(
                    "response: the budget allows actions again: kernel kill filters back on"
                );
            }
        }
        let (
            Action::Kill {
                target: KillTarget::Process,
                ..
            },
            Some(subject),
        ) = (action, job.subject.as_ref())
        else {
            return None;
        };
        let kill = k.take(subject.pid, job.alert.time_ns)?;
        if kill.policy != policy.name {
            return None;
        }
        let rule = terminal_safe(&kill.rule);
        if kill.observed {
            // The kernel's own budget held this one: said once per spell, audited each time.
            if !self.kernel_budget_spent {
                self.kernel_budget_spent = true;
                self.count_breaker_trip();
                log::warn!(
                    "response: the kernel's budget of {} kills per minute is spent (policy '{}'): circuit breaker open in the kernel, its kill filters only observe until the minute ends",
                    self.settings.budget_per_minute,
                    terminal_safe(&policy.name)
                );
            }
            return Some(crate::Outcome {
                kind: crate::Kind::Breaker,
                detail: format!(
                    "kernel budget of {} kills per minute spent: pid {} observed in the kernel, not killed (rule '{rule}')",
                    self.settings.budget_per_minute, subject.pid
                ),
            });
        }
        self.kernel_budget_spent = false;
        self.global.spend(now);
        if matches!(self.global.check(now), Take::Refused { tripped: true }) {
            // The kernel counts the same kills against the same budget (pg_kill_budget) and
            // observes once it is spent, even when a flood outruns this report: one breaker,
            // said once (its observed matches then need no second line).
            self.kernel_budget_spent = true;
            self.count_breaker_trip();
            log::warn!(
                "response: the global budget of {} actions per minute is spent by kernel kills (policy '{}'): circuit breaker open; the kernel holds the same budget and observes once it is spent",
                self.settings.budget_per_minute,
                terminal_safe(&policy.name)
            );
        }
        // A policy's own budget has no counterpart in the kernel: its trip switches the
        // kernel's filters off until the budgets allow actions again.
        let mut tripped = false;
        if let Some(n) = policy.budget {
            let b = self
                .per_policy
                .entry(policy.name.clone())
                .or_insert_with(|| crate::budget::Budget::per_minute(n));
            b.spend(now);
            tripped = matches!(b.check(now), Take::Refused { tripped: true });
        }
        if tripped && !self.kernel_off {
            self.count_breaker_trip();
            self.kernel_off = k.set_active(false);
            log::warn!(
                "response: the budget of policy '{}' is spent by kernel kills: circuit breaker open, kernel kill filters {}",
                terminal_safe(&policy.name),
                if self.kernel_off { "switched off" } else { "could not be switched off" }
            );
        }
        self.kernel_latency = Some(kill.signal_ns);
        Some(if kill.dry_run {
            crate::Outcome {
                kind: crate::Kind::DryRun,
                detail: format!(
                    "would kill pid {} in the kernel, in the matched call (dry run; rule '{rule}')",
                    subject.pid
                ),
            }
        } else {
            crate::Outcome {
                kind: crate::Kind::Done,
                detail: format!(
                    "killed in kernel: pid {} got SIGKILL in the matched call, {} ns after the match (rule '{rule}')",
                    subject.pid, kill.signal_ns
                ),
            }
        })
    }
}

/// Places every policy that kills a process; `global_dry_run` is `response.dry_run`.
pub fn plan(policies: &Policies, rules: &RuleSet, global_dry_run: bool) -> Plan {
    let mut out = Plan::default();
    let mut used = 0;
    for p in &policies.policies {
        let kills = p
            .actions
            .iter()
            .filter(|a| matches!(a, Action::Kill { .. }));
        if kills.clone().count() == 0 {
            continue;
        }
        let placement = match place(p, rules, global_dry_run || p.dry_run) {
            Ok(f) if used + f.len() > MAX_FILTERS => Placement::UserSpace(format!(
                "the kernel holds {MAX_FILTERS} filters and earlier policies use {used}"
            )),
            Ok(f) => {
                used += f.len();
                Placement::Kernel(f)
            }
            Err(why) => Placement::UserSpace(why),
        };
        out.policies.push((p.name.clone(), placement));
    }
    out
}

fn place(p: &crate::Policy, rules: &RuleSet, dry_run: bool) -> Result<Vec<Filter>, String> {
    for a in &p.actions {
        if let Action::Kill { target, signal } = a {
            if *target != KillTarget::Process {
                return Err(format!("its kill targets the {}", a.name()));
            }
            if *signal != rustix::process::Signal::KILL {
                return Err(format!("it sends signal {}, not SIGKILL", signal.as_raw()));
            }
        }
    }
    if let Some((field, _)) = p.matcher.output_fields.first() {
        return Err(format!(
            "it tests the output field {field}, which the kernel does not see"
        ));
    }
    let mut filters = Vec::new();
    for (i, rule) in rules.rules().iter().enumerate() {
        if !rules.is_active(i as u32) || !selects(&p.matcher, rule) {
            continue;
        }
        let mut f =
            compile(&rule.condition).map_err(|why| format!("rule '{}' {why}", rule.name))?;
        f.policy = p.name.clone();
        f.rule = rule.name.clone();
        f.dry_run = dry_run;
        filters.push(f);
    }
    if filters.is_empty() {
        return Err("it matches no active rule".into());
    }
    Ok(filters)
}

/// The matcher's test on what a rule fixes (name, tags, priority, source).
fn selects(m: &Matcher, r: &peregrine_rules::Rule) -> bool {
    (m.rules.is_empty()
        || m.rules
            .iter()
            .any(|g| peregrine_state::runtime::glob(g, &r.name)))
        && (m.tags.is_empty() || m.tags.iter().any(|t| r.tags.contains(t)))
        && m.priority.is_none_or(|min| r.priority <= min)
        && m.source.as_ref().is_none_or(|s| *s == r.source)
}

/// What the conjuncts of a condition said so far.
#[derive(Default)]
struct Parts {
    types: Option<BTreeSet<String>>,
    names: Option<BTreeSet<Vec<u8>>>,
    pnames: Option<BTreeSet<Vec<u8>>>,
    flags: u32,
    exact: Option<BTreeSet<Vec<u8>>>,
    prefixes: Option<BTreeSet<Vec<u8>>>,
    read: bool,
    write: bool,
    ports: Option<BTreeSet<u16>>,
    nets: Option<BTreeSet<(IpAddr, u8)>>,
    success_only: bool,
    in_container: bool,
}

fn conjuncts(e: &Expr, out: &mut Vec<Expr>) {
    match e {
        Expr::And(c, _) => c.iter().for_each(|e| conjuncts(e, out)),
        e => out.push(e.clone()),
    }
}

/// A condition part for a message: its text, cut short.
fn short(e: &Expr) -> String {
    let t = peregrine_filter::render::render(e);
    match t.char_indices().nth(80) {
        Some((i, _)) => format!("{}…", &t[..i]),
        None => t,
    }
}

fn text(v: &[u8]) -> String {
    String::from_utf8_lossy(v).into_owned()
}

/// Compiles a rule's condition into a filter (policy, rule and dry run left to the caller),
/// or says which part the kernel cannot evaluate.
pub fn compile(cond: &Expr) -> Result<Filter, String> {
    let mut all = Vec::new();
    conjuncts(cond, &mut all);
    let mut parts = Parts::default();
    for c in &all {
        conjunct(c, &mut parts)?;
    }
    let Some(types) = parts.types.take() else {
        return Err("tests no event type".into());
    };
    let is = |set: &[&str]| types.iter().all(|t| set.contains(&t.as_str()));
    let no_socket = parts.ports.is_none() && parts.nets.is_none() && !parts.success_only;
    let no_open = parts.exact.is_none() && parts.prefixes.is_none() && !parts.read && !parts.write;
    let no_exec = parts.names.is_none() && parts.pnames.is_none() && parts.flags == 0;
    let test = if is(&["execve", "execveat"]) {
        if types.len() != 2 {
            return Err(
                "tests one of execve/execveat: the kernel's exec hook sees both alike".into(),
            );
        }
        if !no_socket || !no_open {
            return Err("tests fd fields on an exec".into());
        }
        if no_exec {
            return Err("selects every exec (no name or exe flag to test)".into());
        }
        Test::Exec {
            names: parts.names,
            pnames: parts.pnames,
            flags: parts.flags,
        }
    } else if is(&["open", "openat", "openat2", "creat"]) {
        if !no_socket || !no_exec {
            return Err("tests process or socket fields on an open".into());
        }
        if parts.exact.is_none() && parts.prefixes.is_none() {
            return Err("names no path to open".into());
        }
        let calls = types.iter().fold(0, |m, t| {
            m | match t.as_str() {
                "open" => open_calls::OPEN,
                "openat" => open_calls::OPENAT,
                "openat2" => open_calls::OPENAT2,
                _ => open_calls::CREAT,
            }
        });
        Test::Open {
            calls,
            exact: parts.exact.unwrap_or_default(),
            prefixes: parts.prefixes.unwrap_or_default(),
            read: parts.read,
            write: parts.write,
        }
    } else if is(&["connect"]) {
        if !no_open || !no_exec {
            return Err("tests process or path fields on a connect".into());
        }
        if parts.ports.is_none() && parts.nets.is_none() {
            return Err("names no port or address to connect to".into());
        }
        Test::Connect {
            ports: parts.ports,
            nets: parts.nets,
            success_only: parts.success_only,
        }
    } else {
        return Err(format!(
            "is on event types the kernel filters do not cover together ({})",
            types.into_iter().collect::<Vec<_>>().join(", ")
        ));
    };
    Ok(Filter {
        policy: String::new(),
        rule: String::new(),
        dry_run: false,
        in_container: parts.in_container,
        test,
    })
}

/// `a and b` of two sets given for the same field.
fn meet<T: Ord + Clone>(slot: &mut Option<BTreeSet<T>>, v: BTreeSet<T>) {
    *slot = Some(match slot.take() {
        Some(old) => old.intersection(&v).cloned().collect(),
        None => v,
    });
}

fn values(r: &Rhs) -> Option<Vec<&[u8]>> {
    match r {
        Rhs::Value(v, _) => Some(vec![v.as_slice()]),
        Rhs::List(l, _) => Some(l.iter().map(|(v, _)| v.as_slice()).collect()),
        _ => None,
    }
}

fn conjunct(e: &Expr, p: &mut Parts) -> Result<(), String> {
    // An `or` of fd.name comparisons (a macro of paths and prefixes) is one selector.
    if let Expr::Or(children, _) = e {
        let (mut exact, mut prefixes) = (BTreeSet::new(), BTreeSet::new());
        for c in children {
            match path_test(c) {
                Some(PathTest::Exact(v)) => exact.extend(v),
                Some(PathTest::Prefix(v)) => prefixes.extend(v),
                None => {
                    return Err(format!(
                        "has an `or` the kernel cannot evaluate ({})",
                        short(e)
                    ))
                }
            }
        }
        if p.exact.is_some() || p.prefixes.is_some() {
            return Err("tests fd.name twice".into());
        }
        p.exact = Some(exact);
        p.prefixes = Some(prefixes);
        return Ok(());
    }
    let Expr::Binary {
        left: Operand::Field(f),
        op,
        right,
        ..
    } = e
    else {
        return Err(format!(
            "has a test the kernel cannot evaluate ({})",
            short(e)
        ));
    };
    let name = f.name.as_str();
    let unsupported = || format!("tests {name} {}", op.name());
    let positive = matches!(op, CmpOp::Eq | CmpOp::EqEq | CmpOp::In);
    let vals = values(right).ok_or_else(unsupported)?;
    let is_true = positive && vals == [b"true".as_slice()];
    match name {
        "evt.type" if positive => {
            meet(&mut p.types, vals.iter().map(|v| text(v)).collect());
        }
        "evt.dir" if positive && vals == [b"<".as_slice()] => {}
        "proc.name" | "proc.pname" | "proc.aname" if positive => {
            let slot = match (name, f.arg.as_deref()) {
                ("proc.name", None) => &mut p.names,
                ("proc.pname", None) | ("proc.aname", Some("1")) => &mut p.pnames,
                _ => {
                    return Err(format!(
                        "tests {name}{}: the kernel reads only the parent",
                        f.arg.as_ref().map_or(String::new(), |a| format!("[{a}]"))
                    ))
                }
            };
            // A comm holds 15 bytes: a longer name can never be a process's name.
            meet(
                slot,
                vals.iter()
                    .filter(|v| !v.is_empty() && v.len() <= COMM_MAX)
                    .map(|v| v.to_vec())
                    .collect(),
            );
        }
        "proc.is_exe_writable" if is_true => p.flags |= exe_flags::WRITABLE,
        "proc.is_exe_upper_layer" if is_true => p.flags |= exe_flags::UPPER_LAYER,
        "proc.is_exe_from_memfd" if is_true => p.flags |= exe_flags::FROM_MEMFD,
        "evt.is_open_read" if is_true => p.read = true,
        "evt.is_open_write" if is_true => p.write = true,
        // The kernel's path test is one union of paths and prefixes: one fd.name conjunct.
        "fd.name" if p.exact.is_some() || p.prefixes.is_some() => {
            return Err("tests fd.name twice".into())
        }
        "fd.name" => match path_test(e) {
            Some(PathTest::Exact(v)) => p.exact = Some(v),
            Some(PathTest::Prefix(v)) => p.prefixes = Some(v),
            None => return Err(unsupported()),
        },
        "fd.sport" | "fd.rport" if positive => {
            let ports = vals
                .iter()
                .map(|v| text(v).parse::<u16>())
                .collect::<Result<BTreeSet<_>, _>>()
                .map_err(|_| format!("tests {name} against a value that is not a port"))?;
            meet(&mut p.ports, ports);
        }
        "fd.sip" | "fd.rip" | "fd.snet" | "fd.rnet" if positive => {
            let net = name.ends_with("net");
            let nets = vals
                .iter()
                .map(|v| parse_net(&text(v), net))
                .collect::<Option<BTreeSet<_>>>()
                .ok_or_else(|| format!("tests {name} against a value that is not an address"))?;
            meet(&mut p.nets, nets);
        }
        "evt.rawres" if *op == CmpOp::Ge && vals == [b"0".as_slice()] => p.success_only = true,
        "container.id" if *op == CmpOp::Ne && vals == [b"host".as_slice()] => p.in_container = true,
        _ => return Err(unsupported()),
    }
    Ok(())
}

enum PathTest {
    Exact(BTreeSet<Vec<u8>>),
    Prefix(BTreeSet<Vec<u8>>),
}

/// A positive `fd.name` comparison the kernel can make on the path as passed: only absolute
/// paths that need no normalisation (so `fd.name` is the same bytes) and fit its key.
fn path_test(e: &Expr) -> Option<PathTest> {
    let Expr::Binary {
        left: Operand::Field(f),
        op,
        right,
        ..
    } = e
    else {
        return None;
    };
    if f.name != "fd.name" {
        return None;
    }
    let vals = values(right)?;
    let usable = |v: &[u8]| {
        v.first() == Some(&b'/') && v.len() < PATH_MAX && !v.contains(&0) && !needs_norm(v)
    };
    match op {
        CmpOp::Eq | CmpOp::EqEq | CmpOp::In => Some(PathTest::Exact(
            vals.iter()
                .filter(|v| usable(v) && !v.ends_with(b"/"))
                .map(|v| v.to_vec())
                .collect(),
        )),
        // A prefix that is not usable can still be met by usable paths: not exact.
        CmpOp::StartsWith if vals.iter().all(|v| usable(v)) => {
            Some(PathTest::Prefix(vals.iter().map(|v| v.to_vec()).collect()))
        }
        _ => None,
    }
}

/// Paths the kernel never decides on (user space normalises them, so `fd.name` differs from
/// the bytes passed): the same test as shedding's (`peregrine_rules::shed::never_shed`).
fn needs_norm(v: &[u8]) -> bool {
    v.windows(2).any(|w| w == b".." || w == b"/." || w == b"//")
}

/// An address (`/32` or `/128`) or, for the `*net` fields, a CIDR.
fn parse_net(s: &str, cidr: bool) -> Option<(IpAddr, u8)> {
    let (addr, bits) = match s.split_once('/') {
        Some((a, b)) if cidr => (a, Some(b.parse::<u8>().ok()?)),
        Some(_) => return None,
        None => (s, None),
    };
    let ip: IpAddr = addr.parse().ok()?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let bits = bits.unwrap_or(max);
    (bits <= max).then_some((ip, bits))
}

#[cfg(test)]
mod tests {
    use super::*;
    use peregrine_rules::Loader;

    fn rules(text: &str) -> RuleSet {
        let mut l = Loader::new();
        let ok = l.load_str("rules.yaml", text);
        let (rules, res) = l.finish();
        assert!(ok, "{}", res.as_text());
        rules
    }

    fn rule(name: &str, cond: &str) -> String {
        format!(
            "- rule: {name}\n  desc: d\n  condition: {cond}\n  output: o %proc.name\n  priority: WARNING\n"
        )
    }

    fn plan_of(rules_text: &str, policies: &str) -> Plan {
        let p = crate::policy::parse("p.yaml", policies).expect("policies");
        plan(&p, &rules(rules_text), false)
    }

    fn kill(rule: &str) -> String {
        format!("- policy: p\n  match: {{rules: [{rule}]}}\n  actions: [kill: {{}}]\n")
    }

    fn only(p: &Plan) -> &Placement {
        assert_eq!(p.policies.len(), 1, "{p:?}");
        &p.policies[0].1
    }

    fn filter(p: &Plan) -> &Filter {
        match only(p) {
            Placement::Kernel(f) if f.len() == 1 => &f[0],
            other => panic!("not one kernel filter: {other:?}"),
        }
    }

    fn why(p: &Plan) -> String {
        match only(p) {
            Placement::UserSpace(w) => w.clone(),
            other => panic!("placed in the kernel: {other:?}"),
        }
    }

    #[test]
    fn exec_by_name_through_a_list_and_a_macro_in_containers() {
        let text = format!(
            "- list: droppers\n  items: [xmrig, kinsing]\n\
             - macro: spawned\n  condition: evt.type in (execve, execveat) and evt.dir = <\n\
             - macro: container\n  condition: container.id != host\n{}",
            rule(
                "Dropper",
                "spawned and container and proc.name in (droppers)"
            )
        );
        let p = plan_of(&text, &kill("Dropper"));
        let f = filter(&p);
        assert!(f.in_container && !f.dry_run);
        assert_eq!(
            f.test,
            Test::Exec {
                names: Some([b"kinsing".to_vec(), b"xmrig".to_vec()].into()),
                pnames: None,
                flags: 0
            }
        );
        assert!(
            p.lines()[0].contains("kill in the kernel"),
            "{:?}",
            p.lines()
        );
    }

    #[test]
    fn exec_from_a_writable_or_memfd_image() {
        let p = plan_of(
            &rule(
                "Memfd",
                "evt.type in (execve, execveat) and proc.is_exe_from_memfd = true",
            ),
            &kill("Memfd"),
        );
        assert_eq!(
            filter(&p).test,
            Test::Exec {
                names: None,
                pnames: None,
                flags: exe_flags::FROM_MEMFD
            }
        );
    }

    #[test]
    fn open_of_paths_and_prefixes_for_reading() {
        let p = plan_of(
            &rule(
                "Shadow",
                "evt.type in (open, openat, openat2) and evt.is_open_read = true and \
                 (fd.name = /etc/shadow or fd.name startswith /etc/sudoers.d/)",
            ),
            &kill("Shadow"),
        );
        assert_eq!(
            filter(&p).test,
            Test::Open {
                calls: open_calls::OPEN | open_calls::OPENAT | open_calls::OPENAT2,
                exact: [b"/etc/shadow".to_vec()].into(),
                prefixes: [b"/etc/sudoers.d/".to_vec()].into(),
                read: true,
                write: false,
            }
        );
    }

    #[test]
    fn connect_to_a_port_in_a_net() {
        let p = plan_of(
            &rule(
                "Reverse",
                "evt.type = connect and fd.sport in (4444, 5555) and fd.snet in (\"10.0.0.0/8\", \"127.0.0.1/32\")",
            ),
            &kill("Reverse"),
        );
        let Test::Connect { ports, nets, .. } = &filter(&p).test else {
            panic!("{p:?}")
        };
        assert_eq!(ports.as_ref().map(BTreeSet::len), Some(2));
        assert_eq!(nets.as_ref().map(BTreeSet::len), Some(2));
    }

    #[test]
    fn what_the_kernel_cannot_decide_stays_in_user_space_and_says_why() {
        let cases = [
            (
                "evt.type in (execve, execveat) and proc.aname in (sshd, bash) and proc.name = sh",
                "tests proc.aname: the kernel reads only the parent",
            ),
            (
                "evt.type in (execve, execveat) and proc.aname[2] = sshd and proc.name = sh",
                "tests proc.aname[2]",
            ),
            (
                "evt.type in (open, openat) and proc.pname = nginx and fd.name = /etc/shadow",
                "tests process or socket fields on an open",
            ),
            (
                "evt.type in (execve, execveat) and not proc.name = sh",
                "cannot evaluate",
            ),
            (
                "evt.type = execve and proc.name = sh",
                "one of execve/execveat",
            ),
            (
                "evt.type in (open, openat) and fd.name contains shadow",
                "tests fd.name contains",
            ),
            (
                "evt.type in (open, openat) and fd.name startswith /etc/../x",
                "tests fd.name startswith",
            ),
            (
                "evt.type in (execve, execveat, open) and proc.name = sh",
                "event types",
            ),
            ("proc.name = sh", "no event type"),
            (
                "evt.type = open and fd.name = /a and fd.name startswith /b",
                "fd.name twice",
            ),
            (
                "evt.type in (execve, execveat) and container.id = host and proc.name = sh",
                "tests container.id =",
            ),
        ];
        for (cond, want) in cases {
            let p = plan_of(&rule("R", cond), &kill("R"));
            let w = why(&p);
            assert!(w.contains(want), "{cond}: {w}");
            assert!(p.lines()[0].contains("user space"), "{:?}", p.lines());
        }
    }

    #[test]
    fn a_policy_is_in_the_kernel_only_when_every_rule_it_selects_is() {
        let text = format!(
            "{}{}",
            rule("A", "evt.type in (execve, execveat) and proc.name = a"),
            rule("B", "evt.type in (execve, execveat) and proc.aname = b")
        );
        let both = "- policy: p\n  match: {rules: ['*']}\n  actions: [kill: {}]\n";
        assert!(why(&plan_of(&text, both)).starts_with("rule 'B' tests proc.aname"));
        assert!(matches!(
            only(&plan_of(&text, &kill("A"))),
            Placement::Kernel(_)
        ));
        let fields = "- policy: p\n  match: {rules: [A], output_fields: {proc.name: a}}\n  actions: [kill: {}]\n";
        assert!(why(&plan_of(&text, fields)).contains("output field proc.name"));
        let group =
            "- policy: p\n  match: {rules: [A]}\n  actions: [{kill: {target: process_group}}]\n";
        assert!(why(&plan_of(&text, group)).contains("kill_process_group"));
        let none = "- policy: p\n  match: {rules: [Z]}\n  actions: [kill: {}]\n";
        assert!(why(&plan_of(&text, none)).contains("no active rule"));
        let dry = "- policy: p\n  dry_run: true\n  match: {rules: [A]}\n  actions: [kill: {}]\n";
        assert!(filter(&plan_of(&text, dry)).dry_run);
    }

    #[test]
    fn exceptions_keep_a_rule_in_user_space() {
        let text = "- rule: E\n  desc: d\n  condition: evt.type in (execve, execveat) and proc.name = a\n  output: o\n  priority: WARNING\n  exceptions:\n    - name: ok\n      fields: [proc.pname]\n      values: [[sshd]]\n";
        assert!(why(&plan_of(text, &kill("E"))).contains("cannot evaluate"));
    }

    #[test]
    fn exec_from_a_given_parent_and_why_it_is_exact() {
        let p = plan_of(
            &rule(
                "Web shell",
                "evt.type in (execve, execveat) and proc.name in (sh, bash) and \
                 proc.pname in (nginx, httpd, a-name-longer-than-a-comm)",
            ),
            &kill("Web shell"),
        );
        assert_eq!(
            filter(&p).test,
            Test::Exec {
                names: Some([b"bash".to_vec(), b"sh".to_vec()].into()),
                pnames: Some([b"httpd".to_vec(), b"nginx".to_vec()].into()),
                flags: 0
            }
        );
        assert!(p.lines()[0].contains(PNAME_LIMITS), "{:?}", p.lines());
        let aname = plan_of(
            &rule(
                "Aname",
                "evt.type in (execve, execveat) and proc.aname[1] = nginx",
            ),
            &kill("Aname"),
        );
        let Test::Exec { pnames, .. } = &filter(&aname).test else {
            panic!("{aname:?}")
        };
        assert_eq!(pnames.as_ref().map(BTreeSet::len), Some(1));
    }
}
