//! Field extraction: the [`FieldSource`] over the current event and the state it updated.
//!
//! Key decision: one `match` on [`FieldId`] per request, writing straight into the caller's
//! [`Extracted`] arena; no per-event allocation beyond what the arena already holds, and no
//! lookup by field name. Values follow libsinsp's formats (cwd with a trailing `/`,
//! `proc.cmdline` = comm + args, `fd.name` `cip:cport->sip:sport`, `container.id` `host`
//! outside containers); a field that has no value for this event pushes nothing (`<NA>`).

use std::cell::OnceCell;
use std::io::Write;
use std::net::IpAddr;

use peregrine_event::value::errno_name;
use peregrine_event::{Event, ParamType, Render, Value};
use peregrine_filter::fields::{ClassId as C, FieldId as F};
use peregrine_filter::{Extracted, FieldArg, FieldRequest, FieldSource, Slot};

use crate::caps::write_caps;
use crate::fd::{Fd, FdKind, L4};
use crate::params::{self, K};
use crate::state::State;
use crate::thread::{Process, Thread};

/// The current event plus the state, as rules and outputs see it. Build it with
/// [`State::source`] right after [`State::update`] for the same event.
pub struct EventSource<'s, 'e> {
    /// Shared: the process and fd below borrow from it for the whole event.
    state: &'s State,
    ev: &'s Event<'e>,
    scratch: Vec<u8>,
    /// The event's thread and process, looked up on the first field that asks: most fields
    /// of a rule do, and the table probes are then paid once per event, not per field.
    thread: OnceCell<Option<(Thread, &'s Process)>>,
    /// The fd the event acts on, likewise.
    fd: OnceCell<Option<(i64, &'s Fd)>>,
}

impl State {
    /// The field source for `ev`, which must be the event last given to [`State::update`].
    pub fn source<'s, 'e>(&'s mut self, ev: &'s Event<'e>) -> EventSource<'s, 'e> {
        let scratch = self.extract_scratch.take();
        EventSource {
            state: self,
            ev,
            scratch,
            thread: OnceCell::new(),
            fd: OnceCell::new(),
        }
    }
}

impl Drop for EventSource<'_, '_> {
    fn drop(&mut self) {
        self.state
            .extract_scratch
            .replace(std::mem::take(&mut self.scratch));
    }
}

const SHELLS: &[&str] = &[
    "sh", "bash", "zsh", "ksh", "csh", "tcsh", "dash", "ash", "fish",
];

fn push_fmt(out: &mut Extracted, scratch: &mut Vec<u8>, f: impl FnOnce(&mut Vec<u8>)) {
    scratch.clear();
    f(scratch);
    out.push_bytes(scratch);
}

/// `fmt::Write` over a byte buffer, for renderers written against `fmt`.
struct ByteWriter<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for ByteWriter<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// A parameter's plain text as libsinsp prints it: a named number is the number alone, a
/// uid or gid of -1 is `-1`. (Fd lists need the fd table: `EventSource::fd_list_text`.)
fn write_plain(out: &mut Vec<u8>, ty: ParamType, v: Value<'_>) -> std::io::Result<()> {
    if matches!(ty, ParamType::Uid | ParamType::Gid) && v == Value::Uint(u32::MAX.into()) {
        return out.write_all(b"-1");
    }
    let value = match v {
        Value::Flags { value, .. } => Value::Uint(value.into()),
        v => v,
    };
    let ty = match ty {
        ParamType::Fd | ParamType::Errno => ParamType::Int,
        ParamType::ChmodMode => ParamType::Mode,
        t => t,
    };
    write!(out, "{}", Render { ty, value: &value })
}

fn bool_slot(b: bool) -> Slot {
    Slot::Bool(b)
}

impl<'s> EventSource<'s, '_> {
    /// The process that made the event, as the state knows it (what acting on an alert
    /// needs: its pid, start time and container).
    pub fn event_process(&self) -> Option<&Process> {
        self.process()
    }

    fn process(&self) -> Option<&'s Process> {
        self.thread_process().map(|(_, p)| p)
    }

    /// The event's thread and its process, looked up once per event.
    fn thread_process(&self) -> Option<(Thread, &'s Process)> {
        let state = self.state;
        let tid = i64::from(self.ev.tid());
        *self
            .thread
            .get_or_init(|| state.table().thread(tid).map(|(t, p)| (*t, p)))
    }

    /// The fd the event acts on (its entry in the table, or the fd of a failed open).
    fn fd(&self) -> Option<(i64, &'s Fd)> {
        *self.fd.get_or_init(|| {
            let state = self.state;
            let num = state.cur.fd?;
            if let Some(f) = &state.cur.tmp_fd {
                return Some((num, f));
            }
            self.process()?.fds.get(&num).map(|f| (num, f))
        })
    }

