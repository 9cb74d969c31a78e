//! Behaviour of the embedded default rules (`rules/peregrine_rules.yaml`): the file loads
//! without errors or warnings, every rule is indexed by a finite event-type set, and each rule
//! fires on an event that shows the attack and stays silent on its closest benign twin.
//!
//! The table is the specification: one row per (rule, event, expected verdict). An event
//! starts from a common context (a process in a container with a user and an image), so a row
//! names only what makes it an attack or a near-miss, and the rendered output of a match can be
//! checked for `<NA>` on the fields the row defines.

use peregrine_filter::Extracted;
use peregrine_rules::{Loader, Matching, Priority, RuleSet, Scratch};
use peregrine_testkit::synthetic::SyntheticEvent;
use std::collections::BTreeSet;

/// The same text the binary embeds (`src/defaults.rs` includes this very file).
const RULES: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../rules/peregrine_rules.yaml"
));

fn load() -> RuleSet {
    load_with("")
}

/// The defaults followed by a user's tuning file (none when `tuning` is empty).
fn load_with(tuning: &str) -> RuleSet {
    let mut loader = Loader::new();
    let mut ok = loader.load_str("peregrine_rules.yaml", RULES);
    if !tuning.is_empty() {
        ok &= loader.load_str("tuning.yaml", tuning);
    }
    let (set, results) = loader.finish();
    assert!(ok, "{}", results.as_text());
    assert!(results.successful(), "{}", results.as_text());
    assert_eq!(results.errors().count(), 0, "{}", results.as_text());
    assert_eq!(results.warnings().count(), 0, "{}", results.as_text());
    set
}

/// Where the event happens; the default is a container, the usual target of these rules.
#[derive(Clone, Copy)]
enum Ctx {
    Container,
    PrivilegedContainer,
    Host,
}

/// A process `name` running `cmdline` in `ctx`, with every context field the outputs print.
fn event(ty: &str, ctx: Ctx, name: &str, args: &str) -> SyntheticEvent {
    let cmdline = if args.is_empty() {
        name.to_string()
    } else {
        format!("{name} {args}")
    };
    let ev = SyntheticEvent::new(ty)
        .with("proc.name", name)
        .with("proc.args", args)
        .with("proc.cmdline", cmdline.as_str())
        .with("proc.exepath", format!("/usr/bin/{name}").as_str())
        .with("proc.pname", "bash")
        .with("proc.tty", 0u64)
        .with("user.name", "app")
        .with("user.uid", 1000u64)
        .with("evt.rawres", 0i64)
        .with("evt.res", "SUCCESS");
    match ctx {
        Ctx::Host => ev
            .with("container.id", "host")
            .with("container.name", "host")
            .with("container.image.repository", "")
            .with("container.privileged", false),
        Ctx::Container | Ctx::PrivilegedContainer => ev
            .with("container.id", "3ad7b26ded6d")
            .with("container.name", "web")
            .with("container.image.repository", "docker.io/library/nginx")
            .with(
                "container.privileged",
                matches!(ctx, Ctx::PrivilegedContainer),
            ),
    }
}

fn exec(ctx: Ctx, name: &str, args: &str) -> SyntheticEvent {
    event("execve", ctx, name, args)
}

/// An `openat` of the regular file `path` with `flags` (`O_RDONLY`, `O_WRONLY|O_TRUNC`, …).
fn open(ctx: Ctx, name: &str, path: &str, flags: &str) -> SyntheticEvent {
    let (dir, file) = path.rsplit_once('/').unwrap_or(("", path));
    let read = flags.contains("O_RDONLY") || flags.contains("O_RDWR");
    let write = flags.contains("O_WRONLY") || flags.contains("O_RDWR");
    event("openat", ctx, name, path)
        .with("fd.name", path)
        .with("fd.directory", if dir.is_empty() { "/" } else { dir })
        .with("fd.filename", file)
        .with("fd.typechar", "f")
        .with("fd.num", 3i64)
        .with("evt.rawres", 3i64)
        .with("evt.is_open_read", read)
        .with("evt.is_open_write", write)
        .with("evt.arg.flags", flags)
}

