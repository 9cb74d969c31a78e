//! Inline events → state seed + kernel records.
//!
//! Every process an event names (and each of its ancestors) becomes one entry of the state's
//! process table, inserted before the first event with the descriptors the test gives it, as
//! replay inserts a capture's process and fd lists; the events themselves become kernel
//! records of `peregrine-event`'s builder that the pipeline processes like any other.
//! Identical process descriptions are one process; two different ones with the same `pid`
//! are refused.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use peregrine_event::builder::{AddrArg, Arg, RecordBuilder, TupleArg};
use peregrine_event::raw::KIND_SYSCALL;
use peregrine_event::schema::{schema_for, ParamType};
use peregrine_event::EventType;
use peregrine_state::fd::{Fd, FdKind, Sock, L4};
use peregrine_state::runtime::ContainerInfo;
use peregrine_state::thread::Process;
use peregrine_state::users::UserDb;
use peregrine_state::State;

use crate::spec::{printable, ArgSpec, ArgValue, ContainerSpec, EventSpec, FdSpec, ProcSpec};
use crate::{Error, Pos};

/// Event time of the first inline event without a `time` (2023-11-14, ns since the epoch);
/// the next ones follow 1 µs apart.
const BASE_TIME: u64 = 1_700_000_000_000_000_000;
/// Pids handed to processes without one.
const FIRST_PID: i64 = 1000;
/// The default process: a root shell-less tester on the host.
const DEFAULT_NAME: &str = "tester";

fn err(pos: &Pos, message: impl Into<String>) -> Error {
    Error::At {
        pos: pos.clone(),
        message: message.into(),
    }
}

/// Seeds `state` with the processes, descriptors, users and containers the events describe
/// and returns each event's record, in order.
pub(crate) fn prepare(events: &[EventSpec], state: &mut State) -> Result<Vec<Vec<u8>>, Error> {
    let mut world = World::default();
    let mut pids = Vec::with_capacity(events.len());
    let mut last = ProcSpec::default();
    for ev in events {
        // An event without `proc` is made by the previous event's process.
        let spec = if ev.proc == ProcSpec::default() {
            last.clone()
        } else {
            ev.proc.clone()
        };
        let pid = world.process(&spec, &ev.pos)?;
        for fd in &ev.fds {
            world.fd(pid, fd)?;
        }
        pids.push(pid);
        last = spec;
    }
    let mut records = Vec::with_capacity(events.len());
    for (i, (ev, pid)) in events.iter().zip(pids).enumerate() {
        let Some(p) = world.procs.get(&pid) else {
            return Err(err(&ev.pos, "internal: the event's process is missing"));
        };
        let ts = ev.time.unwrap_or(BASE_TIME + i as u64 * 1000);
        records.push(record(ev, p, ts)?);
    }
    world.seed(state);
    Ok(records)
}

#[derive(Default)]
struct World {
    /// Process description (with its ancestry and container) → pid.
    by_spec: HashMap<ProcSpec, i64>,
    procs: BTreeMap<i64, Process>,
    fd_specs: HashMap<(i64, i64), FdSpec>,
    next_pid: i64,
    /// User name → uid.
    users: BTreeMap<String, u32>,
    containers: BTreeMap<String, ContainerSpec>,
}

