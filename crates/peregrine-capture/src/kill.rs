//! The in-kernel kill's maps (bpf/lib/kill.h): filters written once from a plan the response
//! crate made, and a [`KillHandle`] that another thread keeps to read the kernel's kills and
//! to switch the filters off.
//!
//! Key decision: this crate knows filters only as bits and keys (what the kernel tests); which
//! rule a filter stands for, and whether it is exact, is `peregrine_response::kernel`'s job.
//! Values are written through the bindgen layouts of `bpf/include/peregrine_kill.h`
//! (`offset_of!` on them), so a changed C struct changes what is written here.

use std::mem::{offset_of, size_of};
use std::net::IpAddr;

use libbpf_rs::{MapCore, MapFlags, MapHandle};

use crate::layout as l;
use crate::{find_map, map_err, Capture, CaptureError};

/// Filter flags (`PG_KILL_F_*`).
pub mod flags {
    use crate::layout as l;
    pub const DRY_RUN: u32 = l::PG_KILL_F_DRY_RUN;
    pub const CONTAINER: u32 = l::PG_KILL_F_CONTAINER;
    pub const EXEC: u32 = l::PG_KILL_F_EXEC;
    pub const OPEN: u32 = l::PG_KILL_F_OPEN;
    pub const CONNECT: u32 = l::PG_KILL_F_CONNECT;
    pub const NAMES: u32 = l::PG_KILL_F_NAMES;
    pub const READ: u32 = l::PG_KILL_F_READ;
    pub const WRITE: u32 = l::PG_KILL_F_WRITE;
    pub const PORTS: u32 = l::PG_KILL_F_PORTS;
    pub const NETS: u32 = l::PG_KILL_F_NETS;
    pub const SUCCESS: u32 = l::PG_KILL_F_SUCCESS;
    pub const PNAMES: u32 = l::PG_KILL_F_PNAMES;
    /// Open calls (`pg_kill_filter.open_calls`).
    pub const OPEN_OPEN: u32 = l::PG_KILL_OPEN;
    pub const OPEN_OPENAT: u32 = l::PG_KILL_OPENAT;
    pub const OPEN_OPENAT2: u32 = l::PG_KILL_OPENAT2;
    pub const OPEN_CREAT: u32 = l::PG_KILL_CREAT;
}

/// Filters the kernel holds at most.
pub const MAX_FILTERS: usize = l::PG_KILL_MAX_FILTERS as usize;
/// Paths the kernel compares, with their NUL, are shorter than this (the LPM key's 256
/// bytes hold the generation byte too, and a path filling the rest may have been cut).
pub const PATH_WINDOW: usize = l::PG_KILL_PATH as usize - 1;

/// One filter as the kernel tests it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KillFilter {
    pub flags: u32,
    pub exe_flags: u32,
    pub open_calls: u32,
}

/// Everything the kernel side needs; a filter's index in `filters` is its bit in the masks.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KillSpec {
    pub filters: Vec<KillFilter>,
    /// (comm, up to 15 bytes; filter index)
    pub names: Vec<(Vec<u8>, usize)>,
    /// Exact paths (matched with their NUL): (path, filter index).
    pub paths: Vec<(Vec<u8>, usize)>,
    /// Path prefixes: (prefix, filter index).
    pub prefixes: Vec<(Vec<u8>, usize)>,
    pub ports: Vec<(u16, usize)>,
    /// (network, prefix bits, filter index)
    pub nets: Vec<(IpAddr, u8, usize)>,
    /// Processes never killed (the agent's ancestors).
    pub spare_tgids: Vec<u32>,
    /// Executables never killed: (inode, device as stat's st_dev).
    pub spare_exes: Vec<(u64, u64)>,
    /// Parents' comms (PNAMES filters): (comm, up to 15 bytes; filter index).
    pub pnames: Vec<(Vec<u8>, usize)>,
    /// The kernel's own cap on kills (none: no cap). Set at load; a replace keeps it.
    pub budget: Option<KillBudget>,
}

