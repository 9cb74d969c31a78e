//! The in-kernel kill, wired: the response crate's plan ([`peregrine_response::kernel`])
//! becomes the capture's filter maps, the kernel's kill log answers the response worker, and
//! a reload switches the filters off.
//!
//! Key decision: the filters are loaded once, at start, from the rules and policies of that
//! moment. A reload may change either, and a kernel filter must never outlive the rule it
//! stands for, so after a reload the filters stay off and every policy acts from user space
//! (said in the log) until the agent restarts. The cost is a slower kill after a reload; the
//! alternative, rewriting live maps while events flow, could pair an old filter with new
//! rules for a moment.

use std::sync::Arc;

use peregrine_capture::{kill_flags as f, KillFilter, KillHandle, KillSpec};
use peregrine_engine::live::LiveSource;
use peregrine_response::kernel::{self, KernelKill, KernelKills, Plan, Test};
use peregrine_response::PolicyHandle;

/// How far the kernel's match and the event's timestamp may be apart for the same call (the
/// record is stamped right after the filter runs; this only guards against a reused pid).
const SAME_CALL_NS: u64 = 1_000_000_000;

/// The loaded filters and what each stands for.
pub struct KernelKiller {
    handle: KillHandle,
    /// (policy, rule) by filter index.
    filters: Vec<(String, String)>,
    boot_to_epoch_ns: u64,
    off_for_reload: std::sync::atomic::AtomicBool,
}

impl KernelKills for KernelKiller {
    fn take(&self, tgid: i64, event_time_ns: u64) -> Option<KernelKill> {
        let k = self.handle.take(u32::try_from(tgid).ok()?)?;
        let at = k.ts_boot_ns.saturating_add(self.boot_to_epoch_ns);
        if at.abs_diff(event_time_ns) > SAME_CALL_NS {
            return None;
        }
        let (policy, rule) = self.filters.get(k.filter)?.clone();
        Some(KernelKill {
            policy,
            rule,
            dry_run: k.dry_run,
            signal_ns: k.signal_ns,
        })
    }

    fn set_active(&self, on: bool) -> bool {
        if on
            && self
                .off_for_reload
                .load(std::sync::atomic::Ordering::Relaxed)
        {
            return false;
        }
        match self.handle.set_active(on) {
            Ok(()) => true,
            Err(e) => {
                log::error!("response: switching the kernel kill filters: {e}");
                false
            }
        }
    }
}

impl KernelKiller {
    /// Before a reload publishes new rules or policies: switches the filters off for good
    /// and says so once.
    pub fn off_for_reload(&self) {
        use std::sync::atomic::Ordering;
        if self.off_for_reload.swap(true, Ordering::Relaxed) {
            return;
        }
        match self.handle.set_active(false) {
            Ok(()) => log::warn!(
                "response: rules and policies reloaded: kernel kill filters off, every kill policy acts from user space until the agent restarts"
            ),
            Err(e) => log::error!("response: switching the kernel kill filters off: {e}"),
        }
    }

    /// Kills (and dry runs, and spared matches) per policy, for the exit summary.
    pub fn summary(&self) -> String {
        let counts = self.handle.counts();
        let mut by_policy: Vec<(String, [u64; 3])> = Vec::new();
        for (i, (policy, _)) in self.filters.iter().enumerate() {
            let c = counts.get(i).copied().unwrap_or_default();
            let slot = match by_policy.iter_mut().find(|(p, _)| p == policy) {
                Some(s) => s,
                None => {
                    by_policy.push((policy.clone(), [0; 3]));
                    by_policy.last_mut().expect("just pushed")
                }
            };
            slot.1[0] += c.kills;
            slot.1[1] += c.dry_runs;
            slot.1[2] += c.spared;
        }
        by_policy
            .iter()
            .map(|(p, [k, d, s])| {
                format!(
                    "kernel kills: policy '{}': {k} killed, {d} dry run, {s} spared by a safety rule",
                    peregrine_filter::escape::terminal_safe(p)
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Places the kill policies, logs where each runs and why, and loads the kernel's filters.
/// `None` when no policy runs in the kernel.
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
    if filters.is_empty() {
        return None;
    }
    let spec = spec(&plan, settings);
    match source.set_kill(&spec) {
        Ok(handle) => Some(Arc::new(KernelKiller {
            handle,
            filters,
            boot_to_epoch_ns: source.boot_to_epoch_ns(),
            off_for_reload: false.into(),
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
            Test::Exec { names, flags } => {
                k.flags |= f::EXEC;
                k.exe_flags = *flags;
                if let Some(names) = names {
                    k.flags |= f::NAMES;
                    s.names.extend(names.iter().map(|n| (n.clone(), i)));
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
