//! Seeding from `/proc`: processes that started before the agent, and threads the event
//! stream never showed being created.
//!
//! Key decision: every reader takes the `/proc` root as a path and treats any unreadable or
//! malformed file as "unknown" (the process may exit while we read it); nothing here fails
//! the scan as a whole except an unreadable root.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::fd::{Fd, FdKind, Sock, L4};
use crate::state::{set_container, StateConfig};
use crate::thread::Process;

#[derive(Debug, Error)]
pub enum ProcError {
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("/proc access is disabled in this configuration")]
    Disabled,
}

/// Pids of every process under `root`.
pub fn pids(root: &Path) -> Result<Vec<i64>, ProcError> {
    let rd = std::fs::read_dir(root).map_err(|source| ProcError::Read {
        path: root.to_path_buf(),
        source,
    })?;
    Ok(rd
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i64>().ok())
        .collect())
}

fn read(p: impl AsRef<Path>) -> Option<String> {
    std::fs::read_to_string(p).ok()
}

fn read_bytes(p: impl AsRef<Path>, max: usize) -> Option<Vec<u8>> {
    use std::io::Read;
    let f = std::fs::File::open(p).ok()?;
    let mut v = Vec::new();
    f.take(max as u64).read_to_end(&mut v).ok()?;
    Some(v)
}

/// Splits a NUL-separated list (`/proc` cmdline/environ, or the same lists in execve
/// records), keeping whole items while their bytes plus separators fit in `budget`.
pub(crate) fn split_nul(b: &[u8], budget: usize) -> Vec<String> {
    nul_items(b, budget)
        .map(|item| String::from_utf8_lossy(item).into_owned())
        .collect()
}

/// The items [`split_nul`] keeps, as bytes.
pub(crate) fn nul_items(b: &[u8], budget: usize) -> impl Iterator<Item = &[u8]> + Clone {
    let b = b.strip_suffix(&[0]).unwrap_or(b);
    let mut used = 0;
    // An empty list has no items (splitting it would give one empty item).
    (!b.is_empty())
        .then_some(b)
        .into_iter()
        .flat_map(|b| b.split(|&c| c == 0))
        .take_while(move |item| {
            let fits = used + item.len() <= budget;
            used += item.len() + 1;
            fits
        })
}

/// Fields of `/proc/<pid>/stat` after the comm: (ppid, pgrp, session, tty, starttime ticks).
fn parse_stat(s: &str) -> Option<(i64, i64, i64, u32, u64)> {
    let rest = s.get(s.rfind(')')? + 2..)?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some((
        f.get(1)?.parse().ok()?,
        f.get(2)?.parse().ok()?,
        f.get(3)?.parse().ok()?,
        f.get(4)?.parse().ok()?,
        f.get(19)?.parse().ok()?,
    ))
}

fn status_field<'a>(status: &'a str, key: &str) -> Option<&'a str> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':').map(str::trim))
}

/// The innermost id of an `NSpid:`/`NSpgid:` line (the id inside the process's namespace).
fn innermost(v: Option<&str>) -> Option<i64> {
    v?.split_whitespace().last()?.parse().ok()
}

fn boot_time_ns(root: &Path) -> u64 {
    read(root.join("stat"))
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("btime ")?.trim().parse::<u64>().ok())
        })
        .unwrap_or(0)
        * 1_000_000_000
}

/// `/proc/<pid>/cgroup` as `(subsystem, path)` pairs (`name=systemd` → `systemd`, the v2
/// line's empty subsystem kept empty).
/// The machine's addresses (libsinsp reads the interface list at start): IPv4 from
/// `net/fib_trie` (each `/32 host LOCAL` address, with the mask of the longest
/// `link UNICAST` or `host LOCAL` network holding it, else /32), IPv6 from `net/if_inet6`.
/// `None` when neither can be read.
pub fn read_local_addrs(root: &Path) -> Option<crate::fd::LocalAddrs> {
    let trie = std::fs::read_to_string(root.join("net/fib_trie")).ok();
    let inet6 = std::fs::read_to_string(root.join("net/if_inet6")).ok();
    if trie.is_none() && inet6.is_none() {
        return None;
    }
    let mut out = crate::fd::LocalAddrs::default();
    let (mut hosts, mut nets) = (Vec::new(), Vec::new());
    let mut cur: Option<Ipv4Addr> = None;
    for line in trie.as_deref().unwrap_or("").lines() {
        let t = line.trim_start();
        if let Some(a) = t.strip_prefix("|-- ") {
            cur = a.trim().parse().ok();
        } else if let (Some(a), Some(rest)) = (cur, t.strip_prefix('/')) {
            let mut w = rest.split_whitespace();
            let (Some(Ok(len)), Some(scope), Some(kind)) =
                (w.next().map(str::parse::<u32>), w.next(), w.next())
            else {
                continue;
            };
            if len == 32 && scope == "host" && kind == "LOCAL" {
                hosts.push(a);
            } else if len < 32 && (kind == "UNICAST" && scope == "link" || kind == "LOCAL") {
                nets.push((a, len));
            }
        }
    }
    hosts.sort_unstable();
    hosts.dedup();
    for a in hosts {
        let len = nets
            .iter()
            .filter(|(n, l)| {
                let m = u32::MAX.checked_shl(32 - l).unwrap_or(0);
                u32::from(*n) & m == u32::from(a) & m
            })
            .map(|&(_, l)| l)
            .max()
            .unwrap_or(32);
        let mask = u32::MAX.checked_shl(32 - len).unwrap_or(0);
        out.v4.push((a, Ipv4Addr::from(mask)));
    }
    for line in inet6.as_deref().unwrap_or("").lines() {
        let Some(hex) = line.split_whitespace().next().filter(|h| h.len() == 32) else {
            continue;
        };
        if let Ok(v) = u128::from_str_radix(hex, 16) {
            out.v6.push(Ipv6Addr::from(v));
        }
    }
    Some(out)
}

