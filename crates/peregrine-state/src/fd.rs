//! File descriptors: what each open descriptor of a process refers to, named the way Falco
//! names it (`fd.name`, `fd.type`, `fd.typechar`, socket endpoints).
//!
//! Key decision: a socket keeps its endpoints as a typed [`Sock`] (client/server addresses and
//! ports plus the role of this end) and its `fd.name` is rendered once, when the endpoints
//! change, so extracting `fd.name` per event is a borrow, and `fd.lip`/`fd.rip` are derived
//! from the role without re-parsing text.

use std::borrow::Cow;
use std::fmt::Write;
use std::net::IpAddr;
use std::ops::Deref;
use std::sync::Arc;

use rustc_hash::FxHashMap;

/// `fd.type`: the kind of object a descriptor refers to (libsinsp's `scap_fd_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FdKind {
    File,
    Directory,
    Ipv4,
    Ipv6,
    Unix,
    Pipe,
    Event,
    Signalfd,
    Eventpoll,
    Inotify,
    Timerfd,
    Netlink,
    Bpf,
    Userfaultfd,
    IoUring,
    Memfd,
    Pidfd,
    Unknown,
}

impl FdKind {
    /// The `fd.type` text.
    pub fn name(self) -> &'static str {
        match self {
            FdKind::File => "file",
            FdKind::Directory => "directory",
            FdKind::Ipv4 => "ipv4",
            FdKind::Ipv6 => "ipv6",
            FdKind::Unix => "unix",
            FdKind::Pipe => "pipe",
            FdKind::Event => "event",
            FdKind::Signalfd => "signalfd",
            FdKind::Eventpoll => "eventpoll",
            FdKind::Inotify => "inotify",
            FdKind::Timerfd => "timerfd",
            FdKind::Netlink => "netlink",
            FdKind::Bpf => "bpf",
            FdKind::Userfaultfd => "userfaultfd",
            FdKind::IoUring => "io_uring",
            FdKind::Memfd => "memfd",
            FdKind::Pidfd => "pidfd",
            FdKind::Unknown => "unknown",
        }
    }

    /// The `fd.typechar` character (libsinsp's `get_typechar`).
    pub fn typechar(self) -> u8 {
        match self {
            FdKind::File => b'f',
            FdKind::Directory => b'd',
            FdKind::Ipv4 => b'4',
            FdKind::Ipv6 => b'6',
            FdKind::Unix => b'u',
            FdKind::Pipe => b'p',
            FdKind::Event => b'e',
            FdKind::Signalfd => b's',
            FdKind::Eventpoll => b'l',
            FdKind::Inotify => b'i',
            FdKind::Timerfd => b't',
            FdKind::Netlink => b'n',
            FdKind::Bpf => b'b',
            FdKind::Userfaultfd => b'u',
            FdKind::IoUring => b'r',
            FdKind::Memfd => b'm',
            FdKind::Pidfd => b'P',
            FdKind::Unknown => b'o',
        }
    }

    pub fn is_inet(self) -> bool {
        matches!(self, FdKind::Ipv4 | FdKind::Ipv6)
    }
}

/// The machine's own addresses (libsinsp's network interface list): they decide which end
/// of a connection is local (`fd.lip`, `fd.lport`, …) and whether this end serves
/// (`fd.is_server`). A replay takes them from the capture.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LocalAddrs {
    /// (address, netmask) of each IPv4 interface.
    pub v4: Vec<(std::net::Ipv4Addr, std::net::Ipv4Addr)>,
    pub v6: Vec<std::net::Ipv6Addr>,
}

impl LocalAddrs {
    /// Whether `ip` belongs to the machine: an IPv4 address of an interface, or an IPv6
    /// address in an interface's /64 (libsinsp keeps only the network part of IPv6 ones).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match ip {
            IpAddr::V4(a) => self.v4.iter().any(|(i, _)| *i == a),
            IpAddr::V6(a) => self.v6.iter().any(|n| n.octets()[..8] == a.octets()[..8]),
        }
    }
}