/// A `connect` of an IPv4 socket to `ip:port`.
fn connect(ctx: Ctx, name: &str, ip: &str) -> SyntheticEvent {
    event("connect", ctx, name, "")
        .with("fd.typechar", "4")
        .with("fd.type", "ipv4")
        .with("fd.sip", ip)
        .with("fd.snet", ip)
        .with("fd.name", format!("172.17.0.2:40000->{ip}:443").as_str())
}

/// `dup2(sock, newfd)` of an IPv4 socket.
fn dup_socket(ctx: Ctx, name: &str, newfd: i64, fd_type: &str) -> SyntheticEvent {
    event("dup2", ctx, name, "")
        .with("fd.num", 3i64)
        .with("fd.type", fd_type)
        .with("fd.name", "172.17.0.2:40000->203.0.113.7:4444")
        .with("evt.rawres", newfd)
}

fn ptrace(name: &str, request: &str) -> SyntheticEvent {
    event("ptrace", Ctx::Host, name, "-p 42").with("evt.arg.request", request)
}

fn unlink(ctx: Ctx, path: &str) -> SyntheticEvent {
    event("unlinkat", ctx, "rm", path)
        .with("evt.arg.name", path)
        .with(
            "evt.args",
            format!("res=0 dirfd=-100(AT_FDCWD) name={path} flags=0").as_str(),
        )
}

/// `setuid(uid)` as the kernel reports it: once it succeeded, so the process already has
/// `uid`; `loginuid` tells whose session it belongs to.
fn setuid(name: &str, uid: &str, loginuid: i64) -> SyntheticEvent {
    event("setuid", Ctx::Host, name, "")
        .with("evt.rawarg.uid", uid.parse::<u64>().unwrap_or(0))
        .with("user.uid", uid.parse::<u64>().unwrap_or(0))
        .with("user.loginuid", loginuid)
}

/// A successful `symlinkat(target, linkpath)`.
fn symlink(ctx: Ctx, target: &str, linkpath: &str) -> SyntheticEvent {
    event("symlinkat", ctx, "ln", &format!("-s {target} {linkpath}"))
        .with("evt.arg.target", target)
        .with(
            "evt.args",
            format!("res=0 target={target} linkdirfd=-100(AT_FDCWD) linkpath={linkpath}").as_str(),
        )
}

/// A successful `linkat(oldpath, newpath)`.
fn hardlink(ctx: Ctx, oldpath: &str, newpath: &str) -> SyntheticEvent {
    event("linkat", ctx, "ln", &format!("{oldpath} {newpath}"))
        .with("evt.arg.oldpath", oldpath)
        .with(
            "evt.args",
            format!("res=0 olddir=-100(AT_FDCWD) oldpath={oldpath} newpath={newpath}").as_str(),
        )
}

/// `socket(domain, SOCK_RAW, 0)`.
fn socket(ctx: Ctx, name: &str, domain: &str) -> SyntheticEvent {
    event("socket", ctx, name, "")
        .with("evt.arg.domain", domain)
        .with(
            "evt.args",
            format!("fd=3 domain={domain} type=3 proto=0").as_str(),
        )
}

/// What a row expects: the rule fires (with this priority) or stays silent.
enum Expect {
    Fires(Priority),
    Silent,
}
use Expect::{Fires, Silent};

