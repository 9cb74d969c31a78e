//! The in-kernel kill through the binary, in a real podman container: a binary dropped in
//! /tmp and executed dies before its first instruction (the marker it would make never appears), `cat
//! /etc/shadow` dies before `read` returns (nothing on its stdout), a reverse-shell-like
//! connect to a listener on the container's own loopback dies before the listener sees
//! data; near misses run; a dry-run policy kills nothing and audits; the agent says at start
//! which policy runs in the kernel and which from user space, and why; and the safety list
//! holds in the kernel (a protected executable on the host is not killed).

mod e2e_harness;

use e2e_harness::podman::{self, Container};
use e2e_harness::{http_get, kill_policy, response_agent, scratch, WEB_METRICS};
use serde_json::Value;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

const DEADLINE: Duration = Duration::from_secs(15);

/// The audit log's records, once every policy of `want` has one that `ours` accepts (or
/// whatever it holds at the deadline).
///
/// Records are told apart by process, not by policy alone: on a host whose sandbox puts each
/// command in a memory cgroup `/process_api/<32 hex>` (Falco's generic container rule), any
/// `mv` another engineer runs is a "container" process to user space, matches the dry-run
/// rule, and is audited too (from user space: the kernel's narrower container test does not
/// see it). Taking the first record of the policy made the test read that stranger's
/// "skipped: the process is gone" under a busy machine.
fn audit(path: &Path, want: &[&str], ours: impl Fn(&Value) -> bool) -> Vec<Value> {
    e2e_harness::json_lines_where(path, DEADLINE, ours, |lines| {
        want.iter().all(|p| lines.iter().any(|l| l["policy"] == *p))
    })
}

fn rule(name: &str, cond: &str) -> String {
    format!(
        "
- rule: {name}
  desc: the in-kernel kill test
  condition: {cond}
  output: {name} (proc.pid=%proc.pid proc.name=%proc.name fd.name=%fd.name)
  priority: WARNING
"
    )
}

