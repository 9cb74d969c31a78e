//! The path analysis behind in-kernel shedding, on Falco's stable rules and small cases.

use peregrine_rules::shed::{matches, never_shed, path_needs, PathAtom, PathNeeds};
use peregrine_rules::{Loader, RuleSet};
use std::collections::BTreeSet;

fn load_text(text: &str) -> RuleSet {
    let mut loader = Loader::new();
    loader.load_str("test.yaml", text);
    let (set, results) = loader.finish();
    assert!(results.errors().next().is_none(), "{}", results.as_text());
    set
}

fn rule(cond: &str) -> String {
    format!(
        "- rule: r\n  desc: d\n  condition: {cond}\n  output: o %proc.name\n  priority: WARNING\n"
    )
}

fn atoms(text: &str) -> BTreeSet<PathAtom> {
    match path_needs(&load_text(text), &[]) {
        PathNeeds::Atoms(a) => a,
        other => panic!("expected atoms for {text}: {other:?}"),
    }
}

fn every(text: &str) -> String {
    match path_needs(&load_text(text), &[]) {
        PathNeeds::Every { why, .. } => why,
        other => panic!("expected every open for {text}: {other:?}"),
    }
}

fn p(s: &str) -> PathAtom {
    PathAtom::Prefix(s.as_bytes().to_vec())
}
fn x(s: &str) -> PathAtom {
    PathAtom::Exact(s.as_bytes().to_vec())
}
fn sfx(s: &str) -> PathAtom {
    PathAtom::Suffix(s.as_bytes().to_vec())
}

#[test]
fn operators_give_atoms() {
    let a = atoms(&rule(
        "evt.type=openat and (fd.name startswith /etc/ or fd.name in (/a, /b) or \
         fd.directory=/var/log or fd.filename=wtmp or fd.name endswith release_agent or \
         fd.name glob '/home/*/.ssh/*' or fd.name pmatch (/srv))",
    ));
    let want: BTreeSet<PathAtom> = [
        p("/etc/"),
        x("/a"),
        x("/b"),
        p("/var/log/"),
        sfx("/wtmp"),
        sfx("release_agent"),
        p("/home/"),
        p("/srv"),
    ]
    .into_iter()
    .collect();
    assert_eq!(a, want);
}

#[test]
fn and_takes_the_tightest_side() {
    let a = atoms(&rule(
        "evt.type=open and (fd.name startswith /a or fd.name startswith /b) and fd.name startswith /a/x",
    ));
    assert_eq!(a, [p("/a/x")].into_iter().collect());
    // A side naming no path does not widen the conjunction.
    let a = atoms(&rule(
        "evt.type=open and proc.name=cat and fd.name=/etc/shadow",
    ));
    assert_eq!(a, [x("/etc/shadow")].into_iter().collect());
}

#[test]
fn unknowable_conditions_need_every_open() {
    for cond in [
        "evt.type=open and proc.name=cat",
        "evt.type=open and not fd.name startswith /tmp",
        "evt.type=open and fd.name contains shadow",
        "evt.type=open and (fd.name startswith /etc or proc.name=cat)",
        "evt.type=open and fd.name != /etc/shadow",
        "evt.type=open and fd.name glob '*.conf'",
        "evt.type=open and fd.name icontains /ETC",
        "proc.name=cat",
    ] {
        every(&rule(cond));
    }
    // Counting every fd: shedding any open changes it.
    assert!(every(&rule("evt.type=execve and proc.fdopencount > 5")).contains("proc.fdopencount"));
}

#[test]
fn events_on_fds_count_only_when_they_read_fd_fields() {
    // A write rule that reads fd.name needs the opens of the paths it names.
    let a = atoms(&rule("evt.type=write and fd.name startswith /etc"));
    assert_eq!(a, [p("/etc")].into_iter().collect());
    // One that reads no fd field does not care which opens arrive.
    assert!(atoms(&rule("evt.type=write and proc.name=cat")).is_empty());
    // An exec rule has no fd: its output's %fd.name does not depend on opens.
    let text = "- rule: r\n  desc: d\n  condition: evt.type=execve and proc.name=shred\n  output: o %fd.name\n  priority: WARNING\n";
    assert!(atoms(text).is_empty());
    // But a write rule printing %fd.name with no path in its condition needs every open.
    let text = "- rule: r\n  desc: d\n  condition: evt.type=write and proc.name=cat\n  output: o %fd.name\n  priority: WARNING\n";
    every(text);
    // Unless an added output field (append_output) is all that reads fd fields? No: it counts.
    let set = load_text(&rule("evt.type=write and proc.name=cat"));
    assert!(!path_needs(&set, &["fd.name"]).can_shed());
}

#[test]
fn socket_and_traversal_conditions_need_no_path() {
    assert!(atoms(&rule("evt.type in (dup, dup2) and fd.type in (ipv4, ipv6)")).is_empty());
    assert!(atoms(&rule("evt.type=openat and fd.sport=22")).is_empty());
    every(&rule("evt.type=openat and fd.type=file"));
    // `..`, `/.` and `//` are only in paths the kernel never sheds.
    assert!(atoms(&rule("evt.type=openat and fd.nameraw contains '../'")).is_empty());
    assert!(atoms(&rule("evt.type=openat and fd.name contains '/.ssh/'")).is_empty());
}

