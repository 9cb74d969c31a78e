//! The in-kernel kill, wired: the response crate's plan ([`peregrine_response::kernel`])
//! becomes the capture's filter maps, the kernel's kill log answers the response worker, and
//! a reload re-plans and swaps the filters.
//!
//! Key decision: a kernel filter must never outlive the rule it stands for, nor act on rules
//! that are not published yet. A reload therefore plans the new rules and policies, writes
//! the filters as the kernel's idle generation, and then, in one step around the publication
//! (`KillHandle::replace`): the live filters go off, the rules and policies are published,
//! the new generation goes live. During that step user space alone acts. Each generation
//! keeps its own table of (policy, rule) by filter, so a kill logged just before the swap is
//! still reported under the rule that made it.

use std::sync::{Arc, Mutex};

use peregrine_capture::{kill_flags as f, KillBudget, KillFilter, KillHandle, KillSpec};
use peregrine_engine::live::LiveSource;
use peregrine_response::kernel::{self, KernelKill, KernelKills, Plan, Test};
use peregrine_response::PolicyHandle;

/// How far the kernel's match and the event's timestamp may be apart for the same call (the
/// record is stamped right after the filter runs; this only guards against a reused pid).
const SAME_CALL_NS: u64 = 1_000_000_000;

/// Filters per generation in the kernel's slots (`gen * SLOTS + index`).
const SLOTS: usize = kernel::MAX_FILTERS;

/// The loaded filters and what each stands for.
pub struct KernelKiller {
    handle: KillHandle,
    /// Per generation: (policy, rule) by filter index.
    filters: Mutex<[Vec<(String, String)>; 2]>,
    boot_to_epoch_ns: u64,
}

impl KernelKills for KernelKiller {
    fn take(&self, tgid: i64, event_time_ns: u64) -> Option<KernelKill> {
        let k = self.handle.take(u32::try_from(tgid).ok()?)?;
        let at = k.ts_boot_ns.saturating_add(self.boot_to_epoch_ns);
        if at.abs_diff(event_time_ns) > SAME_CALL_NS {
            return None;
        }
        let (policy, rule) = self
            .filters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(k.filter / SLOTS)?
            .get(k.filter % SLOTS)?
            .clone();
        Some(KernelKill {
            policy,
            rule,
            dry_run: k.dry_run,
            observed: k.observed,
            signal_ns: k.signal_ns,
        })
    }

    fn set_active(&self, on: bool) -> bool {
        match self.handle.set_active(on) {
            Ok(()) => true,
            Err(e) => {
                log::error!("response: switching the kernel kill filters: {e}");
                false
            }
        }
    }
}

/// The filters planned from reloaded rules and policies, not yet in the kernel.
pub struct Next {
    table: Vec<(String, String)>,
    spec: KillSpec,
}

/// Places the reloaded policies against the reloaded rules (logging where each runs, and
/// why) and builds their filters.
pub fn plan_next(
    policies: &peregrine_response::Policies,
    rules: &peregrine_rules::RuleSet,
    settings: &peregrine_response::Settings,
) -> Next {
    let plan = kernel::plan(policies, rules, settings.dry_run);
    for line in plan.lines() {
        log::info!("response: {line}");
    }
    Next {
        table: plan
            .filters()
            .map(|f| (f.policy.clone(), f.rule.clone()))
            .collect(),
        spec: spec(&plan, settings),
    }
}