/// `sh -c SCRIPT` in the container: its stdout.
fn sh(c: &Container, script: &str) -> String {
    let out = c.exec(&[], &["sh", "-c", script]);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn kill_policies_run_in_the_kernel_in_a_podman_container() {
    let name = "kill_policies_run_in_the_kernel_in_a_podman_container";
    if !peregrine_testkit::e2e_root(name) {
        return;
    }
    if !podman::require(name) {
        return;
    }
    let dir = scratch("kkill");
    let image = "localhost/pg-kkill:3";
    podman::ensure_image(
        image,
        &dir,
        &["sh", "cat", "cp", "ls", "mkdir", "nc", "sleep"],
        &[
            ("etc/shadow", "root:pg-secret-hash:19000:0:99999:7:::\n"),
            ("tmp/.keep", ""),
        ],
    );
    let c = Container::run(
        &format!("pg-kkill-{}", std::process::id()),
        &["--network", "none"],
        image,
        &["sleep", "300"],
    );
    // Host-side marker for the safety list: protected by inode, so the kernel spares it.
    let guarded = dir.join("pgk-guarded");
    std::fs::copy("/usr/bin/sleep", &guarded).expect("guarded copy");
    let in_c = "container.id != host";
    let rules = [
        rule(
            "Dropped binary",
            &format!(
                "evt.type in (execve, execveat) and {in_c} and proc.is_exe_upper_layer = true \
                 and proc.name in (mkdir, xmrig)"
            ),
        ),
        rule(
            "Shadow read",
            &format!("evt.type in (open, openat, openat2) and evt.is_open_read = true and fd.name = /etc/shadow and {in_c}"),
        ),
        rule(
            "Reverse shell",
            &format!("evt.type = connect and fd.sport = 4444 and fd.snet = \"127.0.0.0/8\" and {in_c}"),
        ),
        rule(
            "Dry dropped binary",
            &format!("evt.type in (execve, execveat) and {in_c} and proc.name = mv"),
        ),
        rule(
            "Guarded binary",
            "evt.type in (execve, execveat) and proc.name = pgk-guarded",
        ),
        rule(
            "Shell from a web server",
            "evt.type in (execve, execveat) and proc.name = pgk-web and proc.pname in (nginx, httpd)",
        ),
        rule(
            "Shell under ssh",
            "evt.type in (execve, execveat) and proc.name = pgk-ssh and proc.aname in (sshd)",
        ),
    ]
    .concat();
    let policies = [
        kill_policy("kill droppers", "Dropped binary", ""),
        kill_policy("kill shadow readers", "Shadow read", ""),
        kill_policy("kill reverse shells", "Reverse shell", ""),
        kill_policy(
            "kill droppers (dry)",
            "Dry dropped binary",
            "  dry_run: true\n",
        ),
        kill_policy("kill guarded", "Guarded binary", ""),
        kill_policy("kill web shells", "Shell from a web server", ""),
        kill_policy("kill ssh children", "Shell under ssh", ""),
    ]
    .concat();
    let prot_opt = format!("response.protected_executables[]={}", guarded.display());
    let (agent, audit_file) = response_agent(&dir, &rules, &policies, &["-o", &prot_opt]);

    // A dropped binary: busybox copied to /tmp (the container's upper layer) as `mkdir`,
    // whose first act would make the marker directory. Near misses: the same copy under
    // another name, and the image's own mkdir (lower layer).
    let dropped = sh(
        &c,
        "cp /bin/busybox /tmp/mkdir; /tmp/mkdir /tmp/dropped; echo rc=$?; \
         ls -d /tmp/dropped 2>/dev/null; echo end",
    );
    let near_drop = sh(
        &c,
        "cp /bin/busybox /tmp/touch; /tmp/touch /tmp/near; echo rc=$?; mkdir /tmp/near2; \
         echo rc=$?; ls -d /tmp/near /tmp/near2",
    );
    // cat /etc/shadow: killed with the file open, before read returns.
    let shadow = c.exec(&[], &["cat", "/etc/shadow"]);
    let passwd = c.exec(&[], &["cat", "/etc/passwd"]);
    // A reverse shell to a listener on the container's loopback, and the near miss on 4445.
    let connect = |port: u16| {
        sh(
            &c,
            &format!(
                "nc -l -p {port} > /tmp/got{port} & sleep 0.3; echo pwned | nc 127.0.0.1 {port}; \
                 echo rc=$?; sleep 0.3; echo got=$(cat /tmp/got{port})"
            ),
        )
    };
    let reverse = connect(4444);
    let near_connect = connect(4445);
    let dry = sh(
        &c,
        "cp /bin/busybox /tmp/mv; /tmp/mv /tmp/.keep /tmp/dry; echo rc=$?; ls /tmp/dry",
    );
    // Alive long enough for user space to look at it too (and refuse: protected).
    let mut guarded_child = Command::new(&guarded)
        .arg("1")
        .stdin(Stdio::null())
        .spawn()
        .expect("guarded runs");
    let guarded_pid = i64::from(guarded_child.id());
    let guarded_status = guarded_child.wait().expect("guarded exits");
    let container_id = c.id.clone();
    let lines = audit(
        &audit_file,
        &[
            "kill droppers",
            "kill shadow readers",
            "kill reverse shells",
            "kill droppers (dry)",
            "kill guarded",
        ],
        |l| l["container_id"] == container_id.as_str() || l["pid"] == guarded_pid,
    );
    let log = agent.log.clone();
    let status = agent.stop();
    drop(c);
    let _ = std::fs::remove_dir_all(&dir);

    let has = |needle: &str| log.iter().any(|l| l.contains(needle));
    for p in [
        "kill droppers",
        "kill shadow readers",
        "kill reverse shells",
        "kill web shells",
    ] {
        assert!(
            has(&format!("policy '{p}': kill in the kernel")),
            "{p}: {log:#?}"
        );
    }
    assert!(
        has(kernel_pname_limits()),
        "the parent-name filter's limits are not said: {log:#?}"
    );
    assert!(
        has("policy 'kill ssh children': kill from user space — rule 'Shell under ssh' tests proc.aname: the kernel reads only the parent"),
        "{log:#?}"
    );
    assert_eq!(
        dropped, "rc=137\nend\n",
        "the dropped binary ran: {lines:#?} {log:#?}"
    );
    assert_eq!(near_drop, "rc=0\nrc=0\n/tmp/near\n/tmp/near2\n");
    assert_eq!(shadow.status.signal(), None, "podman exec reports the code");
    assert_eq!(shadow.status.code(), Some(137), "{shadow:?}");
    assert!(shadow.stdout.is_empty(), "read returned: {shadow:?}");
    assert!(String::from_utf8_lossy(&passwd.stdout).starts_with("root:x:0:0"));
    assert_eq!(reverse, "rc=137\ngot=\n", "the listener saw data");
    assert_eq!(near_connect, "rc=0\ngot=pwned\n");
    assert_eq!(dry, "rc=0\n/tmp/dry\n", "dry run killed");
    assert!(
        guarded_status.success(),
        "a protected binary was killed: {guarded_status:?}"
    );
    let find = |policy: &str| {
        lines
            .iter()
            .find(|l| l["policy"] == policy)
            .unwrap_or_else(|| panic!("no audit line for {policy}: {lines:#?}"))
    };
    for p in [
        "kill droppers",
        "kill shadow readers",
        "kill reverse shells",
    ] {
        let l = find(p);
        assert_eq!(l["outcome"], "done", "{l}");
        assert!(
            l["detail"]
                .as_str()
                .is_some_and(|d| d.starts_with("killed in kernel")),
            "{l}"
        );
    }
    let d = find("kill droppers (dry)");
    assert_eq!(d["outcome"], "dry_run", "{d}");
    assert!(
        d["detail"]
            .as_str()
            .is_some_and(|s| s.contains("in the kernel")),
        "{d}"
    );
    // The kernel spared it; user space then finds it protected.
    let g = find("kill guarded");
    assert_eq!(g["outcome"], "refused", "{g}");
    assert!(status.success(), "{status:?}");
}

/// What the start-up line says about a parent-name filter (peregrine_response::kernel).
fn kernel_pname_limits() -> &'static str {
    "from 2 parent name(s) (the parent's comm, decided in the kernel only when it is the parent's executable's name"
}