const RULE_SHELL: &str = "Interactive shell in container";
const RULE_NETTOOL: &str = "Network tool run in container";
const RULE_MEMFD: &str = "Program executed from memory";
const RULE_DROPPED: &str = "Dropped binary executed in container";
const RULE_TMPEXEC: &str = "Program executed from temporary directory in container";
const RULE_SHM: &str = "Program executed from shared memory";
const RULE_DUP: &str = "Standard stream redirected to a socket";
const RULE_CRED: &str = "Credential file opened for reading";
const RULE_SEARCH: &str = "Search for credentials";
const RULE_LINK: &str = "Link to a sensitive file created";
const RULE_TRAVERSAL: &str = "Sensitive file opened through a traversing path";
const RULE_ETC: &str = "File below /etc opened for writing";
const RULE_BIN: &str = "File below a binary directory opened for writing";
const RULE_LOG: &str = "Log file truncated";
const RULE_HIST: &str = "Shell history deleted";
const RULE_HISTTRUNC: &str = "Shell history truncated";
const RULE_HISTCMD: &str = "Shell history cleared by command";
const RULE_SHRED: &str = "Secure deletion tool run";
const RULE_PKG: &str = "Package manager run in container";
const RULE_OUT: &str = "Outbound connection to a public address from a shell or tool";
const RULE_PACKET: &str = "Packet socket created in container";
const RULE_PTRACE: &str = "Process attached with ptrace";
const RULE_KMOD: &str = "Kernel module loaded";
const RULE_RELEASE: &str = "Cgroup release_agent written";
const RULE_MOUNT: &str = "Mount or debugfs in privileged container";
const RULE_NS: &str = "Namespace change by unexpected process";
const RULE_STRATUM: &str = "Crypto miner stratum command line";
const RULE_MINER: &str = "Known crypto miner run";
const RULE_SETUID: &str = "Non-root process became root with setuid";
const RULE_PKEXEC: &str = "Pkexec run with an empty argument list";
const RULE_SUDOEDIT: &str = "Sudoedit with trailing backslash";