impl LocalAddrs {
    /// libsinsp's `infer_ipv4_address`: the interface address a socket talking to `dest`
    /// uses when the kernel reported 0.0.0.0 (the same address, else one in the same
    /// subnet, else the first that is not loopback).
    pub fn infer_v4(&self, dest: std::net::Ipv4Addr) -> std::net::Ipv4Addr {
        let d = u32::from(dest);
        self.v4
            .iter()
            .find(|(a, _)| *a == dest)
            .or_else(|| {
                self.v4
                    .iter()
                    .find(|(a, m)| u32::from(*a) & u32::from(*m) == d & u32::from(*m))
            })
            .or_else(|| self.v4.iter().find(|(a, _)| !a.is_loopback()))
            .map_or(std::net::Ipv4Addr::UNSPECIFIED, |(a, _)| *a)
    }
}

/// Transport protocol of a socket (`fd.l4proto`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum L4 {
    Unknown,
    Tcp,
    Udp,
    Icmp,
    Raw,
}

impl L4 {
    /// From `socket(2)`'s type and protocol (the protocol wins when it is explicit).
    pub fn from_socket(ty: u64, proto: u64) -> L4 {
        match proto {
            6 => return L4::Tcp,
            17 => return L4::Udp,
            1 | 58 => return L4::Icmp,
            255 => return L4::Raw,
            _ => {}
        }
        match ty & 0xf {
            1 => L4::Tcp,
            2 => L4::Udp,
            3 => L4::Raw,
            _ => L4::Unknown,
        }
    }

    pub fn name(self) -> Option<&'static str> {
        match self {
            L4::Unknown => None,
            L4::Tcp => Some("tcp"),
            L4::Udp => Some("udp"),
            L4::Icmp => Some("icmp"),
            L4::Raw => Some("raw"),
        }
    }
}

/// The endpoints of an IP socket, client first as Falco orders them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sock {
    pub l4: L4,
    pub client: Option<(IpAddr, u16)>,
    pub server: Option<(IpAddr, u16)>,
    /// True when this end is the server (accepted or bound/listening socket).
    pub is_server: bool,
    pub connected: bool,
}

impl Sock {
    pub fn new(l4: L4) -> Self {
        Sock {
            l4,
            client: None,
            server: None,
            is_server: false,
            connected: false,
        }
    }

    /// A bound or listening socket without a peer (libsinsp's server-socket fd type).
    pub fn is_listening(&self) -> bool {
        self.server.is_some() && self.client.is_none()
    }

    /// The local end.
    pub fn local(&self) -> Option<(IpAddr, u16)> {
        if self.is_server {
            self.server
        } else {
            self.client
        }
    }

    /// The remote end.
    pub fn remote(&self) -> Option<(IpAddr, u16)> {
        if self.is_server {
            self.client
        } else {
            self.server
        }
    }
}

/// One open descriptor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fd {
    pub kind: FdKind,
    /// `fd.name`: absolute normalised path, socket endpoints, … Shared: a fork copies the
    /// whole table and a dup copies the entry.
    pub name: Arc<str>,
    /// `fd.nameraw`: the path as the process wrote it (files only).
    pub nameraw: String,
    /// Open flags in Falco's `PPM_O_*` values.
    pub flags: u32,
    pub cloexec: bool,
    pub dev: u32,
    pub ino: u64,
    pub sock: Option<Sock>,
}

impl Fd {
    pub fn new(kind: FdKind, name: impl Into<Arc<str>>) -> Self {
        Fd {
            kind,
            name: name.into(),
            nameraw: String::new(),
            flags: 0,
            cloexec: false,
            dev: 0,
            ino: 0,
            sock: None,
        }
    }

    /// Re-renders `fd.name` of an IP socket from its endpoints: `cip:cport->sip:sport`, or
    /// the one known end for a bound or half-known socket.
    ///
    /// Rendered on the stack and compared with the name it has: every connect, accept and
    /// send/receive with an address re-renders it, and the name is mostly unchanged (an
    /// allocation then only when it changed; through `fmt` this cost ≈ 2,700 instructions).
    pub fn rename_from_sock(&mut self) {
        let Some(s) = self.sock else { return };
        let mut name = NameBuf::default();
        match (s.client, s.server) {
            (Some(c), Some(srv)) => {
                name.endpoint(c);
                name.push(b"->");
                name.endpoint(srv);
            }
            (None, Some(end)) | (Some(end), None) => name.endpoint(end),
            (None, None) => {}
        }
        let name = name.as_str();
        if *self.name != *name {
            self.name = name.into();
        }
    }