/// At most `kills` kernel kills per `window`; over it a match is only observed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KillBudget {
    pub kills: u64,
    pub window: std::time::Duration,
}

/// One kill the kernel made (or, in dry run, would have made).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KernelKill {
    /// The filter's slot: `generation * MAX_FILTERS + index`.
    pub filter: usize,
    pub dry_run: bool,
    /// Over the kernel's budget: matched, not killed.
    pub observed: bool,
    /// When the filter matched (boot clock).
    pub ts_boot_ns: u64,
    /// From the match to the signal sent.
    pub signal_ns: u64,
}

/// Per filter: kills, dry runs, matches a safety rule spared.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KillCounts {
    pub kills: u64,
    pub dry_runs: u64,
    pub spared: u64,
    /// Matched over the kernel's budget: left alive.
    pub observed: u64,
}

fn put_u32(b: &mut [u8], off: usize, v: u32) {
    b[off..off + 4].copy_from_slice(&v.to_ne_bytes());
}

fn put_u64(b: &mut [u8], off: usize, v: u64) {
    b[off..off + 8].copy_from_slice(&v.to_ne_bytes());
}

fn u32_at(b: &[u8], off: usize) -> u32 {
    b.get(off..off + 4)
        .and_then(|s| s.try_into().ok())
        .map_or(0, u32::from_ne_bytes)
}

fn u64_at(b: &[u8], off: usize) -> u64 {
    b.get(off..off + 8)
        .and_then(|s| s.try_into().ok())
        .map_or(0, u64::from_ne_bytes)
}

/// An LPM key: the prefix length in bits, then the bytes, zero-padded to `size` bytes.
fn lpm_key(size: usize, bits: u32, data: &[u8]) -> Vec<u8> {
    let mut k = vec![0u8; size];
    put_u32(&mut k, 0, bits);
    let n = data.len().min(size - 4);
    k[4..4 + n].copy_from_slice(&data[..n]);
    k
}

/// The masks of LPM entries: an entry also carries the bits of every shorter entry that is a
/// prefix of it, because a lookup returns only the longest match.
fn lpm_masks(entries: &[(Vec<u8>, u32, usize)]) -> Vec<(Vec<u8>, u32, u32)> {
    let mut out: Vec<(Vec<u8>, u32, u32)> = Vec::new();
    for (data, bits, f) in entries {
        match out.iter_mut().find(|(d, b, _)| d == data && b == bits) {
            Some(e) => e.2 |= 1 << f,
            None => out.push((data.clone(), *bits, 1 << f)),
        }
    }
    let covers = |short: &(Vec<u8>, u32, u32), long: &(Vec<u8>, u32, u32)| {
        short.1 <= long.1 && {
            let (full, rest) = ((short.1 / 8) as usize, short.1 % 8);
            long.0.len() >= full
                && short.0.len() >= full
                && long.0[..full] == short.0[..full]
                && (rest == 0 || {
                    let m = 0xffu8 << (8 - rest);
                    (long.0.get(full).copied().unwrap_or(0) & m)
                        == (short.0.get(full).copied().unwrap_or(0) & m)
                })
        }
    };
    let snapshot = out.clone();
    for e in &mut out {
        for s in &snapshot {
            if covers(s, e) {
                e.2 |= s.2;
            }
        }
    }
    out
}

fn net_bytes(ip: &IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(a) => {
            let mut v = vec![4];
            v.extend_from_slice(&a.octets());
            v
        }
        IpAddr::V6(a) => {
            let mut v = vec![6];
            v.extend_from_slice(&a.octets());
            v
        }
    }
}

/// The generations (`PG_KILL_GENS`): every key and filter index carries one.
const GENS: u32 = l::PG_KILL_GENS;