fn cases() -> Vec<(&'static str, SyntheticEvent, Expect)> {
    use Ctx::{Container, Host, PrivilegedContainer};
    use Priority::{Critical, Error, Notice, Warning};
    vec![
        // Shell with a terminal in a container; the same shell without a tty (a script) or on
        // the host is normal.
        (
            RULE_SHELL,
            exec(Container, "bash", "").with("proc.tty", 34816u64),
            Fires(Notice),
        ),
        (RULE_SHELL, exec(Container, "bash", "-c ls"), Silent),
        (
            RULE_SHELL,
            exec(Host, "bash", "").with("proc.tty", 34816u64),
            Silent,
        ),
        (
            RULE_NETTOOL,
            exec(Container, "nc", "-lvp 4444"),
            Fires(Warning),
        ),
        (
            RULE_NETTOOL,
            exec(Container, "nmap", "-sS 10.0.0.0/24"),
            Fires(Warning),
        ),
        (RULE_NETTOOL, exec(Host, "tcpdump", "-i eth0"), Silent),
        (
            RULE_NETTOOL,
            exec(Container, "curl", "http://example.com"),
            Silent,
        ),
        (
            RULE_MEMFD,
            exec(Host, "x", "").with("proc.is_exe_from_memfd", true),
            Fires(Critical),
        ),
        (
            RULE_MEMFD,
            exec(Host, "x", "").with("proc.is_exe_from_memfd", false),
            Silent,
        ),
        (
            RULE_DROPPED,
            exec(Container, "kinsing", "").with("proc.is_exe_upper_layer", true),
            Fires(Critical),
        ),
        (
            RULE_DROPPED,
            exec(Host, "kinsing", "").with("proc.is_exe_upper_layer", true),
            Silent,
        ),
        (
            RULE_DROPPED,
            exec(Container, "nginx", "").with("proc.is_exe_upper_layer", false),
            Silent,
        ),
        (
            RULE_TMPEXEC,
            exec(Container, "payload", "").with("proc.exepath", "/dev/shm/payload"),
            Fires(Error),
        ),
        (
            RULE_TMPEXEC,
            exec(Container, "payload", "").with("proc.exepath", "/tmp/x/payload"),
            Fires(Error),
        ),
        (
            RULE_TMPEXEC,
            exec(Host, "payload", "").with("proc.exepath", "/tmp/payload"),
            Silent,
        ),
        (
            RULE_TMPEXEC,
            exec(Container, "tmpwatch", "").with("proc.exepath", "/usr/bin/tmpwatch"),
            Silent,
        ),
        // Shared memory: anywhere, host included; /tmp on the host and /dev/shmx are not it.
        (
            RULE_SHM,
            exec(Host, "payload", "").with("proc.exepath", "/dev/shm/payload"),
            Fires(Warning),
        ),
        (
            RULE_SHM,
            exec(Container, "payload", "").with("proc.exepath", "/run/shm/x/payload"),
            Fires(Warning),
        ),
        (
            RULE_SHM,
            exec(Host, "payload", "").with("proc.exepath", "/tmp/payload"),
            Silent,
        ),
        (
            RULE_SHM,
            exec(Host, "payload", "").with("proc.exepath", "/dev/shmx/payload"),
            Silent,
        ),
        // Reverse shell: a socket dup'ed onto stdin; onto fd 5, or a pipe onto stdin, is not.
        (
            RULE_DUP,
            dup_socket(Container, "bash", 0, "ipv4"),
            Fires(Critical),
        ),
        (RULE_DUP, dup_socket(Host, "sh", 2, "ipv6"), Fires(Critical)),
        (RULE_DUP, dup_socket(Container, "bash", 5, "ipv4"), Silent),
        (RULE_DUP, dup_socket(Container, "bash", 0, "pipe"), Silent),
        (
            RULE_CRED,
            open(Host, "cat", "/etc/shadow", "O_RDONLY"),
            Fires(Warning),
        ),
        (
            RULE_CRED,
            open(Container, "python3", "/root/.ssh/id_rsa", "O_RDONLY"),
            Fires(Warning),
        ),
        (
            RULE_CRED,
            open(Host, "cat", "/etc/sudoers.d/90-cloud", "O_RDONLY"),
            Fires(Warning),
        ),
        (
            RULE_CRED,
            open(Host, "curl", "/home/ann/.ssh/id_ed25519", "O_RDONLY"),
            Fires(Warning),
        ),
        (
            RULE_CRED,
            open(Container, "node", "/home/ann/.aws/credentials", "O_RDONLY"),
            Fires(Warning),
        ),
        // Public keys and known hosts are not secrets.
        (
            RULE_CRED,
            open(Host, "curl", "/home/ann/.ssh/id_ed25519.pub", "O_RDONLY"),
            Silent,
        ),
        (
            RULE_CRED,
            open(Host, "ssh", "/home/ann/.ssh/known_hosts", "O_RDONLY"),
            Silent,
        ),
        (
            RULE_CRED,
            open(Host, "sshd", "/etc/shadow", "O_RDONLY"),
            Silent,
        ),
        (
            RULE_CRED,
            open(Host, "cat", "/etc/passwd", "O_RDONLY"),
            Silent,
        ),
        (
            RULE_SEARCH,
            exec(Host, "find", "/ -name id_rsa"),
            Fires(Warning),
        ),
        (
            RULE_SEARCH,
            exec(Container, "grep", "-r aws_secret_access_key /"),
            Fires(Warning),
        ),
        (
            RULE_SEARCH,
            exec(Host, "find", "/app -name .env"),
            Fires(Warning),
        ),
        (
            RULE_SEARCH,
            exec(Host, "find", "/var/log -name *.gz"),
            Silent,
        ),
        (RULE_SEARCH, exec(Host, "cat", "id_rsa"), Silent),
        // Links that give a credential file or /etc a second name; a link to a harmless file,
        // or one that failed, is not one.
        (
            RULE_LINK,
            symlink(Host, "/etc", "/tmp/etc-link"),
            Fires(Warning),
        ),
        (
            RULE_LINK,
            hardlink(Container, "/etc/shadow", "/tmp/s"),
            Fires(Warning),
        ),
        (RULE_LINK, symlink(Host, "/etc/hostname", "/tmp/h"), Silent),
        (
            RULE_LINK,
            hardlink(Host, "/etc/shadow", "/tmp/s").with("evt.rawres", -18i64),
            Silent,
        ),
        // A traversal that lands below /etc; one step up, or a traversal into /usr, is normal.
        (
            RULE_TRAVERSAL,
            open(Container, "nginx", "/etc/passwd", "O_RDONLY")
                .with("fd.nameraw", "/var/www/../../etc/passwd"),
            Fires(Warning),
        ),
        (
            RULE_TRAVERSAL,
            open(Host, "node", "/etc/hosts", "O_RDONLY").with("fd.nameraw", "/app/../etc/hosts"),
            Silent,
        ),
        (
            RULE_TRAVERSAL,
            open(Host, "node", "/usr/lib/x.so", "O_RDONLY")
                .with("fd.nameraw", "/app/node_modules/../../usr/lib/x.so"),
            Silent,
        ),
        (
            RULE_ETC,
            open(Host, "vim", "/etc/hosts", "O_WRONLY|O_CREAT"),
            Fires(Error),
        ),
        (
            RULE_ETC,
            open(Host, "apt-get", "/etc/hosts", "O_WRONLY|O_CREAT"),
            Silent,
        ),
        (
            RULE_ETC,
            open(Host, "vim", "/etc/hosts", "O_RDONLY"),
            Silent,
        ),
        (
            RULE_BIN,
            open(Container, "curl", "/usr/bin/ls", "O_WRONLY|O_CREAT|O_TRUNC"),
            Fires(Error),
        ),
        (
            RULE_BIN,
            open(Container, "dpkg", "/usr/bin/ls", "O_WRONLY|O_CREAT|O_TRUNC"),
            Silent,
        ),
        (
            RULE_BIN,
            open(Container, "curl", "/usr/bin/share/x", "O_WRONLY|O_CREAT"),
            Silent,
        ),
        (
            RULE_LOG,
            open(Host, "sh", "/var/log/auth.log", "O_WRONLY|O_TRUNC"),
            Fires(Warning),
        ),
        (
            RULE_LOG,
            open(Host, "logrotate", "/var/log/auth.log", "O_WRONLY|O_TRUNC"),
            Silent,
        ),
        (
            RULE_LOG,
            open(Host, "sh", "/var/log/auth.log", "O_WRONLY|O_APPEND"),
            Silent,
        ),
        (
            RULE_HIST,
            unlink(Host, "/root/.bash_history"),
            Fires(Warning),
        ),
        (RULE_HIST, unlink(Host, "/tmp/build.log"), Silent),
        (
            RULE_HIST,
            unlink(Host, "/root/.bash_history").with("evt.rawres", -2i64),
            Silent,
        ),
        (
            RULE_HISTTRUNC,
            open(
                Container,
                "sh",
                "/home/app/.zsh_history",
                "O_WRONLY|O_TRUNC",
            ),
            Fires(Warning),
        ),
        (
            RULE_HISTTRUNC,
            open(Host, "bash", "/root/.bash_history", "O_WRONLY|O_APPEND"),
            Silent,
        ),
        (
            RULE_HISTCMD,
            exec(Host, "bash", "-c history -c"),
            Fires(Warning),
        ),
        (
            RULE_HISTCMD,
            exec(Container, "ln", "-sf /dev/null /root/.bash_history"),
            Fires(Warning),
        ),
        (RULE_HISTCMD, exec(Host, "bash", "-c history"), Silent),
        (
            RULE_HISTCMD,
            exec(Host, "truncate", "-s 0 /root/.bash_history"),
            Fires(Warning),
        ),
        (
            RULE_HISTCMD,
            exec(Host, "truncate", "-s 0 /tmp/data"),
            Silent,
        ),
        (
            RULE_SHRED,
            exec(Host, "shred", "-u /var/log/auth.log"),
            Fires(Warning),
        ),
        (
            RULE_SHRED,
            exec(Container, "srm", "-r /tmp/tools"),
            Fires(Warning),
        ),
        (RULE_SHRED, exec(Host, "rm", "-f /var/log/auth.log"), Silent),
        (
            RULE_HISTCMD,
            exec(Host, "ln", "-sf /dev/null /tmp/out"),
            Silent,
        ),
        (
            RULE_PKG,
            exec(Container, "apt-get", "install -y nmap"),
            Fires(Error),
        ),
        (RULE_PKG, exec(Host, "apt-get", "install -y nmap"), Silent),
        (
            RULE_OUT,
            connect(Container, "bash", "203.0.113.7"),
            Fires(Notice),
        ),
        (
            RULE_OUT,
            connect(Container, "python3", "8.8.8.8"),
            Fires(Notice),
        ),
        (RULE_OUT, connect(Container, "bash", "10.1.2.3"), Silent),
        (RULE_OUT, connect(Container, "nginx", "203.0.113.7"), Silent),
        (
            RULE_OUT,
            connect(Host, "bash", "203.0.113.7"),
            Fires(Notice),
        ),
        (RULE_OUT, connect(Host, "nc", "198.51.100.4"), Fires(Notice)),
        (RULE_OUT, connect(Host, "python3", "192.168.1.20"), Silent),
        (
            RULE_OUT,
            connect(Host, "python3", "203.0.113.7")
                .with("evt.res", "EINPROGRESS")
                .with("evt.rawres", -115i64),
            Fires(Notice),
        ),
        // A packet socket: in a container, not on the host; an inet raw socket is not one.
        (
            RULE_PACKET,
            socket(Container, "arping", "AF_PACKET"),
            Fires(Warning),
        ),
        (RULE_PACKET, socket(Host, "dhclient", "AF_PACKET"), Silent),
        (RULE_PACKET, socket(Container, "ping", "AF_INET"), Silent),
        (
            RULE_OUT,
            connect(Container, "bash", "203.0.113.7").with("evt.rawres", -111i64),
            Silent,
        ),
        (
            RULE_PTRACE,
            ptrace("python3", "PTRACE_ATTACH"),
            Fires(Warning),
        ),
        (
            RULE_PTRACE,
            ptrace("python3", "PTRACE_SEIZE"),
            Fires(Warning),
        ),
        (RULE_PTRACE, ptrace("gdb", "PTRACE_ATTACH"), Silent),
        (RULE_PTRACE, ptrace("python3", "PTRACE_PEEKDATA"), Silent),
        (
            RULE_KMOD,
            event("finit_module", Host, "insmod", "rk.ko"),
            Fires(Warning),
        ),
        (
            RULE_KMOD,
            event("init_module", Container, "insmod", "rk.ko"),
            Fires(Warning),
        ),
        (RULE_KMOD, exec(Host, "insmod", "rk.ko"), Silent),
        (
            RULE_RELEASE,
            open(
                PrivilegedContainer,
                "sh",
                "/tmp/cgrp/release_agent",
                "O_WRONLY|O_TRUNC",
            ),
            Fires(Critical),
        ),
        (
            RULE_RELEASE,
            open(
                PrivilegedContainer,
                "sh",
                "/tmp/cgrp/release_agent",
                "O_RDONLY",
            ),
            Silent,
        ),
        (
            RULE_MOUNT,
            event("mount", PrivilegedContainer, "mount", "/dev/sda1 /mnt"),
            Fires(Critical),
        ),
        (
            RULE_MOUNT,
            exec(PrivilegedContainer, "debugfs", "/dev/sda1"),
            Fires(Critical),
        ),
        (
            RULE_MOUNT,
            event("mount", Container, "mount", "/dev/sda1 /mnt"),
            Silent,
        ),
        (
            RULE_MOUNT,
            event("mount", Host, "mount", "/dev/sda1 /mnt"),
            Silent,
        ),
        (
            RULE_MOUNT,
            event("mount", PrivilegedContainer, "mount", "/dev/sda1 /mnt")
                .with("evt.rawres", -1i64),
            Silent,
        ),
        (
            RULE_NS,
            event("setns", Container, "nsenter", "-t 1 -m"),
            Fires(Warning),
        ),
        (
            RULE_NS,
            event("unshare", Container, "unshare", "-r"),
            Fires(Warning),
        ),
        (
            RULE_NS,
            event("setns", Host, "nsenter", "-t 1 -m"),
            Fires(Warning),
        ),
        (
            RULE_NS,
            event("unshare", Host, "runc:[1:CHILD]", "init"),
            Silent,
        ),
        (RULE_NS, event("setns", Host, "netavark", "setup"), Silent),
        (RULE_NS, event("unshare", Host, "(cron)", ""), Silent),
        (
            RULE_NS,
            event("unshare", Host, "unshare", "-n").with("evt.rawres", -1i64),
            Silent,
        ),
        (
            RULE_STRATUM,
            exec(Host, "kworker", "-o stratum+tcp://pool.example:3333 -u w"),
            Fires(Critical),
        ),
        (
            RULE_STRATUM,
            exec(Host, "curl", "https://pool.example:3333"),
            Silent,
        ),
        (
            RULE_MINER,
            exec(Container, "xmrig", "--donate-level 1"),
            Fires(Critical),
        ),
        (
            RULE_MINER,
            exec(Container, "xmllint", "--noout a.xml"),
            Silent,
        ),
        // A user's session (login uid 1000) became root; sudo may, services (no login uid)
        // and root's own sessions are not escalations.
        (RULE_SETUID, setuid("exploit", "0", 1000), Fires(Critical)),
        (RULE_SETUID, setuid("sudo", "0", 1000), Silent),
        (RULE_SETUID, setuid("exploit", "1000", 1000), Silent),
        (RULE_SETUID, setuid("exploit", "0", 0), Silent),
        (RULE_SETUID, setuid("cupsd", "0", -1), Silent),
        (
            RULE_PKEXEC,
            exec(Host, "pkexec", "").with("proc.cmdnargs", 0u64).with(
                "proc.env",
                vec!["pwnkit", "PATH=GCONV_PATH=.", "CHARSET=PWNKIT"],
            ),
            Fires(Critical),
        ),
        (
            RULE_PKEXEC,
            exec(Host, "pkexec", "/usr/bin/id")
                .with("proc.cmdnargs", 1u64)
                .with("proc.env", vec!["PATH=GCONV_PATH=."]),
            Silent,
        ),
        (
            RULE_PKEXEC,
            exec(Host, "pkexec", "")
                .with("proc.cmdnargs", 0u64)
                .with("proc.env", vec!["PATH=/usr/bin", "HOME=/root"]),
            Silent,
        ),
        (
            RULE_SUDOEDIT,
            exec(Host, "sudoedit", "-s \\"),
            Fires(Critical),
        ),
        (
            RULE_SUDOEDIT,
            exec(Host, "sudoedit", "-s /etc/hosts"),
            Silent,
        ),
        (RULE_SUDOEDIT, exec(Host, "sudo", "-s \\"), Silent),
    ]
}

