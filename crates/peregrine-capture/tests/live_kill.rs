//! The in-kernel kill on the real kernel: each filter kind kills its process in the matched
//! call (an exec before the new image's first instruction, an open before a read, a connect
//! before data), a near miss is not killed, a dry-run filter only counts, a protected
//! executable and the agent's ancestors are spared, and switching the filters off stops them.
//!
//! Every test process has its own names, paths and ports, so other engineers' processes on
//! the same host never match.

mod common;

use common::set;
use peregrine_capture::{kill_flags as f, Capture, CaptureConfig, KillFilter, KillSpec};
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

fn capture() -> Capture {
    let config = CaptureConfig {
        ring_bytes: 1 << 20,
        syscalls: set(&["execve", "execveat", "open", "openat", "openat2", "connect"]),
        procexit: false,
        only_tgid: None,
        exclude_self: true,
        ..CaptureConfig::default()
    };
    Capture::open(&config).expect("capture opens")
}

fn dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("pg-live-kill-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("scratch dir");
    d
}

/// A copy of `touch` named `name`: its first act would be to create the file it is given.
fn toucher(d: &Path, name: &str) -> PathBuf {
    let p = d.join(name);
    std::fs::copy("/usr/bin/touch", &p).expect("copy touch");
    p
}

fn signal_of(cmd: &mut Command) -> Option<i32> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("runs")
        .signal()
}

#[test]
fn exec_open_and_connect_filters_kill_in_the_matched_call() {
    if !peregrine_testkit::live("exec_open_and_connect_filters_kill_in_the_matched_call") {
        return;
    }
    let d = dir("kinds");
    let secret = d.join("secret");
    std::fs::write(&secret, "the secret\n").expect("secret");
    let near = d.join("secret2");
    std::fs::write(&near, "not so secret\n").expect("near miss");
    let killed_l = std::net::TcpListener::bind("127.0.0.1:0").expect("listener");
    let port = killed_l.local_addr().expect("addr").port();
    let spared_l = std::net::TcpListener::bind("127.0.0.1:0").expect("listener");
    let other = spared_l.local_addr().expect("addr").port();
    let spec = KillSpec {
        filters: vec![
            KillFilter {
                flags: f::EXEC | f::NAMES,
                ..KillFilter::default()
            },
            KillFilter {
                flags: f::OPEN | f::READ,
                open_calls: f::OPEN_OPENAT | f::OPEN_OPEN,
                ..KillFilter::default()
            },
            KillFilter {
                flags: f::CONNECT | f::PORTS | f::NETS,
                ..KillFilter::default()
            },
        ],
        names: vec![(b"pgk-exec".to_vec(), 0)],
        paths: vec![(secret.to_str().expect("utf-8").as_bytes().to_vec(), 1)],
        ports: vec![(port, 2)],
        nets: vec![("127.0.0.0".parse().expect("ip"), 8, 2)],
        ..KillSpec::default()
    };
    let mut cap = capture();
    let kills = cap.set_kill(&spec).expect("kill filters");

    // Exec: the marker's first act would create `made`; it is killed before that.
    let made = d.join("made");
    let exec_sig = signal_of(Command::new(toucher(&d, "pgk-exec")).arg(&made));
    let near_exec = signal_of(Command::new(toucher(&d, "pgk-exed")).arg(d.join("near")));

    // Open: cat dies before read returns anything; a neighbouring file is read normally.
    let cat = Command::new("cat")
        .arg(&secret)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .output()
        .expect("cat");
    let cat_near = Command::new("cat")
        .arg(&near)
        .output()
        .expect("cat near miss");

    // Connect: bash connects and would send a line; the listener gets the connection and
    // then end of file, never the line. The same on another port goes through.
    let shell = |p: u16| {
        Command::new("bash")
            .arg("-c")
            .arg(format!("exec 3<>/dev/tcp/127.0.0.1/{p}; echo pwned >&3"))
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("bash")
    };
    let read_all = |l: &std::net::TcpListener| {
        let (mut s, _) = l.accept().expect("accept");
        s.set_read_timeout(Some(Duration::from_secs(10))).ok();
        let mut got = String::new();
        let _ = s.read_to_string(&mut got);
        got
    };
    let mut sh = shell(port);
    let seen = read_all(&killed_l);
    let sh_sig = sh.wait().expect("wait").signal();
    let mut sh2 = shell(other);
    let seen2 = read_all(&spared_l);
    let sh2_status = sh2.wait().expect("wait");

    let counts = kills.counts();
    let _ = std::fs::remove_dir_all(&d);
    assert_eq!(exec_sig, Some(9), "the exec was not killed");
    assert!(
        !made.exists(),
        "the killed program ran its first instruction"
    );
    assert_eq!(near_exec, None, "a near-miss name was killed");
    assert_eq!(
        cat.status.signal(),
        Some(9),
        "cat of the secret was not killed"
    );
    assert!(cat.stdout.is_empty(), "read returned: {:?}", cat.stdout);
    assert_eq!(cat_near.stdout, b"not so secret\n");
    assert_eq!(sh_sig, Some(9), "the connecting shell was not killed");
    assert_eq!(seen, "", "the listener saw data");
    assert_eq!(seen2, "pwned\n");
    assert!(sh2_status.success());
    assert_eq!(
        counts[..3].iter().map(|c| c.kills).collect::<Vec<_>>(),
        [1, 1, 1]
    );
}