/// What the config map says, kept so that one field changes per update.
#[derive(Debug, Default)]
struct Gens {
    gen: u32,
    hooks: [u32; 2],
    /// The filters loaded per generation (their bits).
    all: [u32; 2],
    /// Switched on (the breaker switches off).
    on: bool,
}

/// Reads the kernel's kills, switches the filters, and replaces them (a reload); `Send` and
/// `Sync`, so the response worker and the reload thread keep one while the capture runs on
/// the pipeline thread.
#[derive(Debug)]
pub struct KillHandle {
    config: MapHandle,
    filters: MapHandle,
    names: MapHandle,
    pnames: MapHandle,
    paths: MapHandle,
    ports: MapHandle,
    nets: MapHandle,
    log: MapHandle,
    counts: MapHandle,
    budget: MapHandle,
    gens: std::sync::Mutex<Gens>,
}

impl KillHandle {
    /// The kernel's last kill of `tgid`, removed from its log.
    pub fn take(&self, tgid: u32) -> Option<KernelKill> {
        let key = tgid.to_ne_bytes();
        let v = self.log.lookup(&key, MapFlags::ANY).ok().flatten()?;
        let _ = self.log.delete(&key);
        let how = u32_at(&v, offset_of!(l::pg_kill_entry, dry_run));
        Some(KernelKill {
            filter: u32_at(&v, offset_of!(l::pg_kill_entry, filter)) as usize,
            dry_run: how == l::PG_KILL_DRY,
            observed: how == l::PG_KILL_OBSERVED,
            ts_boot_ns: u64_at(&v, offset_of!(l::pg_kill_entry, ts_boot_ns)),
            signal_ns: u64_at(&v, offset_of!(l::pg_kill_entry, signal_ns)),
        })
    }

    fn gens(&self) -> std::sync::MutexGuard<'_, Gens> {
        self.gens.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Turns every filter on or off (the breaker).
    pub fn set_active(&self, on: bool) -> Result<(), CaptureError> {
        let mut g = self.gens();
        g.on = on;
        self.write_config(&g)
    }

    /// The live generation: a [`KernelKill::filter`] of `gen * MAX_FILTERS + i` is filter
    /// `i` of the spec loaded as that generation.
    pub fn generation(&self) -> u32 {
        self.gens().gen
    }

    /// Replaces the filters with `spec`'s: written as the idle generation, then the live
    /// one is switched off, `publish` runs (the caller publishes the rules the new filters
    /// stand for), and the new generation goes live in one update. No hook pairs an old
    /// filter with a new one; between the two updates no filter acts (user space does).
    /// Returns the new generation. On an error the old filters stay as they were.
    pub fn replace(&self, spec: &KillSpec, publish: impl FnOnce()) -> Result<u32, CaptureError> {
        let mut g = self.gens();
        let old = g.gen;
        let new = (old + 1) % GENS;
        self.clear_gen(new)?;
        let (hooks, all) = self.write_gen(new, spec)?;
        g.hooks[new as usize] = hooks;
        g.all[new as usize] = all;
        let was_on = g.on;
        g.on = false;
        self.write_config(&g)?;
        publish();
        g.gen = new;
        g.on = was_on;
        self.write_config(&g)?;
        g.hooks[old as usize] = 0;
        g.all[old as usize] = 0;
        self.write_config(&g)?;
        self.clear_gen(old)?;
        Ok(new)
    }

    /// Per filter slot (`gen * MAX_FILTERS + i`), summed over CPUs.
    pub fn counts(&self) -> Vec<KillCounts> {
        (0..GENS * MAX_FILTERS as u32)
            .map(|i| {
                let per_cpu = self
                    .counts
                    .lookup_percpu(&i.to_ne_bytes(), MapFlags::ANY)
                    .ok()
                    .flatten()
                    .unwrap_or_default();
                per_cpu
                    .iter()
                    .fold(KillCounts::default(), |a, v| KillCounts {
                        kills: a.kills + u64_at(v, offset_of!(l::pg_kill_count, kills)),
                        dry_runs: a.dry_runs + u64_at(v, offset_of!(l::pg_kill_count, dry_runs)),
                        spared: a.spared + u64_at(v, offset_of!(l::pg_kill_count, spared)),
                        observed: a.observed + u64_at(v, offset_of!(l::pg_kill_count, observed)),
                    })
            })
            .collect()
    }

