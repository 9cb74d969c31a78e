//! End to end as root with Falco's own `falco_rules.yaml`, loaded unchanged: one agent, then
//! one behaviour at a time as a child process, each expected to produce Falco's alert (rule,
//! priority, output fields) on stdout. The deadline is generous for a loaded CI machine; the
//! latency observed (event timestamp to alert line) is printed per behaviour.
//!
//! Processes started here sit in memory cgroup `/process_api/<hex>`, which Falco reads as a
//! container; several rules are host-only, so every behaviour first moves itself into the
//! root cgroups (`/sys/fs/cgroup/*/cgroup.procs`) and then `exec`s the real command.
//! Results are printed per behaviour; the pass count is ratcheted, and benign look-alikes
//! run at the end must raise nothing.

mod common;
mod e2e_harness;

use common::upstream;
use e2e_harness::{report, run_on_host, same_fs_as_etc, scratch, Agent, Expect, Outcome, Want};
use std::path::Path;
use std::time::Duration;

/// How long one alert may take before the behaviour counts as missed.
const DEADLINE: Duration = Duration::from_secs(10);

/// How many behaviours must be detected. Raise it when more pass; never lower it.
const MIN_DETECTED: usize = 13;

/// One behaviour: a command line (run in the root cgroups), the alert it must cause and
/// output fields that tie the alert to this run.
struct Behaviour {
    name: &'static str,
    argv: Vec<String>,
    rule: &'static str,
    priority: &'static str,
    fields: Vec<(&'static str, String)>,
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

/// PTRACE_ATTACH (16) to a child `sleep`.
const PTRACE_ATTACH: &str =
    "import ctypes, subprocess, time; p = subprocess.Popen(['sleep', '5']); \
ctypes.CDLL(None).ptrace(16, p.pid, 0, 0); time.sleep(0.1); p.kill()";
/// PTRACE_TRACEME (0).
const TRACEME: &str = "import ctypes; ctypes.CDLL(None).ptrace(0, 0, 0, 0)";

/// `hardlink`: where the hard link to /etc/shadow goes (on its filesystem).
fn behaviours(dir: &Path, hardlink: &str) -> Vec<Behaviour> {
    let d = |name: &str| dir.join(name).display().to_string();
    let hardlink = hardlink.to_string();
    let py = |code: &str| s(&["/usr/bin/python3", "-c", code]);
    // What Falco shows for those: proc.cmdline of the Python process.
    let py_cmdline = |code: &str| ("proc.cmdline", format!("python3 -c {code}"));
    let true_bin = "/usr/bin/true";
    vec![
        Behaviour {
            name: "read /etc/shadow",
            argv: s(&["cat", "/etc/shadow"]),
            rule: "Read sensitive file untrusted",
            priority: "Warning",
            fields: vec![("fd.name", "/etc/shadow".into()), ("proc.name", "cat".into())],
        },
        Behaviour {
            name: "symlink over /etc",
            argv: s(&["ln", "-s", "/etc", &d("etc-link")]),
            rule: "Create Symlink Over Sensitive Files",
            priority: "Warning",
            fields: vec![("evt.arg.linkpath", d("etc-link"))],
        },
        Behaviour {
            name: "hardlink to /etc/shadow",
            argv: s(&["ln", "/etc/shadow", &hardlink]),
            rule: "Create Hardlink Over Sensitive Files",
            priority: "Warning",
            fields: vec![("evt.arg.newpath", hardlink.clone())],
        },
        Behaviour {
            name: "find id_rsa",
            argv: s(&["find", &d("keys"), "-name", "id_rsa"]),
            rule: "Search Private Keys or Passwords",
            priority: "Warning",
            fields: vec![("proc.name", "find".into())],
        },
        Behaviour {
            name: "find AWS credentials",
            argv: s(&["find", &d("keys"), "-path", "/root/.aws/credentials"]),
            rule: "Find AWS Credentials",
            priority: "Warning",
            fields: vec![("proc.name", "find".into())],
        },
        Behaviour {
            name: "shred",
            argv: s(&["shred", "-u", &d("victim")]),
            rule: "Remove Bulk Data from Disk",
            priority: "Warning",
            fields: vec![("proc.name", "shred".into())],
        },
        Behaviour {
            name: "directory traversal open",
            argv: s(&["cat", "/etc/../etc/../etc/passwd"]),
            rule: "Directory traversal monitored file read",
            priority: "Warning",
            fields: vec![("fd.nameraw", "/etc/../etc/../etc/passwd".into())],
        },
        Behaviour {
            name: "exec from /dev/shm",
            argv: s(&["/dev/shm/peregrine-e2e-true"]),
            rule: "Execution from /dev/shm",
            priority: "Warning",
            fields: vec![("proc.exepath", "/dev/shm/peregrine-e2e-true".into())],
        },
        Behaviour {
            name: "memfd exec",
            argv: py(&format!(
                "import os; f = os.memfd_create('pe2e'); os.write(f, open('{true_bin}', 'rb').read()); \
                 os.execv('/proc/self/fd/%d' % f, ['pe2e'])"
            )),
            rule: "Fileless execution via memfd_create",
            priority: "Critical",
            fields: vec![("proc.exepath", "/memfd:pe2e".into())],
        },
        Behaviour {
            name: "ptrace attach",
            argv: py(PTRACE_ATTACH),
            rule: "PTRACE attached to process",
            priority: "Warning",
            fields: vec![py_cmdline(PTRACE_ATTACH)],
        },
        Behaviour {
            name: "ptrace traceme",
            argv: py(TRACEME),
            rule: "PTRACE anti-debug attempt",
            priority: "Notice",
            fields: vec![py_cmdline(TRACEME)],
        },
        Behaviour {
            name: "shell spawned by a web server",
            // A process named nginx (a link to Python) runs a shell.
            argv: s(&[
                &d("nginx"),
                "-c",
                "import subprocess; subprocess.run(['/bin/sh', '-c', 'true'])",
            ]),
            rule: "Run shell untrusted",
            priority: "Notice",
            fields: vec![("proc.pname", "nginx".into()), ("proc.cmdline", "sh -c true".into())],
        },
        Behaviour {
            name: "truncate a log",
            argv: py("open('/var/log/peregrine-e2e.log', 'w').close()"),
            rule: "Clear Log Activities",
            priority: "Warning",
            fields: vec![("fd.name", "/var/log/peregrine-e2e.log".into())],
        },
    ]
}

#[test]
fn falco_rules_detect_host_behaviours() {
    if !peregrine_testkit::e2e_root("falco_rules_detect_host_behaviours")
        || peregrine_testkit::upstream::require("falco_rules_detect_host_behaviours").is_none()
    {
        return;
    }
    let dir = scratch("e2e-live");
    std::fs::create_dir_all(dir.join("keys")).expect("keys dir");
    std::fs::write(dir.join("victim"), "data").expect("victim");
    std::os::unix::fs::symlink("/usr/bin/python3", dir.join("nginx")).expect("nginx link");
    std::fs::copy("/usr/bin/true", "/dev/shm/peregrine-e2e-true").expect("copy to /dev/shm");
    let rules = upstream().join("rules/falco_rules.yaml");
    let mut agent = Agent::start(&rules, &["-o", "json_output=true"]);

    let mut outcomes = Vec::new();
    let hardlink = same_fs_as_etc(&dir)
        .join(format!(".peregrine-e2e-live-{}", std::process::id()))
        .display()
        .to_string();
    for b in behaviours(&dir, &hardlink) {
        run_on_host(&b.argv);
        let want = Expect {
            rule: b.rule,
            priority: b.priority,
            fields: b
                .fields
                .iter()
                .map(|(k, v)| (*k, Want::Is(v.clone())))
                .collect(),
        };
        let alert = agent.expect_alert(DEADLINE, |v| want.matches(v));
        outcomes.push(Outcome {
            name: b.name.to_string(),
            rule: b.rule,
            latency: alert.map(|a| a.latency),
        });
    }
    // Benign look-alikes must stay quiet: a non-sensitive read, a symlink and a find that
    // look for nothing secret. Their alerts would arrive within milliseconds.
    let benign = [
        s(&["cat", "/etc/hostname"]),
        s(&[
            "ln",
            "-s",
            "/tmp",
            &dir.join("tmp-link").display().to_string(),
        ]),
        s(&[
            "find",
            &dir.join("keys").display().to_string(),
            "-name",
            "notes.txt",
        ]),
    ];
    for argv in &benign {
        run_on_host(argv);
    }
    let cmdlines: Vec<String> = benign.iter().map(|a| a.join(" ")).collect();
    let false_alarms: Vec<String> = agent
        .drain(Duration::from_secs(2))
        .iter()
        .map(|v| v.to_string())
        .filter(|text| cmdlines.iter().any(|c| text.contains(c.as_str())))
        .collect();
    let status = agent.stop();
    let _ = std::fs::remove_file("/dev/shm/peregrine-e2e-true");
    let _ = std::fs::remove_file("/var/log/peregrine-e2e.log");
    let _ = std::fs::remove_file(&hardlink);
    let _ = std::fs::remove_dir_all(&dir);

    let failed = report("e2e live (falco_rules.yaml)", &outcomes);
    let detected = outcomes.len() - failed.len();
    assert!(status.success(), "{status:?}");
    assert!(
        false_alarms.is_empty(),
        "benign commands alerted: {false_alarms:#?}"
    );
    assert!(
        detected >= MIN_DETECTED,
        "{detected} behaviours detected, fewer than the {MIN_DETECTED} before"
    );
}