/// A copy of `touch` named `name` in `dir`: its first act would create the file it is given.
fn toucher(dir: &Path, name: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::copy("/usr/bin/touch", &p).expect("copy touch");
    p
}

/// Runs `prog MARKER` and returns its signal (None: it exited) and whether MARKER exists.
fn run_marker(prog: &Path, marker: &Path) -> (Option<i32>, bool) {
    let status = Command::new(prog)
        .arg(marker)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("runs");
    (status.signal(), marker.exists())
}

/// Through the binary, on the host: a reload re-arms the kernel's filters from the new
/// policies (the old name runs, the new one dies in the kernel), and a flood of matching
/// execs spends the kernel's own budget, after which the kernel only observes — the audit
/// log, the log and `/metrics` say so.
#[test]
fn a_reload_re_arms_the_kernel_filters_and_a_flood_trips_the_kernel_budget() {
    let name = "a_reload_re_arms_the_kernel_filters_and_a_flood_trips_the_kernel_budget";
    if !peregrine_testkit::e2e_root(name) {
        return;
    }
    let dir = scratch("kkill-reload");
    let rules = [
        rule(
            "Old name",
            "evt.type in (execve, execveat) and proc.name = pgk-rl-old",
        ),
        rule(
            "New name",
            "evt.type in (execve, execveat) and proc.name = pgk-rl-new",
        ),
        rule(
            "Flood",
            "evt.type in (execve, execveat) and proc.name = pgk-rl-flood",
        ),
    ]
    .concat();
    let before = [
        kill_policy("kill old", "Old name", ""),
        kill_policy("kill flood", "Flood", ""),
    ]
    .concat();
    let (mut agent, audit_file) = response_agent(
        &dir,
        &rules,
        &before,
        &[
            &[
                "-o",
                "response.budget_per_minute=4",
                // One reload, the SIGHUP's (the watcher would reload on the write as well).
                "-o",
                "watch_config_files=false",
            ],
            WEB_METRICS,
        ]
        .concat(),
    );
    let (old, new, flood) = (
        toucher(&dir, "pgk-rl-old"),
        toucher(&dir, "pgk-rl-new"),
        toucher(&dir, "pgk-rl-flood"),
    );
    let old_before = run_marker(&old, &dir.join("old-before"));
    let new_before = run_marker(&new, &dir.join("new-before"));

    let after = [
        kill_policy("kill new", "New name", ""),
        kill_policy("kill flood", "Flood", ""),
    ]
    .concat();
    std::fs::write(dir.join("policies.yaml"), &after).expect("policies");
    agent.signal("HUP");
    let rearmed = agent.wait_for(DEADLINE, |l| {
        l.text
            .contains("kernel kill filters re-armed from the reloaded rules and policies")
    });
    let old_after = run_marker(&old, &dir.join("old-after"));
    let new_after = run_marker(&new, &dir.join("new-after"));

    // Budget 4: two kills above, two of the flood; the other six are only observed.
    let flood_runs: Vec<(Option<i32>, bool)> = (0..8)
        .map(|i| run_marker(&flood, &dir.join(format!("flood{i}"))))
        .collect();
    let lines = audit(&audit_file, &["kill old", "kill new"], |l| {
        l["policy"] != "kill flood"
    });
    let flood_lines = e2e_harness::json_lines_where(
        &audit_file,
        DEADLINE,
        |l| l["policy"] == "kill flood",
        |l| l.len() >= 8,
    );
    // Said once, by whichever saw the budget spent first: the worker reporting the fourth
    // kill, or the kernel's first observed match.
    let breaker = |l: &str| l.contains("circuit breaker open") && l.contains("kernel");
    let tripped = agent.wait_for(Duration::from_secs(2), |l| breaker(&l.text))
        || agent.log.iter().any(|l| breaker(l));
    let addr = agent.web_addr();
    let mut page = String::new();
    let counted = (0..50).any(|_| {
        page = http_get(&addr, "/metrics");
        let hit = page.lines().any(|l| {
            l.starts_with("peregrine_response_breaker_trips_total")
                && l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()) >= Some(1.0)
        }) && page.contains(
            "peregrine_response_actions_total{action=\"kill\",outcome=\"breaker_open\"} 6",
        );
        if !hit {
            std::thread::sleep(Duration::from_millis(100));
        }
        hit
    });
    let log = agent.log.clone();
    let status = agent.stop();
    let _ = std::fs::remove_dir_all(&dir);

    assert_eq!(old_before, (Some(9), false), "before the reload: old name");
    assert_eq!(new_before, (None, true), "before the reload: new name");
    assert!(rearmed, "no re-arm line: {log:#?}");
    assert_eq!(old_after, (None, true), "after the reload: old name");
    assert_eq!(new_after, (Some(9), false), "after the reload: new name");
    for p in ["kill old", "kill new"] {
        let l = lines
            .iter()
            .find(|l| l["policy"] == p)
            .unwrap_or_else(|| panic!("no audit line for {p}: {lines:#?}"));
        assert_eq!(l["outcome"], "done", "{l}");
        assert!(
            l["detail"]
                .as_str()
                .is_some_and(|d| d.starts_with("killed in kernel")),
            "{l}"
        );
    }
    let killed = flood_runs
        .iter()
        .filter(|r| **r == (Some(9), false))
        .count();
    let observed = flood_runs.iter().filter(|r| **r == (None, true)).count();
    assert_eq!((killed, observed), (2, 6), "{flood_runs:?}");
    let kernel_kills = flood_lines
        .iter()
        .filter(|l| l["outcome"] == "done")
        .count();
    let held = flood_lines
        .iter()
        .filter(|l| {
            l["outcome"] == "breaker_open"
                && l["detail"]
                    .as_str()
                    .is_some_and(|d| d.contains("observed in the kernel, not killed"))
        })
        .count();
    assert_eq!((kernel_kills, held), (2, 6), "{flood_lines:#?}");
    assert!(tripped, "the trip is not logged: {log:#?}");
    assert_eq!(
        log.iter()
            .filter(|l| l.contains("circuit breaker open"))
            .count(),
        1,
        "{log:#?}"
    );
    assert!(counted, "metrics: {page}");
    assert!(status.success(), "{status:?}");
}