    /// Matches the kernel left alive because its budget was spent, since the start.
    pub fn observed_over_budget(&self) -> u64 {
        self.budget
            .lookup(&0u32.to_ne_bytes(), MapFlags::ANY)
            .ok()
            .flatten()
            .map_or(0, |v| u64_at(&v, offset_of!(l::pg_kill_budget, observed)))
    }

    fn write_config(&self, g: &Gens) -> Result<(), CaptureError> {
        let mut v = vec![0u8; size_of::<l::pg_kill_config>()];
        put_u32(&mut v, offset_of!(l::pg_kill_config, generation), g.gen);
        for i in 0..2 {
            let active = if g.on { g.all[i] } else { 0 };
            put_u32(
                &mut v,
                offset_of!(l::pg_kill_config, hooks) + 4 * i,
                g.hooks[i],
            );
            put_u32(
                &mut v,
                offset_of!(l::pg_kill_config, active) + 4 * i,
                active,
            );
        }
        self.config
            .update(&0u32.to_ne_bytes(), &v, MapFlags::ANY)
            .map_err(map_err("update", "pg_kill_config"))
    }

    /// Deletes every key of generation `gen` (its first byte or field says which) and zeroes
    /// its filters.
    fn clear_gen(&self, gen: u32) -> Result<(), CaptureError> {
        let zero = vec![0u8; size_of::<l::pg_kill_filter>()];
        for i in 0..MAX_FILTERS as u32 {
            self.filters
                .update(
                    &(gen * MAX_FILTERS as u32 + i).to_ne_bytes(),
                    &zero,
                    MapFlags::ANY,
                )
                .map_err(map_err("update", "pg_kill_filters"))?;
        }
        let of_gen = |m: &MapHandle, gen_of: &dyn Fn(&[u8]) -> u32| -> Vec<Vec<u8>> {
            m.keys().filter(|k| gen_of(k) == gen).collect()
        };
        let first_u32 = |k: &[u8]| u32_at(k, 0);
        let port_gen = |k: &[u8]| u32_at(k, 0) >> 16;
        let lpm_gen = |k: &[u8]| u32::from(k.get(4).copied().unwrap_or(0));
        for (m, name, gen_of) in [
            (
                &self.names,
                "pg_kill_names",
                &first_u32 as &dyn Fn(&[u8]) -> u32,
            ),
            (&self.pnames, "pg_kill_pnames", &first_u32),
            (&self.ports, "pg_kill_ports", &port_gen),
            (&self.paths, "pg_kill_paths", &lpm_gen),
            (&self.nets, "pg_kill_nets", &lpm_gen),
        ] {
            for k in of_gen(m, gen_of) {
                m.delete(&k).map_err(map_err("delete", name))?;
            }
        }
        Ok(())
    }