impl KernelKiller {
    /// A reload: swaps the kernel's filters for `next`'s around `publish`, which publishes
    /// the rules and policies `next` was planned from. When the kernel refuses the new
    /// filters, the old ones are switched off for good (they stand for rules that are about
    /// to go) and `publish` still runs.
    pub fn reload(&self, next: Next, publish: impl FnOnce()) {
        let Next { table, spec } = next;
        // The idle generation's table first: its filters report from the moment they go live.
        let idle = (self.handle.generation() as usize + 1) % 2;
        if let Some(slot) = self
            .filters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_mut(idle)
        {
            *slot = table;
        }
        let mut publish = Some(publish);
        match self.handle.replace(&spec, || {
            if let Some(p) = publish.take() {
                p();
            }
        }) {
            Ok(gen) => {
                log::info!(
                    "response: kernel kill filters re-armed from the reloaded rules and policies ({} filter(s), generation {gen})",
                    spec.filters.len()
                );
            }
            Err(e) => {
                let off = self.handle.set_active(false);
                log::error!(
                    "response: the reloaded kernel kill filters could not be loaded ({e}); kernel kill filters {}, every kill policy acts from user space until the agent restarts",
                    if off.is_ok() { "off" } else { "could not be switched off" }
                );
            }
        }
        if let Some(p) = publish.take() {
            p();
        }
    }