#[test]
fn dry_run_counts_safety_spares_and_off_stops() {
    if !peregrine_testkit::live("dry_run_counts_safety_spares_and_off_stops") {
        return;
    }
    let d = dir("safety");
    let dry = toucher(&d, "pgk-dry");
    let guarded = toucher(&d, "pgk-guarded");
    let off = toucher(&d, "pgk-off");
    let meta = std::fs::metadata(&guarded).expect("stat");
    let exec = |name: &str, i: usize| (name.as_bytes().to_vec(), i);
    let spec = KillSpec {
        filters: vec![
            KillFilter {
                flags: f::EXEC | f::NAMES | f::DRY_RUN,
                ..KillFilter::default()
            },
            KillFilter {
                flags: f::EXEC | f::NAMES,
                ..KillFilter::default()
            },
            KillFilter {
                flags: f::EXEC | f::NAMES,
                ..KillFilter::default()
            },
        ],
        names: vec![
            exec("pgk-dry", 0),
            exec("pgk-guarded", 1),
            exec("pgk-off", 2),
        ],
        spare_exes: vec![(meta.ino(), meta.dev())],
        ..KillSpec::default()
    };
    let mut cap = capture();
    let kills = cap.set_kill(&spec).expect("kill filters");
    let mut child = Command::new(&dry)
        .arg(d.join("dry-made"))
        .spawn()
        .expect("dry");
    let pid = child.id();
    let dry_status = child.wait().expect("wait");
    let dry_entry = kills.take(pid);
    let guarded_sig = signal_of(Command::new(&guarded).arg(d.join("guarded-made")));
    kills.set_active(false).expect("off");
    let off_sig = signal_of(Command::new(&off).arg(d.join("off-made")));
    let counts = kills.counts();
    let made = |n: &str| d.join(n).exists();
    let (dry_made, guarded_made, off_made) =
        (made("dry-made"), made("guarded-made"), made("off-made"));
    let _ = std::fs::remove_dir_all(&d);
    assert!(
        dry_status.success() && dry_made,
        "dry run killed: {dry_status:?}"
    );
    let e = dry_entry.expect("the dry run is in the kill log");
    assert!(e.dry_run && e.filter == 0, "{e:?}");
    assert_eq!(guarded_sig, None, "a protected executable was killed");
    assert!(guarded_made);
    assert_eq!(off_sig, None, "a filter switched off killed");
    assert!(off_made);
    assert_eq!((counts[0].dry_runs, counts[0].kills), (1, 0));
    assert_eq!((counts[1].spared, counts[1].kills), (1, 0));
    assert_eq!(counts[2].kills, 0);
}

/// A reload's filters replace the running ones through the idle generation: before the swap
/// the old name is killed, while `publish` runs no filter acts, after it only the new name is
/// killed, and the kernel's log names the new generation's filter.
#[test]
fn replacing_the_filters_swaps_what_the_kernel_kills() {
    if !peregrine_testkit::live("replacing_the_filters_swaps_what_the_kernel_kills") {
        return;
    }
    let d = dir("gen");
    let old = toucher(&d, "pgk-gen-old");
    let new = toucher(&d, "pgk-gen-new");
    let exec_filter = |name: &str| KillSpec {
        filters: vec![KillFilter {
            flags: f::EXEC | f::NAMES,
            ..KillFilter::default()
        }],
        names: vec![(name.as_bytes().to_vec(), 0)],
        ..KillSpec::default()
    };
    let mut cap = capture();
    let kills = cap
        .set_kill(&exec_filter("pgk-gen-old"))
        .expect("kill filters");
    let run = |p: &Path, tag: &str| signal_of(Command::new(p).arg(d.join(tag)));
    let before = (run(&old, "b-old"), run(&new, "b-new"));
    let mut during = (Some(0), Some(0));
    let gen = kills
        .replace(&exec_filter("pgk-gen-new"), || {
            during = (run(&old, "d-old"), run(&new, "d-new"));
        })
        .expect("replace");
    let after_old = run(&old, "a-old");
    let mut child = Command::new(&new)
        .arg(d.join("a-new"))
        .spawn()
        .expect("new");
    let pid = child.id();
    let after_new = child.wait().expect("wait").signal();
    let entry = kills.take(pid);
    let counts = kills.counts();
    let _ = std::fs::remove_dir_all(&d);
    assert_eq!(before, (Some(9), None), "before the swap");
    assert_eq!(during, (None, None), "a filter acted during the swap");
    assert_eq!(gen, 1);
    assert_eq!((after_old, after_new), (None, Some(9)), "after the swap");
    let e = entry.expect("the new generation's kill is logged");
    assert_eq!(e.filter, 32, "{e:?}");
    assert_eq!((counts[0].kills, counts[32].kills), (1, 1));
}