/// The names of the rules that match `ev`.
fn matched(set: &RuleSet, ev: &mut SyntheticEvent) -> BTreeSet<String> {
    let mut scratch = Scratch::new();
    let mut out = Vec::new();
    set.evaluate(ev, Matching::All, &mut scratch, &mut out);
    out.iter()
        .filter_map(|&i| set.rule(i).map(|r| r.name.clone()))
        .collect()
}

/// Checks one row: the verdict, the priority and, for a match, that the output renders every
/// field the event defines (no `<NA>`).
fn check(set: &RuleSet, rule: &str, mut ev: SyntheticEvent, expect: &Expect, row: usize) {
    let idx = set
        .find(rule)
        .unwrap_or_else(|| panic!("row {row}: no rule named {rule:?}"));
    let r = set.rule(idx).expect("found rule");
    let fired = matched(set, &mut ev).contains(rule);
    match expect {
        Silent => assert!(!fired, "row {row}: {rule:?} fired on its near-miss"),
        Fires(priority) => {
            assert!(fired, "row {row}: {rule:?} did not fire");
            assert_eq!(r.priority, *priority, "row {row}: {rule:?}");
            let mut text = String::new();
            let mut buf = Extracted::default();
            r.output_format().render(&mut ev, &mut buf, &mut text);
            assert!(!text.contains("<NA>"), "row {row}: {rule:?} output: {text}");
        }
    }
}