    /// Parameter `k` of the event, by its position resolved once per schema.
    fn param(&self, k: K) -> Option<Result<Value<'_>, peregrine_event::ValueError>> {
        let ev = self.ev;
        let i = params::position(params::positions(ev.raw.kind, ev.raw.nr), k)?;
        let ty = ev.schema.params.get(i)?.ty;
        ev.raw.param(i).map(|b| Value::decode(ty, b))
    }

    fn int(&self, k: K) -> Option<i64> {
        self.param(k)?.ok()?.as_i64()
    }

    fn res(&self) -> Option<i64> {
        let first = self.ev.schema.params.first()?;
        if !matches!(first.ty, ParamType::Errno | ParamType::Fd | ParamType::Pid) {
            return None;
        }
        match self.ev.raw.param(0).map(|b| Value::decode(first.ty, b)) {
            Some(Ok(Value::Int(v))) => Some(v),
            _ => None,
        }
    }

    fn param_index(&self, arg: &FieldArg) -> Option<usize> {
        match arg {
            FieldArg::Index(i) => usize::try_from(*i)
                .ok()
                .filter(|&i| i < self.ev.schema.params.len()),
            FieldArg::Key(k) => self.ev.schema.index_of(k),
            FieldArg::None | FieldArg::Plugin(..) => None,
        }
    }

    fn ancestor_values(
        &mut self,
        arg: &FieldArg,
        out: &mut Extracted,
        get: fn(&Process, &mut Vec<u8>),
    ) {
        let table = self.state.table();
        let Some(p) = table.thread(i64::from(self.ev.tid())).map(|(_, p)| p) else {
            return;
        };
        match arg {
            FieldArg::Index(n) => {
                if let Some(a) = usize::try_from(*n).ok().and_then(|n| table.ancestor(p, n)) {
                    self.scratch.clear();
                    get(a, &mut self.scratch);
                    out.push_bytes(&self.scratch);
                }
            }
            _ => {
                for a in table.ancestors(p) {
                    self.scratch.clear();
                    get(a, &mut self.scratch);
                    out.push_bytes(&self.scratch);
                }
            }
        }
    }

    /// The session leader (libsinsp's get_oldest_matching_ancestor: the process whose pid is
    /// the sid, else the eldest ancestor in the same session; the process itself does not
    /// count, so a process whose parent is in another session has none).
    fn leader(&self, p: &Process, by_group: bool) -> Option<Process> {
        let table = self.state.table();
        let id = if by_group { p.vpgid } else { p.sid };
        if id == -1 {
            return None;
        }
        if !p.in_pidns() {
            if let Some(l) = table.procs.get(&id) {
                return Some(l.clone());
            }
        }
        let mut leader = None;
        for a in table.ancestors(p) {
            let aid = if by_group { a.vpgid } else { a.sid };
            if aid != id {
                break;
            }
            leader = Some(a);
        }
        leader.cloned()
    }

    fn extract_fd(&mut self, id: F, arg: &FieldArg, out: &mut Extracted) {
        // The fd borrows from the state for the whole match, so the scratch buffer is moved
        // out (no allocation: it keeps its capacity) for the fields built by formatting.
        let mut scratch = std::mem::take(&mut self.scratch);
        let found = self.extract_fd_into(id, arg, out, &mut scratch);
        self.scratch = scratch;
        // An event whose fd is not in the table (a failed accept, an open that returned an
        // error): libsinsp still answers fd.name from the event's own name or tuple argument
        // and fd.typechar from the event type. (Tested after the lookup above, so that
        // fd.name pays the fd lookup once.)
        if !found
            && matches!(id, F::FdName | F::FdTypechar)
            && matches!(arg, FieldArg::None)
            && self.ev.direction() == peregrine_event::Direction::Exit
        {
            let name = self.ev.name();
            if id == F::FdTypechar {
                if let Some(c) = typechar_of_event(name) {
                    out.push_bytes(&[c]);
                }
            } else if matches!(name, "accept" | "accept4" | "connect" | "open" | "creat") {
                let key = if name == "open" || name == "creat" {
                    "name"
                } else {
                    "tuple"
                };
                if let Some(i) = self.ev.schema.index_of(key) {
                    self.push_arg(i, out);
                }
            }
        }
    }

    /// The `fd.*` fields. Nothing here allocates per event: strings are borrowed from the
    /// state, and composite values are formatted into `scratch`. False when the event has no
    /// fd in the table (nothing pushed but `fd.num`'s number).
    fn extract_fd_into(
        &self,
        id: F,
        arg: &FieldArg,
        out: &mut Extracted,
        scratch: &mut Vec<u8>,
    ) -> bool {
        if id == F::FdTypes {
            let Some(p) = self.process() else {
                return true;
            };
            let mut kinds: Vec<&str> = match arg {
                FieldArg::Index(n) => p.fds.get(n).map(|f| f.kind.name()).into_iter().collect(),
                _ => p.fds.values().map(|f| f.kind.name()).collect(),
            };
            kinds.sort_unstable();
            kinds.dedup();
            for k in kinds {
                out.push_str(k);
            }
            return true;
        }
        // Only `fd.containername`/`fd.containerdirectory` read it (a process lookup: not paid
        // by the other fields, as the local/remote ends below).
        let cid = || match self.process() {
            Some(p) if !p.container_id.is_empty() => short_id(&p.container_id),
            _ => "host",
        };
        let tid = self.ev.tid();
        let name_changed = self.state.cur.name_changed;
        let Some((num, fd)) = self.fd() else {
            if id == F::FdNum {
                if let Some(n) = self.state.cur.fd {
                    out.push(Slot::Int(n));
                }
            }
            return false;
        };
        let sock = fd.sock;
        let ip = |o: &mut Extracted, v: Option<(IpAddr, u16)>| {
            if let Some((a, _)) = v {
                o.push(Slot::Ip(a));
            }
        };
        let port = |o: &mut Extracted, v: Option<(IpAddr, u16)>| {
            if let Some((_, p)) = v {
                o.push(Slot::UInt(p.into()));
            }
        };
        // libsinsp's local end: the client's when the client address is the machine's
        // (with the machine's addresses known), else the server's; by role otherwise.
        let is_local = |ip: IpAddr| self.process().and_then(|p| self.state.is_local_addr(ip, p));
        let ends = |s: &crate::fd::Sock| match (s.client, s.server) {
            (Some(c), Some(srv)) => match is_local(c.0) {
                Some(true) => (Some(c), Some(srv)),
                Some(false) => (Some(srv), Some(c)),
                None => (s.local(), s.remote()),
            },
            _ => (s.local(), s.remote()),
        };
        let local = || sock.as_ref().and_then(|s| ends(s).0);
        let remote = || sock.as_ref().and_then(|s| ends(s).1);
        match id {
            F::FdNum => out.push(Slot::Int(num)),
            F::FdType => out.push_str(fd.kind.name()),
            F::FdTypechar => out.push_bytes(&[fd.kind.typechar()]),
            F::FdName => out.push_str(&fd.name),
            F::FdNameraw => out.push_str(if fd.nameraw.is_empty() {
                &fd.name
            } else {
                &fd.nameraw
            }),
            F::FdDirectory => {
                if let Some(d) = fd.directory() {
                    out.push_str(d)
                }
            }
            F::FdFilename => {
                if let Some(f) = fd.filename() {
                    out.push_str(f)
                }
            }
            F::FdCip => ip(out, sock.and_then(|s| s.client)),
            F::FdSip => ip(out, sock.and_then(|s| s.server)),
            F::FdLip => ip(out, local()),
            F::FdRip => ip(out, remote()),
            F::FdCport => port(out, sock.and_then(|s| s.client)),
            F::FdSport => port(out, sock.and_then(|s| s.server)),
            F::FdLport => port(out, local()),
            F::FdRport => port(out, remote()),
            // Filter-only "either end" fields yield both ends; the compiler's `=`/`in` over a
            // multi-valued field matches when any value does.
            F::FdIp | F::FdNet => {
                ip(out, sock.and_then(|s| s.client));
                ip(out, sock.and_then(|s| s.server));
            }
            F::FdPort => {
                port(out, sock.and_then(|s| s.client));
                port(out, sock.and_then(|s| s.server));
            }
            F::FdCnet => ip(out, sock.and_then(|s| s.client)),
            F::FdSnet => ip(out, sock.and_then(|s| s.server)),
            F::FdLnet => ip(out, local()),
            F::FdRnet => ip(out, remote()),
            // libsinsp answers these three for any fd, sockets or not: "<NA>" and false
            // are values there, not missing ones.
            F::FdL4proto => out.push_str(
                sock.and_then(|s| s.l4.name())
                    .unwrap_or(peregrine_filter::format::NA),
            ),
            F::FdSockfamily => match fd.kind {
                crate::fd::FdKind::Ipv4 | crate::fd::FdKind::Ipv6 => out.push_str("ip"),
                crate::fd::FdKind::Unix => out.push_str("unix"),
                _ => {}
            },
            // A listening socket serves; a connected one when its server address is the
            // machine's (libsinsp), by role while the machine's addresses are unknown.
            F::FdIsServer => out.push(bool_slot(sock.is_some_and(|s| {
                match (s.client, s.server) {
                    (Some(_), Some(srv)) => is_local(srv.0).unwrap_or(s.is_server),
                    _ => s.is_server,
                }
            }))),
            F::FdConnected => out.push(bool_slot(sock.is_some_and(|s| s.connected))),
            F::FdNameChanged => out.push(bool_slot(name_changed)),
            // Writes into a Vec cannot fail.
            F::FdUid => push_fmt(out, scratch, |s| {
                let _ = write!(s, "{tid}{num}");
            }),
            F::FdContainername => {
                let cid = cid();
                push_fmt(out, scratch, |s| {
                    let _ = write!(s, "{cid}:{}", fd.name);
                })
            }
            F::FdContainerdirectory => {
                if let Some(d) = fd.directory() {
                    let cid = cid();
                    push_fmt(out, scratch, |s| {
                        let _ = write!(s, "{cid}:{d}");
                    });
                }
            }
            F::FdDev => out.push(Slot::Int(fd.dev.into())),
            F::FdDevMajor => out.push(Slot::Int(((fd.dev >> 20) & 0xfff).into())),
            F::FdDevMinor => out.push(Slot::Int((fd.dev & 0xfffff).into())),
            F::FdIno => out.push(Slot::Int(fd.ino as i64)),
            F::FdIsUpperLayer => out.push(bool_slot(fd.flags & (1 << 15) != 0)),
            F::FdIsLowerLayer => out.push(bool_slot(fd.flags & (1 << 16) != 0)),
            _ => {}
        }
        true
    }

    fn extract_evt(&mut self, id: F, arg: &FieldArg, out: &mut Extracted) {
        let ev = self.ev;
        let ts = ev.ts;
        match id {
            F::EvtNum => out.push(Slot::UInt(self.state.evt_num)),
            F::EvtTime | F::EvtTimeS | F::EvtTimeIso8601 | F::EvtDatetime | F::EvtDatetimeS => {
                let mut s = String::new();
                if peregrine_filter::format::format_time(id, ts, &mut s) {
                    out.push_str(&s);
                }
            }
            F::EvtRawtime => out.push(Slot::UInt(ts)),
            F::EvtRawtimeS => out.push(Slot::UInt(ts / 1_000_000_000)),
            F::EvtRawtimeNs => out.push(Slot::UInt(ts % 1_000_000_000)),
            F::EvtReltime => out.push(Slot::UInt(ts.saturating_sub(self.state.first_ts))),
            F::EvtReltimeS => out.push(Slot::UInt(
                ts.saturating_sub(self.state.first_ts) / 1_000_000_000,
            )),
            F::EvtReltimeNs => out.push(Slot::UInt(
                ts.saturating_sub(self.state.first_ts) % 1_000_000_000,
            )),
            F::EvtDeltatime => out.push(Slot::UInt(ts.saturating_sub(self.state.prev_ts))),
            F::EvtDeltatimeS => out.push(Slot::UInt(
                ts.saturating_sub(self.state.prev_ts) / 1_000_000_000,
            )),
            F::EvtDeltatimeNs => out.push(Slot::UInt(
                ts.saturating_sub(self.state.prev_ts) % 1_000_000_000,
            )),
            F::EvtSource => out.push_str("syscall"),
            F::EvtIsAsync => out.push(bool_slot(false)),
            F::EvtHostname => out.push_str(&self.state.hostname.clone()),
            F::EvtDir => out.push_str(match ev.direction() {
                peregrine_event::Direction::Enter => ">",
                peregrine_event::Direction::Exit => "<",
            }),
            F::EvtType => out.push_str(ev.name()),
            F::SyscallType if ev.name() != "procexit" => out.push_str(ev.name()),
            F::EvtTypeIs => {
                let is = matches!(arg, FieldArg::Key(k) if &**k == ev.name());
                out.push(Slot::UInt(is.into()));
            }
            F::EvtCpu => out.push(Slot::Int(ev.cpu().into())),
            F::EvtArgs | F::EvtInfo => self.push_args(out),
            F::EvtArg => {
                if let Some(i) = self.param_index(arg) {
                    self.push_arg(i, out);
                }
            }
            F::EvtRawarg => {
                if let Some(i) = self.param_index(arg) {
                    let info = &ev.schema.params[i];
                    match ev.raw.param(i).map(|b| Value::decode(info.ty, b)) {
                        Some(Ok(Value::Str(b))) | Some(Ok(Value::Bytes(b))) => out.push_bytes(b),
                        Some(Ok(v)) => {
                            if let Some(n) = v.as_i64() {
                                out.push(Slot::Int(n))
                            }
                        }
                        _ => {}
                    }
                }
            }
            F::EvtRes => {
                if let Some(r) = self.res() {
                    if r >= 0 {
                        out.push_str("SUCCESS");
                    } else if let Some(n) = errno_name(r) {
                        out.push_str(n);
                    } else {
                        let s = r.to_string();
                        out.push_str(&s);
                    }
                }
            }
            F::EvtRawres => {
                if let Some(r) = self.res() {
                    out.push(Slot::Int(r))
                }
            }
            F::EvtFailed => {
                if let Some(r) = self.res() {
                    out.push(bool_slot(r < 0))
                }
            }
            F::EvtIsIo | F::EvtIsIoRead | F::EvtIsIoWrite | F::EvtIoDir => {
                let name = ev.name();
                let read = matches!(
                    name,
                    "read"
                        | "readv"
                        | "pread64"
                        | "preadv"
                        | "preadv2"
                        | "recv"
                        | "recvfrom"
                        | "recvmsg"
                        | "recvmmsg"
                );
                let write = matches!(
                    name,
                    "write"
                        | "writev"
                        | "pwrite64"
                        | "pwritev"
                        | "pwritev2"
                        | "send"
                        | "sendto"
                        | "sendmsg"
                        | "sendmmsg"
                );
                match id {
                    F::EvtIsIo => out.push(bool_slot(read || write)),
                    F::EvtIsIoRead => out.push(bool_slot(read)),
                    F::EvtIsIoWrite => out.push(bool_slot(write)),
                    _ if read => out.push_str("r"),
                    _ if write => out.push_str("w"),
                    _ => {}
                }
            }
            F::EvtCategory => {
                let cat = match crate::category::category(ev.raw.kind, ev.raw.nr) {
                    crate::category::Category::Fixed(c) => c,
                    crate::category::Category::Io => {
                        crate::category::io_category(self.fd().map(|(_, f)| f.kind))
                    }
                };
                out.push_str(cat);
            }
            // Records are exit events only (the kernel side does not send enters), so there
            // is no matching enter to measure from: libsinsp's value for an unpaired exit, 0.
            F::EvtLatency | F::EvtLatencyS | F::EvtLatencyNs => out.push(Slot::UInt(0)),
            F::EvtCount | F::EvtCountExit => out.push(Slot::UInt(1)),
            F::EvtCountError => out.push(Slot::UInt(u64::from(self.res().is_some_and(|r| r < 0)))),
            F::EvtBuffer => {
                if let Some(Ok(Value::Bytes(b))) = self.param(K::Data) {
                    out.push_bytes(b)
                }
            }
            F::EvtBuflen => {
                if let Some(Ok(Value::Bytes(b))) = self.param(K::Data) {
                    out.push(Slot::UInt(b.len() as u64))
                }
            }
            F::EvtIsOpenRead | F::EvtIsOpenWrite | F::EvtIsOpenExec | F::EvtIsOpenCreate => {
                let name = ev.name();
                if !matches!(name, "open" | "openat" | "openat2" | "creat") {
                    out.push(bool_slot(false));
                    return;
                }
                let flags = if name == "creat" {
                    2 | (1 << 2) | (1 << 8)
                } else {
                    self.int(K::Flags).unwrap_or(0) as u32
                };
                let mode = self.int(K::Mode).unwrap_or(0);
                let v = match id {
                    F::EvtIsOpenRead => flags & 1 != 0,
                    F::EvtIsOpenWrite => flags & 2 != 0,
                    F::EvtIsOpenExec => flags & ((1 << 2) | (1 << 13)) != 0 && mode & 0o111 != 0,
                    _ => flags & (1 << 2) != 0,
                };
                out.push(bool_slot(v));
            }
            F::EvtAbspath | F::EvtAbspathSrc | F::EvtAbspathDst => {
                let which = match id {
                    F::EvtAbspathSrc => PathRole::Source,
                    F::EvtAbspathDst => PathRole::Target,
                    _ => PathRole::Name,
                };
                if let Some(p) = self.fs_path(which, true) {
                    out.push_str(&p);
                }
            }
            _ => {}
        }
    }

    /// `evt.arg.<name>`: as libsinsp, the parameter's resolved form when it has one — flag,
    /// mode, signal and errno names, an fd's `<type>name`, `AT_FDCWD`, a pid's comm, a uid's
    /// or gid's name in the process's root (`<NA>` unknown, `<NONE>` for -1), a relative
    /// path made absolute — and its plain value otherwise.
    fn push_arg(&mut self, i: usize, out: &mut Extracted) {
        let ev = self.ev;
        let ty = ev.schema.params[i].ty;
        // libsinsp's legacy rendering of an empty buffer-like parameter (a failed accept's
        // tuple) is "NULL"; other empty parameters are "<NA>".
        if ev.raw.param(i).is_some_and(|b| b.is_empty())
            && matches!(
                ty,
                ParamType::Bytes
                    | ParamType::List
                    | ParamType::SockTuple
                    | ParamType::Dyn
                    | ParamType::FdList
            )
        {
            out.push_str("NULL");
            return;
        }
        let Some(Ok(v)) = ev.raw.param(i).map(|b| Value::decode(ty, b)) else {
            return;
        };
        if let Value::FdList(l) = &v {
            out.push_str(&self.fd_list_text(l));
            return;
        }
        // Conditions read evt.arg on hot paths (`evt.arg.flags contains O_TRUNC` on every
        // open): names are written straight into the scratch buffer, and the plain form only
        // when there is no resolved one.
        let names = match (&v, ty) {
            (&Value::Flags { value, table }, _) => Some((table, value)),
            (&Value::Uint(m), ParamType::ChmodMode) => {
                Some((&peregrine_event::flags::CHMOD_MODE, m as u32))
            }
            _ => None,
        };
        if let Some((table, value)) = names {
            let buf = &mut self.scratch;
            buf.clear();
            if !table.write_names(value, &mut ByteWriter(buf)) {
                let _ = write_plain(buf, ty, v);
            }
            out.push_bytes(buf);
            return;
        }
        match self.arg_resolved(ty, &v) {
            Some(r) => out.push_str(&r),
            None => push_fmt(out, &mut self.scratch, |s| {
                let _ = write_plain(s, ty, v);
            }),
        }
    }

    /// `evt.args`: `name=plain(resolved)` per parameter, as libsinsp prints them; nothing
    /// for Falco's generic event, whose parameters are internal.
    fn push_args(&mut self, out: &mut Extracted) {
        let ev = self.ev;
        let params = ev.schema.params;
        if params.get(1).is_some_and(|p| p.name == "ID") {
            out.push_str("");
            return;
        }
        // The reused text buffer, moved out while the loop borrows `self`.
        let mut line = std::mem::take(&mut self.scratch);
        line.clear();
        for (i, info) in params.iter().enumerate() {
            if i > 0 {
                line.push(b' ');
            }
            let _ = write!(line, "{}=", info.name);
            match ev.raw.param(i).map(|b| Value::decode(info.ty, b)) {
                Some(Ok(Value::FdList(l))) => {
                    line.extend_from_slice(self.fd_list_text(&l).as_bytes())
                }
                Some(Ok(v)) => {
                    let resolved = self.arg_resolved(info.ty, &v);
                    let _ = write_plain(&mut line, info.ty, v);
                    if let Some(r) = resolved {
                        let _ = write!(line, "({r})");
                    }
                }
                Some(Err(_)) => line.extend_from_slice(b"<invalid>"),
                None => line.extend_from_slice(b"<NA>"),
            }
        }
        out.push_bytes(&line);
        self.scratch = line;
    }

    /// An fd list as libsinsp prints it, with each fd's type character from the fd table
    /// (`4:p1 5:p1`); it has no resolved form.
    fn fd_list_text(&self, l: &peregrine_event::FdList) -> String {
        let mut s = String::new();
        let _ = l.write(&mut s, |fd| self.typechar(fd));
        s
    }

    /// libsinsp's resolved form of a parameter value, when it has one (never empty).
    fn arg_resolved(&mut self, ty: ParamType, v: &Value<'_>) -> Option<String> {
        let r = match (v, ty) {
            (Value::Flags { value, table }, _) => table.render(*value),
            (Value::Uint(m), ParamType::ChmodMode) => {
                peregrine_event::flags::CHMOD_MODE.render(*m as u32)
            }
            (&Value::Int(n), ParamType::Errno) if n < 0 => errno_name(n).map(str::to_string),
            (&Value::Int(n), ParamType::Fd) => self.resolve_fd(n),
            (&Value::Int(n), ParamType::Pid) => self
                .state
                .table()
                .thread(n)
                .map(|(_, p)| p.comm.to_string()),
            (&Value::Uint(id), ParamType::Uid | ParamType::Gid) => {
                Some(self.resolve_id(id, ty == ParamType::Uid))
            }
            (Value::Str(b), ParamType::Path | ParamType::RelPath(_)) => {
                let raw = String::from_utf8_lossy(b);
                // Without the thread, libsinsp leaves the path as it is.
                (!raw.is_empty() && !raw.starts_with('/') && self.process().is_some())
                    .then(|| self.joined(ty, &raw))
            }
            _ => None,
        };
        r.filter(|r| !r.is_empty())
    }

    /// libsinsp's resolved form of an fd parameter: `<f>/etc/passwd`, `<4t>…` for an IP
    /// socket (type and transport), `AT_FDCWD`, or an errno name for a negative value.
    fn resolve_fd(&self, n: i64) -> Option<String> {
        if n == -100 {
            return Some("AT_FDCWD".to_string());
        }
        if n < 0 {
            return errno_name(n).map(str::to_string);
        }
        let f = self.process()?.fds.get(&n)?;
        let proto = match (f.kind, f.sock.map(|s| s.l4)) {
            (FdKind::Ipv4 | FdKind::Ipv6, Some(L4::Tcp)) => "t",
            (FdKind::Ipv4 | FdKind::Ipv6, Some(L4::Udp)) => "u",
            (FdKind::Ipv4 | FdKind::Ipv6, Some(L4::Icmp)) => "i",
            (FdKind::Ipv4 | FdKind::Ipv6, Some(L4::Raw)) => "r",
            _ => "",
        };
        Some(format!(
            "<{}{proto}>{}",
            char::from(f.kind.typechar()),
            f.name
        ))
    }

    /// A uid's or gid's name in the event process's user database.
    fn resolve_id(&mut self, id: u64, user: bool) -> String {
        if id == u64::from(u32::MAX) {
            return "<NONE>".to_string();
        }
        let Some(pid) = self.process().map(|p| p.pid) else {
            return "<NA>".to_string();
        };
        let id = id as u32;
        let db = self.state.users_for(pid);
        let name = db.as_deref().and_then(|db| {
            if user {
                db.user(id).map(|u| u.name.clone())
            } else {
                db.group(id).map(str::to_string)
            }
        });
        name.unwrap_or_else(|| "<NA>".to_string())
    }

    /// A path parameter made absolute and normal: a relative one is joined to the dirfd's
    /// path for `*at` paths with a real dirfd, else to the process's cwd (`/` unknown).
    fn joined(&self, ty: ParamType, raw: &str) -> String {
        let p = self.process();
        let cwd = p.map_or("/", |p| &*p.cwd);
        let base = match ty {
            ParamType::RelPath(d) => match self.dirfd(d) {
                dfd if dfd == -100 || raw.starts_with('/') => cwd,
                dfd => p
                    .and_then(|p| p.fds.get(&dfd))
                    .map_or("/<UNKNOWN>", |f| &*f.name),
            },
            _ => cwd,
        };
        crate::fd::resolve_path(base, raw).into_owned()
    }

    /// The dirfd parameter at index `d` (`AT_FDCWD` when absent).
    fn dirfd(&self, d: u8) -> i64 {
        self.ev
            .raw
            .param(d as usize)
            .and_then(|b| Value::decode(ParamType::Fd, b).ok())
            .and_then(|v| v.as_i64())
            .unwrap_or(-100)
    }

    /// The type character of descriptor `fd` of the event's process (`?` when unknown), as
    /// libsinsp prints it in a rendered fd list (`4:p1`).
    fn typechar(&self, fd: i64) -> u8 {
        self.process()
            .and_then(|p| p.fds.get(&fd))
            .map_or(b'?', |f| f.kind.typechar())
    }

    /// `fdlist.*`: one value per descriptor of a poll-like event's `fds`, looked up in the
    /// process's fd table, joined by commas as libsinsp does (`fdlist.nums` `4,5`). A
    /// descriptor the table does not know gives `<NA>` in `fdlist.names` and is skipped by
    /// the address and port fields, as are non-IP sockets; no value at all is `<NA>`.
    fn extract_fdlist(&mut self, id: F, out: &mut Extracted) {
        debug_assert_eq!(id.class(), C::Fdlist);
        let Some(Ok(Value::FdList(list))) = self.ev.param("fds") else {
            return;
        };
        // Moved out for the loop, which borrows the fd table (it keeps its capacity).
        let mut buf = std::mem::take(&mut self.scratch);
        let fds = self.process().map(|p| &p.fds);
        let scratch = &mut buf;
        scratch.clear();
        for (num, _) in list.iter() {
            let fd = fds.and_then(|t| t.get(&num));
            // The socket end the address and port fields read (client or server).
            let end = fd.and_then(|f| f.sock).and_then(|s| match id {
                F::FdlistCips | F::FdlistCports => s.client,
                _ => s.server,
            });
            let start = scratch.len();
            if start > 0 {
                scratch.push(b',');
            }
            // Writes into a Vec cannot fail.
            let wrote = match id {
                F::FdlistNums => write!(scratch, "{num}").is_ok(),
                F::FdlistNames => {
                    match fd.map(|f| &*f.name).filter(|n| !n.is_empty()) {
                        Some(n) => scratch.extend_from_slice(n.as_bytes()),
                        None => scratch.extend_from_slice(b"<NA>"),
                    }
                    true
                }
                F::FdlistCips | F::FdlistSips => {
                    end.is_some_and(|(ip, _)| write!(scratch, "{ip}").is_ok())
                }
                _ => end.is_some_and(|(_, port)| write!(scratch, "{port}").is_ok()),
            };
            if !wrote {
                scratch.truncate(start);
            }
        }
        if !scratch.is_empty() {
            out.push_bytes(scratch);
        }
        self.scratch = buf;
    }

    /// The path arguments of filesystem syscalls (`fs.path.*`, `evt.abspath*`).
    fn fs_path(&self, role: PathRole, resolve: bool) -> Option<String> {
        let ev = self.ev;
        let (name, src, dst): (&str, &str, &str) = match ev.name() {
            "mkdir" | "rmdir" | "unlink" | "chdir" => ("path", "", ""),
            "mkdirat" => ("path", "", ""),
            "unlinkat" => ("name", "", ""),
            "chmod" | "fchmodat" => ("filename", "", ""),
            "rename" | "renameat" | "renameat2" | "link" | "linkat" => ("", "oldpath", "newpath"),
            "symlink" | "symlinkat" => ("", "target", "linkpath"),
            "open" | "openat" | "openat2" | "creat" => ("name", "", ""),
            _ => return None,
        };
        let pname = match role {
            PathRole::Name => name,
            PathRole::Source => src,
            PathRole::Target => dst,
        };
        if pname.is_empty() {
            return None;
        }
        let i = ev.schema.index_of(pname)?;
        let info = &ev.schema.params[i];
        let raw = match ev.raw.param(i).map(|b| Value::decode(info.ty, b)) {
            Some(Ok(Value::Str(b))) => String::from_utf8_lossy(b).into_owned(),
            _ => return None,
        };
        // A symlink's target is text stored in the link, not a path to resolve.
        if !resolve || (pname == "target" && ev.name().starts_with("symlink")) {
            return Some(raw);
        }
        Some(self.joined(info.ty, &raw))
    }

    fn extract_proc(&mut self, id: F, arg: &FieldArg, out: &mut Extracted) -> bool {
        let ts = self.ev.ts;
        let tid = i64::from(self.ev.tid());
        let Some((thread, p)) = self.thread_process() else {
            return matches!(id, F::ThreadTid) && {
                out.push(Slot::Int(tid));
                true
            };
        };
        let table = self.state.table();
        // Only the `proc.p*` fields read the parent: the others do not pay its probe.
        let parent = || table.parent(p);
        let s = &mut self.scratch;
        s.clear();
        match id {
            F::ProcExe => out.push_str(&p.exe),
            F::ProcPexe => {
                if let Some(pp) = parent() {
                    out.push_str(&pp.exe)
                }
            }
            F::ProcExepath => out.push_str(&p.exepath),
            F::ProcPexepath => {
                if let Some(pp) = parent() {
                    out.push_str(&pp.exepath)
                }
            }
            F::ProcName => out.push_str(&p.comm),
            F::ProcPname => {
                if let Some(pp) = parent() {
                    out.push_str(&pp.comm)
                }
            }
            F::ProcArgs => {
                p.write_args(s);
                out.push_bytes(s);
            }
            F::ProcCmdline => {
                p.write_cmdline(s);
                out.push_bytes(s);
            }
            F::ProcPcmdline => {
                if let Some(pp) = parent() {
                    pp.write_cmdline(s);
                    out.push_bytes(s);
                }
            }
            F::ProcCmdnargs => out.push(Slot::UInt(p.args.len() as u64)),
            F::ProcCmdlenargs => out.push(Slot::UInt(p.args.iter().map(|a| a.len() as u64).sum())),
            F::ProcExeline => {
                s.extend_from_slice(p.exe.as_bytes());
                for a in p.args.iter() {
                    s.push(b' ');
                    s.extend_from_slice(a.as_bytes());
                }
                out.push_bytes(s);
            }
            F::ProcEnv => match arg {
                FieldArg::Key(k) => {
                    if let Some(v) = p.env_var(k) {
                        out.push_str(v)
                    }
                }
                _ => {
                    s.extend_from_slice(p.env.join(" ").as_bytes());
                    out.push_bytes(s);
                }
            },
            F::ProcCwd => out.push_str(&p.cwd),
            F::ProcLoginshellid => {
                let mut id = None;
                for a in std::iter::once(p).chain(table.ancestors(p)) {
                    if SHELLS.contains(&&*a.comm) {
                        id = Some(a.pid);
                    }
                }
                if let Some(i) = id {
                    out.push(Slot::Int(i))
                }
            }
            F::ProcTty => out.push(Slot::UInt(p.tty.into())),
            F::ProcPid => out.push(Slot::Int(p.pid)),
            F::ProcPpid => out.push(Slot::Int(p.ppid)),
            F::ProcVpid => out.push(Slot::Int(p.vpid)),
            F::ProcPvpid => {
                if let Some(pp) = parent() {
                    out.push(Slot::Int(pp.vpid))
                }
            }
            F::ProcSid => out.push(Slot::Int(p.sid)),
            F::ProcVpgid => out.push(Slot::Int(p.vpgid)),
            F::ProcDuration => {
                if p.start_ts > 0 {
                    out.push(Slot::UInt(ts.saturating_sub(p.start_ts)))
                }
            }
            F::ProcPpidDuration => {
                if let Some(pp) = parent().filter(|pp| pp.start_ts > 0) {
                    out.push(Slot::UInt(ts.saturating_sub(pp.start_ts)))
                }
            }
            F::ProcPidTs => out.push(Slot::UInt(p.start_ts)),
            F::ProcPpidTs => {
                if let Some(pp) = parent() {
                    out.push(Slot::UInt(pp.start_ts))
                }
            }
            F::ProcIsExeWritable => {
                out.push(bool_slot(p.exe_flags & crate::thread::EXE_WRITABLE != 0))
            }
            F::ProcIsExeUpperLayer => {
                out.push(bool_slot(p.exe_flags & crate::thread::EXE_UPPER_LAYER != 0))
            }
            F::ProcIsExeFromMemfd => {
                out.push(bool_slot(p.exe_flags & crate::thread::EXE_FROM_MEMFD != 0))
            }
            F::ProcIsSidLeader => out.push(bool_slot(p.sid == p.vpid)),
            F::ProcIsVpgidLeader => out.push(bool_slot(p.vpgid == p.vpid)),
            F::ProcExeIno => out.push(Slot::Int(p.exe_ino as i64)),
            F::ProcExeInoCtime => out.push(Slot::UInt(p.exe_ino_ctime)),
            F::ProcExeInoMtime => out.push(Slot::UInt(p.exe_ino_mtime)),
            F::ProcExeInoCtimeDurationProcStart => {
                if p.exe_ino_ctime > 0 && p.start_ts >= p.exe_ino_ctime {
                    out.push(Slot::UInt(p.start_ts - p.exe_ino_ctime))
                }
            }
            F::ProcExeInoCtimeDurationPidnsStart => {
                if p.exe_ino_ctime > 0 && p.pidns_init_start_ts > p.exe_ino_ctime {
                    out.push(Slot::UInt(p.pidns_init_start_ts - p.exe_ino_ctime))
                }
            }
            F::ProcPidnsInitStartTs => out.push(Slot::UInt(p.pidns_init_start_ts)),
            F::ThreadCapPermitted | F::ThreadCapInheritable | F::ThreadCapEffective => {
                let mask = match id {
                    F::ThreadCapPermitted => p.cap_permitted,
                    F::ThreadCapInheritable => p.cap_inheritable,
                    _ => p.cap_effective,
                };
                write_caps(mask, s);
                out.push_bytes(s);
            }
            F::ProcFdopencount => out.push(Slot::UInt(p.fds.len() as u64)),
            F::ProcFdlimit => out.push(Slot::Int(p.fdlimit as i64)),
            F::ProcFdusage => {
                if p.fdlimit > 0 {
                    out.push(Slot::Double(p.fds.len() as f64 * 100.0 / p.fdlimit as f64))
                }
            }
            F::ProcVmsize => out.push(Slot::UInt(p.vm_size)),
            F::ProcVmrss => out.push(Slot::UInt(p.vm_rss)),
            F::ProcVmswap => out.push(Slot::UInt(p.vm_swap)),
            F::ThreadPfmajor => out.push(Slot::UInt(p.pf_major)),
            F::ThreadPfminor => out.push(Slot::UInt(p.pf_minor)),
            F::ThreadTid => out.push(Slot::Int(tid)),
            F::ThreadIsmain => out.push(bool_slot(tid == p.pid)),
            F::ThreadVtid => out.push(Slot::Int(thread.vtid)),
            F::ThreadVmsize => out.push(Slot::UInt(if tid == p.pid { p.vm_size } else { 0 })),
            F::ThreadVmrss => out.push(Slot::UInt(if tid == p.pid { p.vm_rss } else { 0 })),
            F::ThreadCgroups => {
                for (i, (k, v)) in p.cgroups.iter().enumerate() {
                    if i > 0 {
                        s.push(b' ');
                    }
                    let _ = write!(s, "{k}={v}");
                }
                if !s.is_empty() {
                    out.push_bytes(s);
                }
            }
            F::ThreadCgroup => {
                if let FieldArg::Key(k) = arg {
                    if let Some((_, v)) = p.cgroups.iter().find(|(sub, _)| sub == &**k) {
                        out.push_str(v)
                    }
                }
            }
            F::ProcNthreads => out.push(Slot::UInt(p.nthreads.into())),
            F::ProcNchilds => out.push(Slot::UInt(p.nthreads.saturating_sub(1).into())),
            F::ProcStdinType | F::ProcStdoutType | F::ProcStderrType => {
                if let Some(f) = p.fds.get(&std_fd(id)) {
                    out.push_str(f.kind.name())
                }
            }
            F::ProcStdinName | F::ProcStdoutName | F::ProcStderrName => {
                if let Some(f) = p.fds.get(&std_fd(id)) {
                    out.push_str(&f.name)
                }
            }
            F::ProcSname
            | F::ProcSidExe
            | F::ProcSidExepath
            | F::ProcVpgidName
            | F::ProcVpgidExe
            | F::ProcVpgidExepath => {
                let by_group =
                    matches!(id, F::ProcVpgidName | F::ProcVpgidExe | F::ProcVpgidExepath);
                let p = p.clone();
                // No leader is an empty string in libsinsp, not a missing value.
                let l = self.leader(&p, by_group);
                out.push_str(l.as_ref().map_or("", |l| match id {
                    F::ProcSname | F::ProcVpgidName => &l.comm,
                    F::ProcSidExe | F::ProcVpgidExe => &l.exe,
                    _ => &l.exepath,
                }));
            }
            F::ProcAname => {
                self.ancestor_values(arg, out, |a, s| s.extend_from_slice(a.comm.as_bytes()))
            }
            F::ProcAexe => {
                self.ancestor_values(arg, out, |a, s| s.extend_from_slice(a.exe.as_bytes()))
            }
            F::ProcAexepath => {
                self.ancestor_values(arg, out, |a, s| s.extend_from_slice(a.exepath.as_bytes()))
            }
            F::ProcAcmdline => self.ancestor_values(arg, out, |a, s| a.write_cmdline(s)),
            F::ProcApid => {
                let table = self.state.table();
                match arg {
                    FieldArg::Index(n) => {
                        if let Some(a) = usize::try_from(*n).ok().and_then(|n| table.ancestor(p, n))
                        {
                            out.push(Slot::Int(a.pid))
                        }
                    }
                    _ => {
                        for a in table.ancestors(p) {
                            out.push(Slot::Int(a.pid))
                        }
                    }
                }
            }
            F::UserUid => out.push(Slot::UInt(p.uid.into())),
            F::UserLoginuid => out.push(Slot::Int(if p.loginuid == u32::MAX {
                -1
            } else {
                p.loginuid.into()
            })),
            F::GroupGid => out.push(Slot::UInt(p.gid.into())),
            // libsinsp's answers when the user database has no entry (or there is no
            // database): uid/gid 0 is root, anything else the text "<NA>", never a
            // missing value.
            F::UserName | F::UserHomedir | F::UserShell | F::UserLoginname | F::GroupName => {
                let (pid, uid, gid, luid) = (p.pid, p.uid, p.gid, p.loginuid);
                let db = self.state.users_for(pid);
                let db = db.as_deref();
                let text = match id {
                    F::GroupName => db
                        .and_then(|db| db.group(gid))
                        .or((gid == 0).then_some("root")),
                    F::UserLoginname => db
                        .and_then(|db| db.user(luid).filter(|_| luid != u32::MAX))
                        .map(|u| u.name.as_str())
                        .or((luid == 0).then_some("root")),
                    _ => match (db.and_then(|db| db.user(uid)), id) {
                        (Some(u), F::UserName) => Some(u.name.as_str()),
                        (Some(u), F::UserHomedir) => Some(u.home.as_str()),
                        (Some(u), _) => Some(u.shell.as_str()),
                        (None, F::UserName) => (uid == 0).then_some("root"),
                        (None, F::UserHomedir) => (uid == 0).then_some("/root"),
                        (None, _) => None,
                    },
                };
                out.push_str(text.unwrap_or(peregrine_filter::format::NA));
            }
            F::ContainerId | F::ContainerFullId => {
                if p.container_id.is_empty() {
                    out.push_str("host");
                } else if id == F::ContainerFullId {
                    out.push_str(&p.container_id)
                } else {
                    out.push_str(short_id(&p.container_id))
                }
            }
            F::ContainerType => {
                if !p.container_engine.is_empty() {
                    out.push_str(p.container_engine)
                }
            }
            F::ContainerName if p.container_id.is_empty() => out.push_str("host"),
            // The container plugin's host entry has empty image strings: set, not missing.
            F::ContainerImage
            | F::ContainerImageId
            | F::ContainerImageRepository
            | F::ContainerImageTag
            | F::ContainerImageDigest
                if p.container_id.is_empty() =>
            {
                out.push_str("")
            }
            _ => {
                if p.container_id.is_empty() {
                    return matches!(id, F::ContainerName);
                }
                let Some(c) = self.state.container_info(&p.container_id) else {
                    return true;
                };
                let opt = |o: &mut Extracted, v: &str| {
                    if !v.is_empty() {
                        o.push_str(v)
                    }
                };
                // Known containers give their strings even when empty, as the plugin does.
                match id {
                    F::ContainerName => out.push_str(&c.name),
                    F::ContainerImage => out.push_str(&c.image),
                    F::ContainerImageId => out.push_str(&c.image_id),
                    F::ContainerImageRepository => out.push_str(&c.image_repository),
                    F::ContainerImageTag => out.push_str(&c.image_tag),
                    F::ContainerImageDigest => out.push_str(&c.image_digest),
                    F::ContainerPrivileged => out.push(bool_slot(c.privileged)),
                    F::ContainerHostPid => out.push(bool_slot(c.host_pid)),
                    F::ContainerHostNetwork => out.push(bool_slot(c.host_network)),
                    F::ContainerHostIpc => out.push(bool_slot(c.host_ipc)),
                    F::ContainerIp => opt(out, &c.ip),
                    F::ContainerStartTs if c.start_ts > 0 => out.push(Slot::UInt(c.start_ts)),
                    F::ContainerDuration if c.start_ts > 0 => {
                        out.push(Slot::UInt(ts.saturating_sub(c.start_ts)))
                    }
                    F::ContainerLabel => {
                        if let FieldArg::Key(k) = arg {
                            if let Some(v) = c.label(k) {
                                out.push_str(v)
                            }
                        }
                    }
                    F::ContainerLabels => {
                        write_labels(&c.labels, s);
                        opt(out, &String::from_utf8_lossy(s))
                    }
                    F::ContainerMounts => {
                        let all: Vec<String> = c.mounts.iter().map(|m| m.render()).collect();
                        opt(out, &all.join(","))
                    }
                    F::ContainerMount
                    | F::ContainerMountSource
                    | F::ContainerMountDest
                    | F::ContainerMountMode
                    | F::ContainerMountRdwr
                    | F::ContainerMountPropagation => {
                        // mount.source is chosen by destination, the others by source.
                        let m = match arg {
                            FieldArg::Key(k) => c.find_mount(k, id == F::ContainerMountSource),
                            FieldArg::Index(i) => {
                                usize::try_from(*i).ok().and_then(|i| c.mounts.get(i))
                            }
                            FieldArg::None | FieldArg::Plugin(..) => return true,
                        };
                        match (id, m) {
                            (F::ContainerMount, None) => out.push_str("none"),
                            (_, None) => {}
                            (F::ContainerMount, Some(m)) => out.push_str(&m.render()),
                            (F::ContainerMountSource, Some(m)) => out.push_str(&m.source),
                            (F::ContainerMountDest, Some(m)) => out.push_str(&m.dest),
                            (F::ContainerMountMode, Some(m)) => out.push_str(&m.mode),
                            (F::ContainerMountRdwr, Some(m)) => {
                                out.push_str(if m.rw { "true" } else { "false" })
                            }
                            (_, Some(m)) => out.push_str(&m.propagation),
                        }
                    }
                    F::K8sPodName => opt(out, c.label("io.kubernetes.pod.name").unwrap_or("")),
                    F::K8sNsName => opt(out, c.label("io.kubernetes.pod.namespace").unwrap_or("")),
                    F::K8sPodUid | F::K8sPodId => {
                        opt(out, c.label("io.kubernetes.pod.uid").unwrap_or(""))
                    }
                    F::K8sPodLabel => {
                        if let FieldArg::Key(k) = arg {
                            if let Some(v) = c.pod_label(k) {
                                out.push_str(v)
                            }
                        }
                    }
                    // Falco renders pod labels as container labels: the kubelet's own
                    // `io.kubernetes.*` keys left out, `key` alone for an empty value.
                    F::K8sPodLabels => {
                        write_labels(&c.pod_labels, s);
                        opt(out, &String::from_utf8_lossy(s))
                    }
                    F::K8sPodFullSandboxId => {
                        opt(out, c.label("io.kubernetes.sandbox.id").unwrap_or(""))
                    }
                    F::K8sPodSandboxId => opt(
                        out,
                        short_id(c.label("io.kubernetes.sandbox.id").unwrap_or("")),
                    ),
                    _ => return false,
                }
            }
        }
        true
    }
}