    /// `fd.directory`: the directory of a file, the name itself for a directory.
    pub fn directory(&self) -> Option<&str> {
        match self.kind {
            FdKind::Directory => Some(&self.name),
            FdKind::File => Some(dirname(&self.name)),
            _ => None,
        }
    }

    /// `fd.filename`: the last path component of a file.
    pub fn filename(&self) -> Option<&str> {
        match self.kind {
            FdKind::File => Some(basename(&self.name)),
            _ => None,
        }
    }
}

/// A socket's `fd.name` being rendered: two IPv6 endpoints (`Display` writes 45 bytes at
/// most, then `:65535`) and the arrow fit.
struct NameBuf {
    buf: [u8; 112],
    len: usize,
}

impl Default for NameBuf {
    fn default() -> Self {
        NameBuf {
            buf: [0; 112],
            len: 0,
        }
    }
}

impl NameBuf {
    fn push(&mut self, b: &[u8]) {
        // Cannot overflow (see the type); a longer text would be cut rather than panic.
        let n = b.len().min(self.buf.len() - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&b[..n]);
        self.len += n;
    }

    fn decimal(&mut self, mut v: u32) {
        let mut digits = [0u8; 10];
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        self.push(&digits[i..]);
    }

    /// `ip:port` as `Display` writes them (IPv4 by hand, the common case; IPv6 through `fmt`).
    fn endpoint(&mut self, (ip, port): (IpAddr, u16)) {
        match ip {
            IpAddr::V4(a) => {
                for (i, o) in a.octets().into_iter().enumerate() {
                    if i > 0 {
                        self.push(b".");
                    }
                    self.decimal(u32::from(o));
                }
            }
            IpAddr::V6(_) => {
                let _ = write!(self, "{ip}");
            }
        }
        self.push(b":");
        self.decimal(u32::from(port));
    }

    fn as_str(&self) -> &str {
        // Only ASCII is pushed (digits, dots, colons, hex, the arrow).
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or_default()
    }
}

impl Write for NameBuf {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.push(s.as_bytes());
        Ok(())
    }
}

/// A process's fd table, shared copy-on-write between a parent and the child it forked.
///
/// Key decision: a fork copied its parent's table, and most children exec and exit without
/// touching it. [`FdTable::share`] instead moves the parent's table into a shared allocation
/// both point to; the first change on either side takes it back as its own (a copy only when
/// the other side still holds it). A table that is its own is changed with no reference-count
/// traffic at all, so the fd events of a process that does not fork pay nothing for this.
/// Reads go through `Deref` to the map; every change goes through the methods here.
#[derive(Debug)]
pub struct FdTable(Table);

type FdMap = FxHashMap<i64, Fd>;

#[derive(Debug)]
enum Table {
    Own(FdMap),
    Shared(Arc<FdMap>),
}

impl Default for FdTable {
    fn default() -> Self {
        FdTable(Table::Own(FdMap::default()))
    }
}

/// A copy of the entries, or of the reference when the table is shared ([`FdTable::share`]).
impl Clone for FdTable {
    fn clone(&self) -> Self {
        match &self.0 {
            Table::Own(m) => FdTable(Table::Own(m.clone())),
            Table::Shared(a) => FdTable(Table::Shared(a.clone())),
        }
    }
}

impl PartialEq for FdTable {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl Eq for FdTable {}

impl Deref for FdTable {
    type Target = FdMap;

    fn deref(&self) -> &FdMap {
        match &self.0 {
            Table::Own(m) => m,
            Table::Shared(a) => a,
        }
    }
}

impl FdTable {
    /// Moves the entries into shared storage, so that clones of this table (a forked
    /// child's) share it instead of copying it.
    pub fn share(&mut self) {
        if let Table::Own(m) = &mut self.0 {
            self.0 = Table::Shared(Arc::new(std::mem::take(m)));
        }
    }

    /// The table to change: taken back from the shared storage first (copied when the other
    /// side still holds it).
    #[inline(always)]
    fn own(&mut self) -> &mut FdMap {
        if self.is_shared() {
            self.take_back();
        }
        match &mut self.0 {
            Table::Own(m) => m,
            Table::Shared(a) => Arc::make_mut(a),
        }
    }

    #[cold]
    fn take_back(&mut self) {
        // An empty map does not allocate: a cheap placeholder while the shared one is taken.
        if let Table::Shared(a) = std::mem::replace(&mut self.0, Table::Own(FdMap::default())) {
            self.0 = Table::Own(Arc::unwrap_or_clone(a));
        }
    }