#[test]
fn never_shed_paths() {
    for path in [
        "rel/x",
        "/a/../etc/shadow",
        "/a/./b",
        "/a//b",
        "/etc/",
        "/home/u/.ssh/k",
        "/x..",
    ] {
        assert!(never_shed(path.as_bytes()), "{path}");
    }
    for path in ["/tmp/x", "/etc/shadow", "/a.b/c"] {
        assert!(!never_shed(path.as_bytes()), "{path}");
    }
}

/// Falco's stable rules leave a non-trivial set: the storm's `/tmp` files are not in it,
/// the files the rules watch are.
#[test]
fn falco_stable_rules_shed_most_paths() {
    let Some(dir) = peregrine_testkit::upstream::require("falco_stable_rules_shed_most_paths")
    else {
        return;
    };
    let mut loader = Loader::new();
    loader.load_file(dir.join("rules/falco_rules.yaml"));
    let (set, results) = loader.finish();
    assert!(results.errors().next().is_none());
    let a = match path_needs(&set, &[]) {
        PathNeeds::Atoms(a) => a,
        PathNeeds::Every { rule, why } => panic!("{rule:?}: {why}"),
    };
    eprintln!("{} atoms: {a:?}", a.len());
    for kept in [
        "/etc/shadow",
        "/etc/pam.d/su",
        "/etc/sudoers.d/x",
        "/var/log/syslog",
        "/var/lib/x/log/auth.log",
        "/sys/fs/cgroup/x/release_agent",
    ] {
        assert!(matches(&a, kept.as_bytes()), "{kept} must be kept");
    }
    for shed in [
        "/tmp/storm/f1",
        "/usr/lib/x86_64-linux-gnu/libc.so.6",
        "/proc/self/stat",
    ] {
        assert!(!matches(&a, shed.as_bytes()), "{shed} could be shed");
    }
}

#[test]
fn evt_arg_counts_only_for_fd_parameters() {
    // symlinkat has an fd parameter (linkdirfd), but `target` is a string.
    assert!(atoms(&rule("evt.type=symlinkat and evt.arg.target in (/etc)")).is_empty());
    every(&rule("evt.type=write and evt.arg.fd contains /etc"));
    every(&rule("evt.type=write and evt.args contains /etc"));
}

#[test]
fn events_creating_their_fd_do_not_depend_on_opens() {
    // socket's fd is its result: fd fields describe the new socket.
    let text = "- rule: r\n  desc: d\n  condition: evt.type=socket and proc.name=x\n  output: o %fd.name %evt.args\n  priority: WARNING\n";
    assert!(atoms(text).is_empty());
    // dup's oldfd was named by an earlier open.
    let text = "- rule: r\n  desc: d\n  condition: evt.type=dup and proc.name=x\n  output: o %fd.name\n  priority: WARNING\n";
    every(text);
}

#[test]
fn other_fds_of_an_event_need_every_open() {
    // sendfile's in_fd is not the fd that fd.name describes.
    let text = "- rule: r\n  desc: d\n  condition: evt.type=sendfile and fd.name startswith /etc\n  output: o %evt.args\n  priority: WARNING\n";
    assert!(every(text).contains("evt.args"));
    every(&rule(
        "evt.type=sendfile and fd.name startswith /etc and evt.arg.in_fd exists",
    ));
    // openat's dirfd is a directory, whose open is never shed.
    let text = "- rule: r\n  desc: d\n  condition: evt.type=openat and fd.name startswith /etc\n  output: o %evt.args\n  priority: WARNING\n";
    assert_eq!(atoms(text), [p("/etc")].into_iter().collect());
}

#[test]
fn branches_for_other_event_types_need_no_path() {
    // Falco's "Schedule Cron Jobs": an open branch and an exec branch.
    let a = atoms(&rule(
        "(evt.type=openat and fd.name startswith /etc/cron) or (evt.type in (execve, execveat) and proc.name=crontab)",
    ));
    assert_eq!(a, [p("/etc/cron")].into_iter().collect());
    // A branch whose types include one that depends on a path still needs its own atoms.
    every(&rule("(evt.type=openat and fd.name startswith /etc) or (evt.type in (execve, read) and proc.name=x)"));
    // linkat's fds are directories: printing its evt.args needs no open.
    let text = "- rule: r\n  desc: d\n  condition: evt.type in (link, linkat) and evt.arg.oldpath = /etc/shadow\n  output: o %evt.args\n  priority: WARNING\n";
    assert!(atoms(text).is_empty());
}

/// Peregrine's default rules leave shedding on.
#[test]
fn default_rules_shed() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../rules/peregrine_rules.yaml"
    );
    let mut loader = Loader::new();
    loader.load_file(path);
    let (set, results) = loader.finish();
    assert!(results.errors().next().is_none(), "{}", results.as_text());
    match path_needs(&set, &[]) {
        PathNeeds::Atoms(a) => assert!(!matches(&a, b"/tmp/build/x.o"), "{a:?}"),
        PathNeeds::Every { rule, why } => panic!("{rule:?}: {why}"),
    }
}