    /// Writes `spec` as generation `gen`: its hooks and filter bits.
    fn write_gen(&self, gen: u32, spec: &KillSpec) -> Result<(u32, u32), CaptureError> {
        let n = spec.filters.len().min(MAX_FILTERS);
        let mut hooks = 0;
        for (i, f) in spec.filters.iter().take(n).enumerate() {
            let mut v = vec![0u8; size_of::<l::pg_kill_filter>()];
            put_u32(&mut v, offset_of!(l::pg_kill_filter, flags), f.flags);
            put_u32(
                &mut v,
                offset_of!(l::pg_kill_filter, exe_flags),
                f.exe_flags,
            );
            put_u32(
                &mut v,
                offset_of!(l::pg_kill_filter, open_calls),
                f.open_calls,
            );
            let slot = gen * MAX_FILTERS as u32 + i as u32;
            self.filters
                .update(&slot.to_ne_bytes(), &v, MapFlags::ANY)
                .map_err(map_err("update", "pg_kill_filters"))?;
            hooks |= f.flags & (flags::EXEC | flags::OPEN | flags::CONNECT);
        }
        let ok = |f: &usize| *f < n;
        // Hash maps: the OR of the filters' bits under each key.
        for (list, map, name) in [
            (&spec.names, &self.names, "pg_kill_names"),
            (&spec.pnames, &self.pnames, "pg_kill_pnames"),
        ] {
            let mut keys: std::collections::BTreeMap<Vec<u8>, u32> = Default::default();
            for (comm, f) in list.iter().filter(|(_, f)| ok(f)) {
                let mut k = vec![0u8; size_of::<l::pg_kill_name_key>()];
                put_u32(&mut k, offset_of!(l::pg_kill_name_key, generation), gen);
                let at = offset_of!(l::pg_kill_name_key, comm);
                let len = comm.len().min(15);
                k[at..at + len].copy_from_slice(&comm[..len]);
                *keys.entry(k).or_default() |= 1 << f;
            }
            for (k, mask) in &keys {
                map.update(k, &mask.to_ne_bytes(), MapFlags::ANY)
                    .map_err(map_err("update", name))?;
            }
        }
        let mut ports: std::collections::BTreeMap<u32, u32> = Default::default();
        for (p, f) in spec.ports.iter().filter(|(_, f)| ok(f)) {
            *ports.entry(gen << 16 | u32::from(*p)).or_default() |= 1 << f;
        }
        for (k, mask) in &ports {
            self.ports
                .update(&k.to_ne_bytes(), &mask.to_ne_bytes(), MapFlags::ANY)
                .map_err(map_err("update", "pg_kill_ports"))?;
        }
        // Paths: the generation byte, then exact ones with their NUL; prefixes as they are
        // (cut to the window: a path that long is never tested).
        let g = gen as u8;
        let mut path_entries = Vec::new();
        for (p, f) in spec.paths.iter().filter(|(_, f)| ok(f)) {
            let mut b = vec![g];
            b.extend_from_slice(p);
            b.push(0);
            if p.len() + 1 < PATH_WINDOW {
                path_entries.push((b.clone(), 8 * b.len() as u32, *f));
            }
        }
        for (p, f) in spec.prefixes.iter().filter(|(_, f)| ok(f)) {
            if p.len() < PATH_WINDOW {
                let mut b = vec![g];
                b.extend_from_slice(p);
                path_entries.push((b, 8 * (p.len() + 1) as u32, *f));
            }
        }
        let key_size = size_of::<l::pg_kill_path_key>();
        for (data, bits, mask) in lpm_masks(&path_entries) {
            self.paths
                .update(
                    &lpm_key(key_size, bits, &data),
                    &mask.to_ne_bytes(),
                    MapFlags::ANY,
                )
                .map_err(map_err("update", "pg_kill_paths"))?;
        }
        let net_entries: Vec<(Vec<u8>, u32, usize)> = spec
            .nets
            .iter()
            .filter(|(_, _, f)| ok(f))
            .map(|(ip, bits, f)| {
                let mut b = vec![g];
                b.extend(net_bytes(ip));
                (b, 16 + u32::from(*bits), *f)
            })
            .collect();
        let key_size = size_of::<l::pg_kill_net_key>();
        for (data, bits, mask) in lpm_masks(&net_entries) {
            self.nets
                .update(
                    &lpm_key(key_size, bits, &data),
                    &mask.to_ne_bytes(),
                    MapFlags::ANY,
                )
                .map_err(map_err("update", "pg_kill_nets"))?;
        }
        let all = if n == 32 { u32::MAX } else { (1u32 << n) - 1 };
        Ok((hooks, all))
    }
}