impl World {
    fn process(&mut self, spec: &ProcSpec, pos: &Pos) -> Result<i64, Error> {
        if let Some(&pid) = self.by_spec.get(spec) {
            return Ok(pid);
        }
        // The parent: the first ancestor, itself with the rest of the chain; the top of the
        // chain is a child of init. Ancestors are in the process's container unless they say.
        let ppid = match spec.parents.split_first() {
            Some((parent, rest)) => {
                let mut parent = parent.clone();
                if parent.parents.is_empty() {
                    parent.parents = rest.to_vec();
                }
                if parent.container.is_none() {
                    parent.container = spec.container.clone();
                }
                self.process(&parent, pos)?
            }
            None => {
                self.init();
                1
            }
        };
        let pid = match spec.pid {
            Some(pid) => {
                if self.procs.contains_key(&pid) {
                    return Err(err(
                        pos,
                        format!("pid {pid} is described twice, differently"),
                    ));
                }
                pid
            }
            None => self.fresh_pid(),
        };
        let uid = self.uid(spec);
        let name = spec
            .name
            .clone()
            .or_else(|| {
                spec.exe
                    .as_deref()
                    .or(spec.exepath.as_deref())
                    .map(|e| e.rsplit('/').next().unwrap_or(e).to_string())
            })
            .unwrap_or_else(|| DEFAULT_NAME.to_string());
        let exepath = spec
            .exepath
            .clone()
            .or_else(|| spec.exe.clone().filter(|e| e.starts_with('/')))
            .unwrap_or_else(|| format!("/usr/bin/{name}"));
        let exe = spec.exe.clone().unwrap_or_else(|| exepath.clone());
        let mut cwd = spec.cwd.clone().unwrap_or_else(|| "/".to_string());
        if !cwd.ends_with('/') {
            cwd.push('/');
        }
        let container_id: Arc<str> = match &spec.container {
            Some(c) => {
                self.containers.insert(c.id.clone(), c.clone());
                c.id.as_str().into()
            }
            None => "".into(),
        };
        let p = Process {
            pid,
            ppid,
            vpid: pid,
            sid: pid,
            vpgid: pid,
            comm: name.as_str().into(),
            exe: exe.into(),
            exepath: exepath.into(),
            args: spec.args.clone().into(),
            env: spec.env.clone().into(),
            cwd: cwd.into(),
            uid,
            gid: spec.gid.unwrap_or(uid),
            // -1 (or none): unset, as the kernel's audit login uid.
            loginuid: spec.loginuid.map_or(u32::MAX, |l| l as u32),
            tty: spec.tty.unwrap_or(0),
            exe_flags: spec.exe_flags,
            container_engine: if container_id.is_empty() {
                ""
            } else {
                "docker"
            },
            container_id,
            start_ts: BASE_TIME - 1_000_000_000,
            fdlimit: 1024,
            ..Process::default()
        };
        self.procs.insert(pid, p);
        self.by_spec.insert(spec.clone(), pid);
        Ok(pid)
    }

    fn fresh_pid(&mut self) -> i64 {
        if self.next_pid < FIRST_PID {
            self.next_pid = FIRST_PID;
        }
        while self.procs.contains_key(&self.next_pid) {
            self.next_pid += 1;
        }
        self.next_pid += 1;
        self.next_pid - 1
    }

    /// pid 1, the top of every ancestry.
    fn init(&mut self) {
        self.procs.entry(1).or_insert_with(|| Process {
            pid: 1,
            ppid: 0,
            vpid: 1,
            sid: 1,
            vpgid: 1,
            comm: "systemd".into(),
            exe: "/sbin/init".into(),
            exepath: "/usr/lib/systemd/systemd".into(),
            cwd: "/".into(),
            loginuid: u32::MAX,
            ..Process::default()
        });
    }

    fn uid(&mut self, spec: &ProcSpec) -> u32 {
        match (&spec.user, spec.uid) {
            (Some(name), Some(uid)) => {
                self.users.insert(name.clone(), uid);
                uid
            }
            (Some(name), None) => {
                if let Some(&uid) = self.users.get(name) {
                    return uid;
                }
                let uid = if name == "root" {
                    0
                } else {
                    1000 + self.users.values().filter(|&&u| u >= 1000).count() as u32
                };
                self.users.insert(name.clone(), uid);
                uid
            }
            (None, Some(uid)) => uid,
            (None, None) => 0,
        }
    }

    fn fd(&mut self, pid: i64, spec: &FdSpec) -> Result<(), Error> {
        if let Some(old) = self.fd_specs.get(&(pid, spec.num)) {
            if old != spec {
                return Err(err(
                    &spec.pos,
                    format!(
                        "fd {} of this process is described twice, differently",
                        spec.num
                    ),
                ));
            }
            return Ok(());
        }
        let fd = make_fd(spec)?;
        if let Some(p) = self.procs.get_mut(&pid) {
            p.fds.insert(spec.num, fd);
        }
        self.fd_specs.insert((pid, spec.num), spec.clone());
        Ok(())
    }