#[test]
fn every_rule_fires_on_its_attack_and_not_on_its_near_miss() {
    let set = load();
    let cases = cases();
    for (row, (rule, ev, expect)) in cases.into_iter().enumerate() {
        check(&set, rule, ev, &expect, row);
    }
}

#[test]
fn every_rule_has_a_positive_and_a_negative_row() {
    let set = load();
    let cases = cases();
    for r in set.rules() {
        let fires = cases
            .iter()
            .any(|(n, _, e)| *n == r.name && matches!(e, Fires(_)));
        let silent = cases
            .iter()
            .any(|(n, _, e)| *n == r.name && matches!(e, Silent));
        assert!(fires && silent, "{:?} needs both kinds of row", r.name);
    }
}

#[test]
fn every_rule_narrows_to_a_finite_event_type_set_and_carries_mitre_tags() {
    let set = load();
    let everything = peregrine_event::EventTypeSet::all();
    for r in set.rules() {
        assert!(!r.event_types.is_empty(), "{:?}", r.name);
        assert_ne!(r.event_types, everything, "{:?}", r.name);
        assert!(
            r.tags.iter().any(|t| t.starts_with("mitre_")),
            "{:?} has no MITRE tactic",
            r.name
        );
        assert!(
            r.tags.iter().any(|t| t.len() >= 5
                && t.starts_with('T')
                && t[1..5].bytes().all(|b| b.is_ascii_digit())),
            "{:?} has no MITRE technique id",
            r.name
        );
        assert!(!r.desc.trim().is_empty(), "{:?}", r.name);
        for field in ["%proc.cmdline", "%container.id"] {
            assert!(
                r.output.contains(field),
                "{:?} output lacks {field}",
                r.name
            );
        }
    }
}