impl Capture {
    /// Loads the kill filters as generation 0 and returns the handle that reads the
    /// kernel's kills, switches and replaces the filters. An empty spec loads nothing and
    /// leaves the hooks at their one-lookup cost.
    pub fn set_kill(&mut self, spec: &KillSpec) -> Result<KillHandle, CaptureError> {
        let handle = |name: &'static str| -> Result<MapHandle, CaptureError> {
            let m = find_map(&self.obj, name)?;
            MapHandle::try_from(&m).map_err(map_err("dup", name))
        };
        let h = KillHandle {
            config: handle("pg_kill_config")?,
            filters: handle("pg_kill_filters")?,
            names: handle("pg_kill_names")?,
            pnames: handle("pg_kill_pnames")?,
            paths: handle("pg_kill_paths")?,
            ports: handle("pg_kill_ports")?,
            nets: handle("pg_kill_nets")?,
            log: handle("pg_kill_log")?,
            counts: handle("pg_kill_counts")?,
            budget: handle("pg_kill_budget")?,
            gens: Default::default(),
        };
        h.write_config(&Gens::default())?;
        let m = handle("pg_kill_spare_tgid")?;
        for t in &spec.spare_tgids {
            m.update(&t.to_ne_bytes(), &[1], MapFlags::ANY)
                .map_err(map_err("update", "pg_kill_spare_tgid"))?;
        }
        let m = handle("pg_kill_spare_exe")?;
        for (ino, dev) in &spec.spare_exes {
            let mut k = vec![0u8; size_of::<l::pg_kill_inode>()];
            put_u64(&mut k, offset_of!(l::pg_kill_inode, ino), *ino);
            // The kernel's encoding is 32 bits wide (new_encode_dev).
            put_u32(&mut k, offset_of!(l::pg_kill_inode, dev), *dev as u32);
            m.update(&k, &[1], MapFlags::ANY)
                .map_err(map_err("update", "pg_kill_spare_exe"))?;
        }
        let mut b = vec![0u8; size_of::<l::pg_kill_budget>()];
        if let Some(budget) = spec.budget {
            put_u64(
                &mut b,
                offset_of!(l::pg_kill_budget, window_ns),
                u64::try_from(budget.window.as_nanos())
                    .unwrap_or(u64::MAX)
                    .max(1),
            );
            put_u64(&mut b, offset_of!(l::pg_kill_budget, limit), budget.kills);
        }
        h.budget
            .update(&0u32.to_ne_bytes(), &b, MapFlags::ANY)
            .map_err(map_err("update", "pg_kill_budget"))?;
        let (hooks, all) = h.write_gen(0, spec)?;
        {
            let mut g = h.gens();
            g.hooks[0] = hooks;
            g.all[0] = all;
        }
        // On: a generation without filters has no active bits, and a replace keeps this.
        h.set_active(true)?;
        Ok(h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_longer_lpm_entry_carries_the_bits_of_its_prefixes() {
        let e = vec![
            (b"/etc/".to_vec(), 40, 0),
            (b"/etc/shadow\0".to_vec(), 96, 1),
            (b"/var/".to_vec(), 40, 2),
        ];
        let m = lpm_masks(&e);
        let mask = |d: &[u8]| m.iter().find(|x| x.0 == d).map(|x| x.2);
        assert_eq!(mask(b"/etc/shadow\0"), Some(0b11));
        assert_eq!(mask(b"/etc/"), Some(0b01));
        assert_eq!(mask(b"/var/"), Some(0b100));
        let nets = vec![
            (vec![4, 10, 0, 0, 0], 16, 0),
            (vec![4, 10, 1, 2, 3], 40, 1),
            (vec![4, 11, 0, 0, 0], 16, 2),
        ];
        let m = lpm_masks(&nets);
        assert_eq!(m.iter().find(|x| x.1 == 40).map(|x| x.2), Some(0b11));
    }
}