    fn is_shared(&self) -> bool {
        matches!(self.0, Table::Shared(_))
    }

    /// Adds or replaces `fd`, returning the entry it replaced.
    pub fn insert(&mut self, fd: i64, f: Fd) -> Option<Fd> {
        self.own().insert(fd, f)
    }

    /// Removes `fd` (a shared table without it stays shared).
    pub fn remove(&mut self, fd: i64) -> Option<Fd> {
        if self.is_shared() && !self.contains_key(&fd) {
            return None;
        }
        self.own().remove(&fd)
    }

    /// The entry of `fd`, to change it (a shared table without it stays shared).
    pub fn get_mut(&mut self, fd: i64) -> Option<&mut Fd> {
        if self.is_shared() && !self.contains_key(&fd) {
            return None;
        }
        self.own().get_mut(&fd)
    }

    /// Drops the close-on-exec entries, as an exec does (a shared table without any stays
    /// shared).
    pub fn close_on_exec(&mut self) {
        if self.values().any(|f| f.cloexec) {
            self.own().retain(|_, f| !f.cloexec);
        }
    }
}

fn dirname(p: &str) -> &str {
    match p.rfind('/') {
        Some(0) => "/",
        Some(i) => &p[..i],
        None => p,
    }
}

fn basename(p: &str) -> &str {
    match p.rfind('/') {
        Some(i) => &p[i + 1..],
        None => p,
    }
}

/// Makes `path` absolute against `base` (a directory, with or without a trailing slash) and
/// normalises it: `.` and empty components vanish, `..` pops (never above `/`). This is what
/// libsinsp's `concatenate_paths` does for `fd.name` and `fs.path.name`.
///
/// An absolute path that is already normal (the common case) is returned borrowed.
pub fn resolve_path<'a>(base: &str, path: &'a str) -> Cow<'a, str> {
    if path.starts_with('/') && is_normal(path) {
        return Cow::Borrowed(path);
    }
    let mut out = String::with_capacity(base.len() + path.len() + 1);
    out.push('/');
    let mut parts: Vec<&str> = Vec::new();
    let joined = if path.starts_with('/') {
        [path, ""]
    } else {
        [base, path]
    };
    for piece in joined {
        for c in piece.split('/') {
            match c {
                "" | "." => {}
                ".." => {
                    parts.pop();
                }
                c => parts.push(c),
            }
        }
    }
    out.push_str(&parts.join("/"));
    Cow::Owned(out)
}