/// The tuning hooks the file advertises work: a `user_known_*` macro or list overridden in a
/// later file, or exception values appended to a rule, silence exactly the event they name.
#[test]
fn user_tuning_silences_known_activity() {
    use Ctx::Container;
    let cases: Vec<(&str, &str, SyntheticEvent)> = vec![
        (
            "- macro: user_known_package_manager_in_container\n  \
             condition: (container.image.repository = docker.io/library/nginx)\n  \
             override:\n    condition: replace\n",
            RULE_PKG,
            exec(Container, "apt-get", "install -y curl"),
        ),
        (
            "- list: user_known_credential_readers\n  items: [vault-agent]\n  \
             override:\n    items: append\n",
            RULE_CRED,
            open(
                Container,
                "vault-agent",
                "/root/.aws/credentials",
                "O_RDONLY",
            ),
        ),
        (
            "- rule: Namespace change by unexpected process\n  exceptions:\n    \
             - name: known_image_and_process\n      \
             values: [[docker.io/library/nginx, nsenter]]\n  \
             override:\n    exceptions: append\n",
            RULE_NS,
            event("setns", Container, "nsenter", "-t 1 -m"),
        ),
    ];
    let defaults = load();
    for (tuning, rule, ev) in cases {
        let tuned = load_with(tuning);
        assert!(matched(&defaults, &mut ev.clone()).contains(rule), "{rule}");
        assert!(!matched(&tuned, &mut ev.clone()).contains(rule), "{tuning}");
    }
}