    fn seed(self, state: &mut State) {
        let mut passwd = String::from("root:x:0:0:root:/root:/bin/bash\n");
        let mut group = String::from("root:x:0:\n");
        for (name, uid) in &self.users {
            if name != "root" {
                passwd.push_str(&format!("{name}:x:{uid}:{uid}::/home/{name}:/bin/sh\n"));
                group.push_str(&format!("{name}:x:{uid}:\n"));
            }
        }
        state.set_users("", UserDb::parse(&passwd, &group));
        for (id, c) in &self.containers {
            state.set_users(id, UserDb::parse(&passwd, &group));
            state.set_container_info(id, container_info(c));
        }
        for (pid, p) in self.procs {
            state.insert_process(p, &[(pid, pid)]);
        }
    }
}

fn container_info(c: &ContainerSpec) -> ContainerInfo {
    // `registry/repo:tag` → repository and tag; a `:` inside the registry's host:port is not
    // a tag separator.
    let (repository, tag) = match c.image.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => (repo.to_string(), tag.to_string()),
        _ => (c.image.clone(), String::new()),
    };
    ContainerInfo {
        name: c.name.clone(),
        image: c.image.clone(),
        image_repository: repository,
        image_tag: tag,
        privileged: c.privileged,
        ..ContainerInfo::default()
    }
}

const FD_KINDS: &[FdKind] = &[
    FdKind::File,
    FdKind::Directory,
    FdKind::Ipv4,
    FdKind::Ipv6,
    FdKind::Unix,
    FdKind::Pipe,
    FdKind::Event,
    FdKind::Signalfd,
    FdKind::Eventpoll,
    FdKind::Inotify,
    FdKind::Timerfd,
    FdKind::Netlink,
    FdKind::Bpf,
    FdKind::Userfaultfd,
    FdKind::IoUring,
    FdKind::Memfd,
    FdKind::Pidfd,
];

fn make_fd(spec: &FdSpec) -> Result<Fd, Error> {
    let kind = FD_KINDS
        .iter()
        .copied()
        .find(|k| k.name() == spec.kind)
        .ok_or_else(|| {
            let names: Vec<&str> = FD_KINDS.iter().map(|k| k.name()).collect();
            err(
                &spec.pos,
                format!(
                    "unknown fd type '{}' (one of: {})",
                    printable(&spec.kind),
                    names.join(", ")
                ),
            )
        })?;
    let mut fd = Fd::new(kind, spec.name.as_str());
    if kind.is_inet() {
        let l4 = match spec.proto.as_str() {
            "tcp" => L4::Tcp,
            "udp" => L4::Udp,
            "icmp" => L4::Icmp,
            "raw" => L4::Raw,
            other => {
                return Err(err(
                    &spec.pos,
                    format!("unknown proto '{}' (tcp, udp, icmp, raw)", printable(other)),
                ))
            }
        };
        let end = |s: &Option<String>| -> Result<Option<(IpAddr, u16)>, Error> {
            s.as_deref()
                .map(|t| {
                    parse_endpoint(t)
                        .ok_or_else(|| err(&spec.pos, format!("'{}' is not ip:port", printable(t))))
                })
                .transpose()
        };
        let mut sock = Sock::new(l4);
        sock.client = end(&spec.client)?;
        sock.server = end(&spec.server)?;
        sock.is_server = spec.is_server;
        sock.connected = sock.client.is_some() && sock.server.is_some();
        fd.sock = Some(sock);
        if spec.name.is_empty() {
            fd.rename_from_sock();
        }
    } else {
        fd.nameraw = spec.name.clone();
    }
    Ok(fd)
}

/// `1.2.3.4:80` or `[::1]:80`.
fn parse_endpoint(s: &str) -> Option<(IpAddr, u16)> {
    let (ip, port) = s.rsplit_once(':')?;
    let ip = ip.trim_start_matches('[').trim_end_matches(']');
    Some((ip.parse().ok()?, port.parse().ok()?))
}