/// True for an absolute path without empty, `.` or `..` components and no trailing slash.
fn is_normal(p: &str) -> bool {
    let b = p.as_bytes();
    if b == b"/" {
        return true;
    }
    // One pass over the bytes (this runs for every open), looking past each `/` only: what
    // follows it must be a component that is neither empty, `.` nor `..`.
    for (i, &c) in b.iter().enumerate() {
        if c == b'/'
            && matches!(
                &b[i + 1..],
                [] | [b'/', ..] | [b'.'] | [b'.', b'/', ..] | [b'.', b'.'] | [b'.', b'.', b'/', ..]
            )
        {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_paths_like_libsinsp() {
        for (base, path, expected) in [
            ("/root/", "a.txt", "/root/a.txt"),
            ("/root", "a.txt", "/root/a.txt"),
            ("/root/", "/etc/passwd", "/etc/passwd"),
            ("/tmp/x/", "../etc//./shadow", "/tmp/etc/shadow"),
            ("/", "../../..", "/"),
            ("/a/b/", ".", "/a/b"),
            ("/a/", "", "/a"),
            ("/x/", "/", "/"),
            ("/x/", "/etc/", "/etc"),
            ("/x/", "/etc/./a", "/etc/a"),
            ("/x/", "/etc/../a", "/a"),
            ("/x/", "/etc//a", "/etc/a"),
            ("/x/", "/etc/.", "/etc"),
            ("/x/", "/.hidden/...", "/.hidden/..."),
            ("/x/", "/a/..b/.c", "/a/..b/.c"),
            ("/x/", "//", "/"),
            (
                "/x/",
                "/usr/lib/x86_64-linux-gnu/libc.so.6",
                "/usr/lib/x86_64-linux-gnu/libc.so.6",
            ),
        ] {
            assert_eq!(resolve_path(base, path), expected, "{base} + {path}");
        }
    }

    #[test]
    fn fd_tables_copy_on_change_only() {
        let mut parent = FdTable::default();
        parent.insert(0, Fd::new(FdKind::File, "/dev/null"));
        let mut f = Fd::new(FdKind::File, "/tmp/a");
        f.cloexec = true;
        parent.insert(3, f);
        let same = |a: &FdTable, b: &FdTable| std::ptr::eq(&**a, &**b);
        parent.share();
        let mut child = parent.clone();
        assert!(same(&parent, &child));
        // Removing what is not there, or an exec with nothing to close, keeps it shared.
        assert_eq!(child.remove(9), None);
        assert!(child.get_mut(9).is_none());
        assert!(same(&parent, &child));
        child.close_on_exec();
        assert_eq!(child.len(), 1);
        assert_eq!(parent.len(), 2);
        assert!(!same(&parent, &child));
        child.close_on_exec();
        assert_eq!(child.len(), 1);
        child.share();
        let grandchild = child.clone();
        if let Some(f) = child.get_mut(0) {
            f.name = "/dev/zero".into();
        }
        assert_eq!(&*grandchild[&0].name, "/dev/null");
        assert_eq!(&*child[&0].name, "/dev/zero");
        assert_eq!(child.remove(0).map(|f| f.kind), Some(FdKind::File));
        assert_eq!((child.len(), grandchild.len(), parent.len()), (0, 1, 2));
        // The parent, alone with its storage again, takes it back without a copy.
        drop(child);
        let before: *const Fd = &parent[&0];
        assert!(parent.remove(3).is_some_and(|f| f.cloexec));
        assert!(std::ptr::eq(before, &parent[&0]));
        assert_eq!(parent.clone(), parent);
    }

    #[test]
    fn names_sockets_and_files() {
        let mut fd = Fd::new(FdKind::Ipv4, "");
        let mut s = Sock::new(L4::Tcp);
        s.client = Some(("10.0.0.5".parse().expect("ip"), 40312));
        s.server = Some(("93.184.216.34".parse().expect("ip"), 443));
        fd.sock = Some(s);
        fd.rename_from_sock();
        assert_eq!(&*fd.name, "10.0.0.5:40312->93.184.216.34:443");
        assert_eq!(s.local().map(|l| l.1), Some(40312));
        assert_eq!(s.remote().map(|r| r.1), Some(443));

        let f = Fd::new(FdKind::File, "/etc/passwd");
        assert_eq!(
            (f.directory(), f.filename()),
            (Some("/etc"), Some("passwd"))
        );
        let f = Fd::new(FdKind::File, "/passwd");
        assert_eq!((f.directory(), f.filename()), (Some("/"), Some("passwd")));
        let d = Fd::new(FdKind::Directory, "/etc");
        assert_eq!((d.directory(), d.filename()), (Some("/etc"), None));
        assert_eq!(L4::from_socket(0x80801, 0), L4::Tcp);
        assert_eq!(L4::from_socket(2, 0), L4::Udp);
        assert_eq!(L4::from_socket(3, 1), L4::Icmp);
    }

    /// The hand-written rendering writes what `Display` writes, for both families and the
    /// extremes of each number (the longest IPv6 form included).
    #[test]
    fn socket_names_match_display() {
        let ips: Vec<IpAddr> = [
            "0.0.0.0",
            "255.255.255.255",
            "10.0.0.5",
            "1.20.255.9",
            "::",
            "::1",
            "fe80::1:2",
            "::ffff:10.1.2.3",
            "1111:2222:3333:4444:5555:6666:7777:8888",
            "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255",
        ]
        .iter()
        .map(|s| s.parse().expect("ip"))
        .collect();
        for &a in &ips {
            for &b in &ips {
                for (pa, pb) in [(0, 65535), (9, 10), (80, 40312)] {
                    let mut fd = Fd::new(FdKind::Ipv4, "old");
                    let mut s = Sock::new(L4::Tcp);
                    s.client = Some((a, pa));
                    s.server = Some((b, pb));
                    fd.sock = Some(s);
                    fd.rename_from_sock();
                    assert_eq!(&*fd.name, format!("{a}:{pa}->{b}:{pb}"));
                    s.client = None;
                    fd.sock = Some(s);
                    fd.rename_from_sock();
                    assert_eq!(&*fd.name, format!("{b}:{pb}"));
                }
            }
        }
    }
}