pub fn read_cgroups(root: &Path, pid: i64) -> Vec<(String, String)> {
    read(root.join(pid.to_string()).join("cgroup"))
        .map(|s| {
            s.lines()
                .filter_map(|l| {
                    let mut it = l.splitn(3, ':');
                    let _ = it.next()?;
                    let subsys = it.next()?;
                    let path = it.next()?;
                    let subsys = subsys.strip_prefix("name=").unwrap_or(subsys);
                    Some((subsys.to_string(), path.to_string()))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Reads one process and its threads (`(tid, vtid)` pairs); `None` if it vanished or is
/// not a process (a thread id).
pub fn read_process(
    root: &Path,
    pid: i64,
    cfg: &StateConfig,
) -> Option<(Process, Vec<(i64, i64)>)> {
    let dir = root.join(pid.to_string());
    let status = read(dir.join("status"))?;
    let tgid: i64 = status_field(&status, "Tgid")?.parse().ok()?;
    if tgid != pid {
        return None;
    }
    let stat = read(dir.join("stat"))?;
    let (ppid, pgrp, sid, tty, start_ticks) = parse_stat(&stat)?;
    let ids = |key: &str| -> (u32, u32) {
        // Real, effective, saved, fs.
        let v: Vec<u32> = status_field(&status, key)
            .unwrap_or("")
            .split_whitespace()
            .filter_map(|x| x.parse().ok())
            .collect();
        (
            v.first().copied().unwrap_or(0),
            v.get(1).copied().unwrap_or(0),
        )
    };
    let cap = |key: &str| {
        status_field(&status, key)
            .and_then(|v| u64::from_str_radix(v, 16).ok())
            .unwrap_or(0)
    };
    let comm = read(dir.join("comm")).map(|s| s.trim_end_matches('\n').to_string())?;
    let cmdline = read_bytes(dir.join("cmdline"), 65536).unwrap_or_default();
    let mut argv = split_nul(&cmdline, cfg.max_args_bytes + 4096);
    let exe = if argv.is_empty() {
        comm.clone()
    } else {
        argv.remove(0)
    };
    let mut args = Vec::new();
    let mut used = 0;
    for a in argv {
        if used + a.len() > cfg.max_args_bytes {
            break;
        }
        used += a.len() + 1;
        args.push(a);
    }
    let env = read_bytes(dir.join("environ"), cfg.max_env_bytes * 4)
        .map(|b| split_nul(&b, cfg.max_env_bytes))
        .unwrap_or_default();
    let link = |name: &str| {
        std::fs::read_link(dir.join(name))
            .ok()
            .map(|p| p.to_string_lossy().into_owned())
    };
    let mut cwd = link("cwd").unwrap_or_else(|| "/".into());
    if !cwd.ends_with('/') {
        cwd.push('/');
    }
    let exepath = link("exe")
        .map(|e| {
            e.strip_suffix(" (deleted)")
                .map(str::to_string)
                .unwrap_or(e)
        })
        .unwrap_or_default();
    let loginuid = read(dir.join("loginuid"))
        .and_then(|s| s.trim().parse::<u32>().ok())
        .unwrap_or(u32::MAX);
    let cgroups = read_cgroups(root, pid);
    let (_, euid) = ids("Uid");
    let (_, egid) = ids("Gid");
    let vpid = innermost(status_field(&status, "NSpid")).unwrap_or(pid);
    let vpgid = innermost(status_field(&status, "NSpgid")).unwrap_or(pgrp);
    let vm = |key: &str| {
        status_field(&status, key)
            .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let start_ts = boot_time_ns(root) + start_ticks * 10_000_000;
    let mut p = Process {
        pid,
        ppid,
        vpid,
        sid,
        vpgid,
        comm: comm.into(),
        exe: exe.into(),
        exepath: exepath.into(),
        args: args.into(),
        env: env.into(),
        cwd: cwd.into(),
        uid: euid,
        gid: egid,
        loginuid,
        tty,
        cap_permitted: cap("CapPrm"),
        cap_inheritable: cap("CapInh"),
        cap_effective: cap("CapEff"),
        cgroups: cgroups.into(),
        start_ts,
        vm_size: vm("VmSize"),
        vm_rss: vm("VmRSS"),
        vm_swap: vm("VmSwap"),
        ..Process::default()
    };
    set_container(&mut p);
    read_fds(root, &dir, &mut p, cfg.max_fds_per_process);
    let mut tids = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir.join("task")) {
        for e in rd.flatten() {
            let Some(tid) = e.file_name().to_str().and_then(|s| s.parse::<i64>().ok()) else {
                continue;
            };
            let vtid = read(e.path().join("status"))
                .and_then(|s| innermost(status_field(&s, "NSpid")))
                .unwrap_or(tid);
            tids.push((tid, vtid));
        }
    }
    if tids.is_empty() {
        tids.push((pid, vpid));
    }
    Some((p, tids))
}

/// Socket inode → (l4, local, remote, listening), from `/proc/<pid>/net/{tcp,udp}{,6}`.
type SockMap = HashMap<u64, (L4, (IpAddr, u16), (IpAddr, u16), bool)>;

fn parse_hex_addr(s: &str) -> Option<(IpAddr, u16)> {
    let (ip, port) = s.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let ip = match ip.len() {
        8 => IpAddr::V4(Ipv4Addr::from(u32::from_be(
            u32::from_str_radix(ip, 16).ok()?,
        ))),
        32 => {
            let mut b = [0u8; 16];
            for w in 0..4 {
                let word = u32::from_str_radix(&ip[w * 8..w * 8 + 8], 16).ok()?;
                b[w * 4..w * 4 + 4].copy_from_slice(&word.to_le_bytes());
            }
            IpAddr::V6(Ipv6Addr::from(b))
        }
        _ => return None,
    };
    Some((ip, port))
}

fn read_sockets(dir: &Path) -> SockMap {
    let mut m = SockMap::new();
    for (file, l4) in [
        ("tcp", L4::Tcp),
        ("tcp6", L4::Tcp),
        ("udp", L4::Udp),
        ("udp6", L4::Udp),
    ] {
        let Some(text) = read(dir.join("net").join(file)) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            let (Some(l), Some(r), Some(st), Some(ino)) = (f.get(1), f.get(2), f.get(3), f.get(9))
            else {
                continue;
            };
            let (Some(l), Some(r), Ok(ino)) = (parse_hex_addr(l), parse_hex_addr(r), ino.parse())
            else {
                continue;
            };
            m.insert(ino, (l4, l, r, *st == "0A"));
        }
    }
    m
}

fn read_fds(_root: &Path, dir: &Path, p: &mut Process, max: usize) {
    let Ok(rd) = std::fs::read_dir(dir.join("fd")) else {
        return;
    };
    let mut socks: Option<SockMap> = None;
    for e in rd.flatten() {
        if p.fds.len() >= max {
            break;
        }
        let Some(num) = e.file_name().to_str().and_then(|s| s.parse::<i64>().ok()) else {
            continue;
        };
        let Ok(target) = std::fs::read_link(e.path()) else {
            continue;
        };
        let t = target.to_string_lossy();
        let inode = |prefix: &str| -> Option<u64> {
            t.strip_prefix(prefix)?.strip_suffix(']')?.parse().ok()
        };
        let mut fd = if let Some(ino) = inode("socket:[") {
            let m = socks.get_or_insert_with(|| read_sockets(dir));
            match m.get(&ino) {
                Some(&(l4, local, remote, listening)) => {
                    let kind = if local.0.is_ipv4() {
                        FdKind::Ipv4
                    } else {
                        FdKind::Ipv6
                    };
                    let mut f = Fd::new(kind, "");
                    let mut s = Sock::new(l4);
                    if listening {
                        s.is_server = true;
                        s.server = Some(local);
                    } else {
                        s.client = Some(local);
                        s.server = Some(remote);
                        s.connected = !remote.0.is_unspecified();
                    }
                    f.sock = Some(s);
                    f.rename_from_sock();
                    f
                }
                None => Fd::new(FdKind::Unix, ""),
            }
        } else if let Some(ino) = inode("pipe:[") {
            let mut f = Fd::new(FdKind::Pipe, t.to_string());
            f.ino = ino;
            f
        } else if let Some(kind) = t.strip_prefix("anon_inode:") {
            let k = match kind.trim_start_matches('[').trim_end_matches(']') {
                "eventfd" => FdKind::Event,
                "signalfd" => FdKind::Signalfd,
                "eventpoll" => FdKind::Eventpoll,
                "inotify" => FdKind::Inotify,
                "timerfd" => FdKind::Timerfd,
                "bpf-map" | "bpf-prog" | "bpf_link" | "bpf-link" => FdKind::Bpf,
                "userfaultfd" => FdKind::Userfaultfd,
                "[io_uring]" | "io_uring" => FdKind::IoUring,
                "pidfd" => FdKind::Pidfd,
                _ => FdKind::Unknown,
            };
            Fd::new(k, "")
        } else if t.starts_with("/memfd:") {
            Fd::new(
                FdKind::Memfd,
                t.trim_start_matches('/').trim_end_matches(" (deleted)"),
            )
        } else if t.starts_with('/') {
            let kind = if std::fs::metadata(e.path()).is_ok_and(|m| m.is_dir()) {
                FdKind::Directory
            } else {
                FdKind::File
            };
            let mut f = Fd::new(kind, t.to_string());
            f.nameraw = t.to_string();
            f
        } else {
            Fd::new(FdKind::Unknown, t.to_string())
        };
        // /proc/<pid>/fdinfo tells close-on-exec (flags are octal, O_CLOEXEC = 02000000).
        if let Some(info) = read(dir.join("fdinfo").join(num.to_string())) {
            if let Some(fl) =
                status_field(&info, "flags").and_then(|v| u32::from_str_radix(v, 8).ok())
            {
                fd.cloexec = fl & 0o2000000 != 0;
                fd.flags = peregrine_event::flags::open_flags_to_ppm(fl);
            }
        }
        p.fds.insert(num, fd);
    }
}

#[cfg(test)]
mod local_addrs_tests {
    use super::*;

    #[test]
    fn fib_trie_and_if_inet6_give_the_machine_addresses() {
        let dir = std::env::temp_dir().join(format!("peregrine-ifaddrs-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("net")).expect("dir");
        std::fs::write(
            dir.join("net/fib_trie"),
            "Main:\n  +-- 0.0.0.0/0 3 0 5\n     +-- 127.0.0.0/8 2 0 2\n        +-- 127.0.0.0/31 1 0 0\n           |-- 127.0.0.0\n              /8 host LOCAL\n           |-- 127.0.0.1\n              /32 host LOCAL\n     +-- 192.0.2.0/24 2 0 2\n           |-- 192.0.2.0\n              /24 link UNICAST\n           |-- 192.0.2.2\n              /32 host LOCAL\n        |-- 192.0.2.255\n           /32 link BROADCAST\nLocal:\n           |-- 192.0.2.2\n              /32 host LOCAL\n",
        )
        .expect("write");
        std::fs::write(
            dir.join("net/if_inet6"),
            "00000000000000000000000000000001 01 80 10 80       lo\n",
        )
        .expect("write");
        let got = read_local_addrs(&dir).expect("addresses");
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(
            got.v4,
            vec![
                (Ipv4Addr::new(127, 0, 0, 1), Ipv4Addr::new(255, 0, 0, 0)),
                (Ipv4Addr::new(192, 0, 2, 2), Ipv4Addr::new(255, 255, 255, 0)),
            ]
        );
        assert_eq!(got.v6, vec![Ipv6Addr::LOCALHOST]);
        assert_eq!(
            got.infer_v4(Ipv4Addr::new(192, 0, 2, 9)),
            Ipv4Addr::new(192, 0, 2, 2)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_and_addresses() {
        let stat =
            "1234 (my (odd) cmd) S 1 1234 1200 34816 0 4194560 1 2 3 4 5 6 7 8 20 0 1 0 98765 0";
        assert_eq!(parse_stat(stat), Some((1, 1234, 1200, 34816, 98765)));
        assert_eq!(
            parse_hex_addr("0100007F:0050"),
            Some(("127.0.0.1".parse().expect("ip"), 80))
        );
        assert_eq!(
            parse_hex_addr("00000000000000000000000001000000:1F90"),
            Some(("::1".parse().expect("ip"), 8080))
        );
        assert_eq!(parse_hex_addr("zz:1"), None);
        // A truncated line ending at the comm must not panic.
        assert_eq!(parse_stat("1 (x)"), None);
        assert_eq!(innermost(Some("4242\t7")), Some(7));
    }
}