/// libsinsp's `sinsp_evt::extract_typechar`: the fd kind an event creates, for an event whose
/// fd is unknown (sockets are taken for IPv4, as libsinsp does); `None` where libsinsp
/// answers 'o' for events that have no fd at all.
fn typechar_of_event(name: &str) -> Option<u8> {
    Some(match name {
        "openat" | "openat2" | "creat" => b'f',
        "socket" | "accept" | "accept4" => b'4',
        "pipe" | "pipe2" => b'p',
        "eventfd" | "eventfd2" => b'e',
        "signalfd" | "signalfd4" => b's',
        "timerfd_create" => b't',
        "inotify_init" | "inotify_init1" => b'i',
        _ => return None,
    })
}

/// `container.labels` as the container plugin renders it: `key:value` (just `key` for an
/// empty value) in key order, separated by `", "`, leaving out Kubernetes' internal labels
/// (`io.kubernetes.*`) and annotations (`annotation.*`). `labels` is sorted by key.
fn write_labels(labels: &[(String, String)], out: &mut Vec<u8>) {
    let shown = labels
        .iter()
        .filter(|(k, _)| !k.starts_with("annotation.") && !k.starts_with("io.kubernetes."));
    for (i, (k, v)) in shown.enumerate() {
        if i > 0 {
            out.extend_from_slice(b", ");
        }
        out.extend_from_slice(k.as_bytes());
        if !v.is_empty() {
            out.push(b':');
            out.extend_from_slice(v.as_bytes());
        }
    }
}