    /// Kills (and dry runs, spared matches, matches over the budget) per policy, for the
    /// exit summary.
    pub fn summary(&self) -> String {
        let counts = self.handle.counts();
        let tables = self
            .filters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let mut by_policy: Vec<(String, [u64; 4])> = Vec::new();
        for (gen, table) in tables.iter().enumerate() {
            for (i, (policy, _)) in table.iter().enumerate() {
                let c = counts.get(gen * SLOTS + i).copied().unwrap_or_default();
                let at = match by_policy.iter().position(|(p, _)| p == policy) {
                    Some(at) => at,
                    None => {
                        by_policy.push((policy.clone(), [0; 4]));
                        by_policy.len() - 1
                    }
                };
                let slot = &mut by_policy[at].1;
                slot[0] += c.kills;
                slot[1] += c.dry_runs;
                slot[2] += c.spared;
                slot[3] += c.observed;
            }
        }
        by_policy
            .iter()
            .map(|(p, [k, d, s, o])| {
                format!(
                    "kernel kills: policy '{}': {k} killed, {d} dry run, {s} spared by a safety rule, {o} observed over the kernel's budget",
                    peregrine_filter::escape::terminal_safe(p)
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Places the kill policies, logs where each runs and why, and loads the kernel's filters.
/// `None` when the kernel refused them.
pub fn load(
    source: &mut LiveSource,
    engine: &Arc<peregrine_engine::Engine>,
    policies: &PolicyHandle,
    settings: &peregrine_response::Settings,
) -> Option<Arc<KernelKiller>> {
    let current = policies.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let plan = kernel::plan(&current, engine.rules(), settings.dry_run);
    for line in plan.lines() {
        log::info!("response: {line}");
    }
    let filters: Vec<(String, String)> = plan
        .filters()
        .map(|f| (f.policy.clone(), f.rule.clone()))
        .collect();
    // Loaded even with no kernel filter today (the hooks then cost one lookup): a reload may
    // place a policy in the kernel.
    let spec = spec(&plan, settings);
    match source.set_kill(&spec) {
        Ok(handle) => Some(Arc::new(KernelKiller {
            handle,
            filters: Mutex::new([filters, Vec::new()]),
            boot_to_epoch_ns: source.boot_to_epoch_ns(),
        })),
        Err(e) => {
            log::error!("response: loading the kernel kill filters failed, every kill policy acts from user space: {e}");
            None
        }
    }
}

/// The capture's form of a plan.
pub fn spec(plan: &Plan, settings: &peregrine_response::Settings) -> KillSpec {
    let mut s = KillSpec::default();
    for (i, filter) in plan.filters().enumerate() {
        let mut k = KillFilter::default();
        if filter.dry_run {
            k.flags |= f::DRY_RUN;
        }
        if filter.in_container {
            k.flags |= f::CONTAINER;
        }
        match &filter.test {
            Test::Exec {
                names,
                pnames,
                flags,
            } => {
                k.flags |= f::EXEC;
                k.exe_flags = *flags;
                if let Some(names) = names {
                    k.flags |= f::NAMES;
                    s.names.extend(names.iter().map(|n| (n.clone(), i)));
                }
                if let Some(pnames) = pnames {
                    k.flags |= f::PNAMES;
                    s.pnames.extend(pnames.iter().map(|n| (n.clone(), i)));
                }
            }
            Test::Open {
                calls,
                exact,
                prefixes,
                read,
                write,
            } => {
                use kernel::open_calls as c;
                k.flags |= f::OPEN;
                if *read {
                    k.flags |= f::READ;
                }
                if *write {
                    k.flags |= f::WRITE;
                }
                for (bit, kbit) in [
                    (c::OPEN, f::OPEN_OPEN),
                    (c::OPENAT, f::OPEN_OPENAT),
                    (c::OPENAT2, f::OPEN_OPENAT2),
                    (c::CREAT, f::OPEN_CREAT),
                ] {
                    if calls & bit != 0 {
                        k.open_calls |= kbit;
                    }
                }
                s.paths.extend(exact.iter().map(|p| (p.clone(), i)));
                s.prefixes.extend(prefixes.iter().map(|p| (p.clone(), i)));
            }
            Test::Connect {
                ports,
                nets,
                success_only,
            } => {
                k.flags |= f::CONNECT;
                if *success_only {
                    k.flags |= f::SUCCESS;
                }
                if let Some(ports) = ports {
                    k.flags |= f::PORTS;
                    s.ports.extend(ports.iter().map(|p| (*p, i)));
                }
                if let Some(nets) = nets {
                    k.flags |= f::NETS;
                    s.nets.extend(nets.iter().map(|(ip, bits)| (*ip, *bits, i)));
                }
            }
        }
        s.filters.push(k);
    }
    s.spare_tgids = ancestors();
    s.spare_exes = protected_inodes(&settings.protected_exes);
    // The kernel's own cap, the global budget: a flood faster than the worker reports it
    // still stops at the budget.
    s.budget = Some(KillBudget {
        kills: u64::from(settings.budget_per_minute),
        window: std::time::Duration::from_secs(60),
    });
    s
}

/// The agent's ancestors, as the user-space guard refuses them (pid 1 is refused anyway).
fn ancestors() -> Vec<u32> {
    let mut out = Vec::new();
    let mut pid = std::process::id();
    for _ in 0..64 {
        let Some(ppid) = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|s| {
                // Fields after the command name (which may hold spaces and parentheses).
                let rest = s.get(s.rfind(')')? + 2..)?.to_string();
                rest.split(' ').nth(1)?.parse::<u32>().ok()
            })
        else {
            break;
        };
        if ppid <= 1 {
            break;
        }
        out.push(ppid);
        pid = ppid;
    }
    out
}

/// The inodes of the protected executables that exist now (globs expanded one directory
/// deep, `*` matching `/` as the guard's do): the kernel compares the running image's inode.
fn protected_inodes(globs: &[String]) -> Vec<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let mut out = Vec::new();
    let mut add = |p: &std::path::Path| {
        if let Ok(m) = std::fs::metadata(p) {
            if m.is_file() {
                out.push((m.ino(), m.dev()));
            }
        }
    };
    for g in globs {
        let Some(wild) = g.find(['*', '?']) else {
            add(std::path::Path::new(g));
            continue;
        };
        let Some(slash) = g[..wild].rfind('/') else {
            continue;
        };
        let Ok(entries) = std::fs::read_dir(&g[..slash.max(1)]) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.to_str()
                .is_some_and(|s| peregrine_state::runtime::glob(g, s))
            {
                add(&p);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_agents_ancestors_and_existing_protected_files_are_spared() {
        let a = ancestors();
        assert!(a.contains(&std::os::unix::process::parent_id()), "{a:?}");
        let dir = std::env::temp_dir().join(format!("pg-kkill-prot-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        std::fs::write(dir.join("runc"), "x").expect("file");
        std::fs::write(dir.join("other"), "x").expect("file");
        let globs = vec![
            format!("{}/ru*", dir.display()),
            "/nonexistent/peregrine/x".to_string(),
        ];
        let found = protected_inodes(&globs);
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(found.len(), 1, "{found:?}");
    }
}