/// The kernel's budget: a flood of matching execs is killed up to the budget, and the rest
/// are observed (logged and counted, left alive).
#[test]
fn a_flood_spends_the_kernel_budget_then_the_filters_only_observe() {
    if !peregrine_testkit::live("a_flood_spends_the_kernel_budget_then_the_filters_only_observe") {
        return;
    }
    let d = dir("budget");
    let flood = toucher(&d, "pgk-flood");
    let spec = KillSpec {
        filters: vec![KillFilter {
            flags: f::EXEC | f::NAMES,
            ..KillFilter::default()
        }],
        names: vec![(b"pgk-flood".to_vec(), 0)],
        budget: Some(peregrine_capture::KillBudget {
            kills: 3,
            window: Duration::from_secs(3600),
        }),
        ..KillSpec::default()
    };
    let mut cap = capture();
    let kills = cap.set_kill(&spec).expect("kill filters");
    let mut outcomes = Vec::new();
    let mut last = None;
    for i in 0..8 {
        let mut child = Command::new(&flood)
            .arg(d.join(format!("m{i}")))
            .stdin(Stdio::null())
            .spawn()
            .expect("flood");
        let pid = child.id();
        outcomes.push(child.wait().expect("wait").signal());
        last = kills.take(pid);
    }
    let counts = kills.counts();
    let made = (0..8).filter(|i| d.join(format!("m{i}")).exists()).count();
    let _ = std::fs::remove_dir_all(&d);
    assert_eq!(
        outcomes,
        [Some(9), Some(9), Some(9), None, None, None, None, None]
    );
    assert_eq!(made, 5);
    let e = last.expect("an observed match is logged");
    assert!(e.observed && !e.dry_run, "{e:?}");
    assert_eq!((counts[0].kills, counts[0].observed), (3, 5));
    assert_eq!(kills.observed_over_budget(), 5);
}

/// Exec from a given parent: the parent's comm decides when it is the parent's executable's
/// name; a parent renamed to a listed name (which user space's `proc.pname` never sees) is
/// not decided in the kernel.
#[test]
fn an_exec_from_a_listed_parent_is_killed_unless_the_parent_renamed_itself() {
    if !peregrine_testkit::live(
        "an_exec_from_a_listed_parent_is_killed_unless_the_parent_renamed_itself",
    ) {
        return;
    }
    let d = dir("pname");
    let kid = toucher(&d, "pgk-kid");
    let shell = |name: &str| {
        let p = d.join(name);
        std::fs::copy("/bin/bash", &p).expect("copy bash");
        p
    };
    let (web, other, near) = (shell("pgk-web"), shell("pgk-other"), shell("pgk-wec"));
    let spec = KillSpec {
        filters: vec![KillFilter {
            flags: f::EXEC | f::NAMES | f::PNAMES,
            ..KillFilter::default()
        }],
        names: vec![(b"pgk-kid".to_vec(), 0)],
        pnames: vec![(b"pgk-web".to_vec(), 0)],
        ..KillSpec::default()
    };
    let mut cap = capture();
    let kills = cap.set_kill(&spec).expect("kill filters");
    let run = |sh: &Path, pre: &str, tag: &str| {
        let out = Command::new(sh)
            .arg("-c")
            .arg(format!(
                "{pre}{} {}; echo rc=$?",
                kid.display(),
                d.join(tag).display()
            ))
            .stdin(Stdio::null())
            .output()
            .expect("shell");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let from_web = run(&web, "", "web");
    let from_near = run(&near, "", "near");
    let renamed = run(&other, "printf pgk-web > /proc/$$/comm; ", "renamed");
    let counts = kills.counts();
    let made = |t: &str| d.join(t).exists();
    let (web_made, near_made, renamed_made) = (made("web"), made("near"), made("renamed"));
    let _ = std::fs::remove_dir_all(&d);
    assert_eq!(from_web, "rc=137\n", "the child of pgk-web ran");
    assert!(!web_made);
    assert_eq!(from_near, "rc=0\n");
    assert!(near_made);
    assert_eq!(renamed, "rc=0\n", "a renamed parent decided in the kernel");
    assert!(renamed_made);
    assert_eq!(counts[0].kills, 1);
}