/// The standard fd a `proc.std*` field asks about.
fn std_fd(id: F) -> i64 {
    match id {
        F::ProcStdinType | F::ProcStdinName => 0,
        F::ProcStdoutType | F::ProcStdoutName => 1,
        _ => 2,
    }
}

/// `container.id`: the first 12 characters of the full id.
fn short_id(full: &str) -> &str {
    full.get(..12).unwrap_or(full)
}

#[derive(Clone, Copy)]
enum PathRole {
    Name,
    Source,
    Target,
}

impl FieldSource for EventSource<'_, '_> {
    fn event_type(&self) -> peregrine_event::EventType {
        self.ev
            .event_type()
            .or_else(|| peregrine_event::EventType::all().next())
            .expect("the static event-type table is not empty")
    }

    fn extract(&mut self, field: &FieldRequest, out: &mut Extracted) {
        let id = field.id;
        // One match on the class the id belongs to (an array index), then one on the id.
        match id.class() {
            C::Evt => self.extract_evt(id, &field.arg, out),
            C::Fd => self.extract_fd(id, &field.arg, out),
            C::Fdlist => self.extract_fdlist(id, out),
            C::FsPath => {
                let (role, resolve) = match id {
                    F::FsPathName => (PathRole::Name, true),
                    F::FsPathNameraw => (PathRole::Name, false),
                    F::FsPathSource => (PathRole::Source, true),
                    F::FsPathSourceraw => (PathRole::Source, false),
                    F::FsPathTarget => (PathRole::Target, true),
                    _ => (PathRole::Target, false),
                };
                if let Some(p) = self.fs_path(role, resolve) {
                    out.push_str(&p);
                }
            }
            _ => {
                self.extract_proc(id, &field.arg, out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_render_like_the_container_plugin() {
        let labels: Vec<(String, String)> = [
            ("annotation.io.kubernetes.container.hash", "abc"),
            ("app", "web"),
            ("flag", ""),
            ("io.kubernetes.pod.name", "web-7f9c"),
            ("tier", "front"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let mut out = Vec::new();
        write_labels(&labels, &mut out);
        assert_eq!(String::from_utf8_lossy(&out), "app:web, flag, tier:front");
        out.clear();
        write_labels(&labels[..1], &mut out);
        assert!(out.is_empty());
    }
}