fn record(ev: &EventSpec, p: &Process, ts: u64) -> Result<Vec<u8>, Error> {
    let unknown = || {
        err(
            &ev.evtype_pos,
            format!(
                "unknown event type '{}' (see peregrine --list-events)",
                printable(&ev.evtype)
            ),
        )
    };
    let et = EventType::from_name(&ev.evtype).ok_or_else(unknown)?;
    let schema = et
        .syscall_nr()
        .and_then(|n| u16::try_from(n).ok())
        .and_then(|n| schema_for(KIND_SYSCALL, n))
        .ok_or_else(|| {
            err(
                &ev.evtype_pos,
                format!(
                    "event type '{}' has no record Peregrine's capture produces",
                    printable(&ev.evtype)
                ),
            )
        })?;
    let tid = ev.tid.unwrap_or(p.pid);
    let tid32 = u32::try_from(tid).map_err(|_| err(&ev.pos, "'tid' out of range"))?;
    let pid32 = u32::try_from(p.pid).map_err(|_| err(&ev.pos, "pid out of range"))?;
    let mut b = RecordBuilder::syscall(schema.name)
        .map_err(|_| unknown())?
        .ts(ts)
        .thread(tid32, pid32);
    let given = |name: &str| ev.args.iter().any(|a| a.name == name);
    let mut defaults: Vec<(&str, Arg)> = Vec::new();
    // The result: success unless the test says otherwise (an fd-returning call gets fd 3).
    if let Some(first) = schema.params.first() {
        if !given(first.name) {
            let v = if first.name == "fd" { 3 } else { 0 };
            defaults.push((first.name, Arg::Int(v)));
        }
    }
    if schema.index_of("dirfd").is_some() && !given("dirfd") {
        // AT_FDCWD: a relative path is the process's cwd's.
        defaults.push(("dirfd", Arg::Int(-100)));
    }
    if matches!(schema.name, "execve" | "execveat") {
        let s = |v: &str| Arg::Str(v.as_bytes().to_vec());
        let list = |v: &[String]| Arg::List(v.iter().map(|a| a.as_bytes().to_vec()).collect());
        defaults.extend([
            ("exe", s(&p.exe)),
            ("args", list(&p.args)),
            ("comm", s(&p.comm)),
            ("trusted_exepath", s(&p.exepath)),
            ("env", list(&p.env)),
            ("uid", Arg::Uint(p.uid.into())),
            ("gid", Arg::Uint(p.gid.into())),
            ("loginuid", Arg::Uint(p.loginuid.into())),
            ("tty", Arg::Uint(p.tty.into())),
            ("flags", Arg::Uint(p.exe_flags.into())),
            ("pid", Arg::Int(p.pid)),
            ("tid", Arg::Int(tid)),
            ("ptid", Arg::Int(p.ppid)),
            ("vpgid", Arg::Int(p.vpgid)),
        ]);
        if schema.name == "execve" {
            defaults.push(("filename", s(&p.exepath)));
        }
    }
    for (name, value) in defaults {
        if schema.index_of(name).is_some() && !given(name) {
            b = b
                .arg(name, value)
                .map_err(|e| err(&ev.pos, e.to_string()))?;
        }
    }
    for a in &ev.args {
        let Some(i) = schema.index_of(&a.name) else {
            let names: Vec<&str> = schema.params.iter().map(|p| p.name).collect();
            return Err(err(
                &a.pos,
                format!(
                    "event {} has no parameter '{}' (its parameters: {})",
                    schema.name,
                    printable(&a.name),
                    names.join(", ")
                ),
            ));
        };
        let value = arg_value(schema.params[i].ty, a)?;
        b = b
            .arg(&a.name, value)
            .map_err(|e| err(&a.pos, e.to_string()))?;
    }
    Ok(b.build())
}

fn arg_value(ty: ParamType, a: &ArgSpec) -> Result<Arg, Error> {
    let bad = |what: &str| {
        err(
            &a.pos,
            format!("parameter '{}' takes {what}", printable(&a.name)),
        )
    };
    let text = match &a.value {
        ArgValue::Scalar(s) => s.as_str(),
        ArgValue::List(items) => {
            return match ty {
                ParamType::List => Ok(Arg::List(
                    items.iter().map(|i| i.as_bytes().to_vec()).collect(),
                )),
                _ => Err(bad("a single value, not a list")),
            }
        }
    };
    let t = text.trim();
    Ok(match ty {
        ParamType::Fd | ParamType::Pid | ParamType::Int => {
            Arg::Int(t.parse().map_err(|_| bad("an integer"))?)
        }
        ParamType::Errno => match t.parse::<i64>() {
            Ok(v) => Arg::Int(v),
            Err(_) => Arg::Int(
                -(1..200)
                    .find(|&e| peregrine_event::value::errno_name(-e) == Some(t))
                    .ok_or_else(|| bad("an integer or an errno name (EPERM, EINPROGRESS, …)"))?,
            ),
        },
        ParamType::Uint | ParamType::Uid | ParamType::Gid | ParamType::AbsTime => {
            Arg::Uint(t.parse().map_err(|_| bad("an unsigned integer"))?)
        }
        ParamType::Mode | ParamType::ChmodMode => {
            let v = match t.strip_prefix('0').filter(|r| !r.is_empty()) {
                Some(oct) => u64::from_str_radix(oct, 8),
                None => t.parse(),
            };
            Arg::Uint(v.map_err(|_| bad("a mode (0644)"))?)
        }
        ParamType::Str | ParamType::Path | ParamType::RelPath(_) => Arg::Str(text.into()),
        ParamType::Bytes => Arg::Bytes(text.into()),
        ParamType::List => Arg::List(t.split_whitespace().map(|w| w.into()).collect()),
        ParamType::SockAddr => {
            if t.starts_with('/') {
                Arg::Addr(AddrArg::Unix(t.into()))
            } else {
                match parse_endpoint(t).ok_or_else(|| bad("ip:port or a unix path"))? {
                    (IpAddr::V4(ip), port) => Arg::Addr(AddrArg::Inet(ip, port)),
                    (IpAddr::V6(ip), port) => Arg::Addr(AddrArg::Inet6(ip, port)),
                }
            }
        }
        ParamType::SockTuple => {
            let (src, dst) = t
                .split_once("->")
                .and_then(|(s, d)| Some((parse_endpoint(s)?, parse_endpoint(d)?)))
                .ok_or_else(|| bad("ip:port->ip:port"))?;
            match (src, dst) {
                ((IpAddr::V4(a), p), (IpAddr::V4(b), q)) => {
                    Arg::Tuple(TupleArg::Inet((a, p), (b, q)))
                }
                ((a, p), (b, q)) => Arg::Tuple(TupleArg::Inet6((v6(a), p), (v6(b), q))),
            }
        }
        ParamType::Flags(table, conv) | ParamType::Enum(table, conv) => {
            if let Ok(raw) = t.parse::<u64>() {
                // A number is the kernel's value, as the kernel writes it.
                Arg::Uint(raw)
            } else {
                let mut ppm = 0u64;
                for name in t.split('|').map(str::trim) {
                    let v = table.value_of(name).ok_or_else(|| {
                        let names: Vec<&str> = table.entries.iter().map(|(n, _)| *n).collect();
                        err(
                            &a.pos,
                            format!(
                                "unknown value '{}' of {} (one of: {})",
                                printable(name),
                                table.name,
                                names.join(", ")
                            ),
                        )
                    })?;
                    ppm |= u64::from(v);
                }
                Arg::Uint(peregrine_engine::replay::to_kernel(conv, ppm))
            }
        }
        ParamType::Dyn | ParamType::FdList => {
            return Err(bad("a value tests cannot write yet (use a capture)"))
        }
    })
}

fn v6(ip: IpAddr) -> Ipv6Addr {
    match ip {
        IpAddr::V6(a) => a,
        IpAddr::V4(a) => Ipv4Addr::to_ipv6_mapped(&a),
    }
}
