//! End to end as root with the project's embedded default rules (no `-r`): one agent, then
//! one real attack behaviour at a time on the host, each expected to produce its exact alert
//! (rule, priority, key output fields) on the agent's JSON stdout. Every behaviour carries
//! this run's scratch path or tag in its command line or file names, so alerts of other
//! processes on a busy machine cannot be mistaken for it.
//!
//! The deadline per alert is generous (10 s, for a loaded CI machine); the latency actually
//! observed, from the event's kernel timestamp to the moment the alert line was read, is
//! printed per behaviour (the goal is well under a second).

mod common;
mod e2e_harness;

use e2e_harness::{on_host, report, same_fs_as_etc, scratch, Agent, Expect, Outcome, Want};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long one alert may take before the behaviour counts as missed.
const DEADLINE: Duration = Duration::from_secs(10);

/// One behaviour: a command line run in the host's cgroups and the alert it must cause.
struct Behaviour {
    name: &'static str,
    argv: Vec<String>,
    expect: Expect,
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

fn py(code: &str) -> Vec<String> {
    s(&["/usr/bin/python3", "-c", code])
}

fn is(v: impl Into<String>) -> Want {
    Want::Is(v.into())
}

fn has(v: impl Into<String>) -> Want {
    Want::Has(v.into())
}

/// A Python program in a fresh network namespace whose only route sends everything to the
/// loopback device: a non-blocking connect to a public address then reports EINPROGRESS
/// whatever the machine's own network, and no packet leaves it.
fn py_in_netns(code: &str, extra: &[&str]) -> Vec<String> {
    let mut v = s(&[
        "unshare",
        "-n",
        "sh",
        "-c",
        r#"ip link set lo up && ip route add default dev lo && exec /usr/bin/python3 -c "$@""#,
        "sh",
        code,
    ]);
    v.extend(extra.iter().map(|x| x.to_string()));
    v
}

fn behaviours(dir: &Path, link_dir: &Path, tag: &str, port: u16) -> Vec<Behaviour> {
    let d = |name: &str| dir.join(name).display().to_string();
    let marker = d("marker");
    let shm = format!("/dev/shm/{tag}-true");
    let hardlink = link_dir
        .join(format!(".{tag}-shadow-link"))
        .display()
        .to_string();
    let expect = |rule, priority, fields| Expect {
        rule,
        priority,
        fields,
    };
    let ptrace = format!(
        "import ctypes, subprocess, time; p = subprocess.Popen(['sleep', '5']); \
         ctypes.CDLL(None).ptrace(16, p.pid, 0, 0); time.sleep(0.1); p.kill() # {tag}"
    );
    let memfd = format!(
        "import os; f = os.memfd_create('{tag}'); os.write(f, open('/usr/bin/true', 'rb').read()); \
         os.execv('/proc/self/fd/%d' % f, ['{tag}'])"
    );
    let setuid = format!(
        "import ctypes, os; os.setresuid(1000, 1000, 0); ctypes.CDLL(None).setuid(0) # {tag}"
    );
    let pkexec = format!(
        "import ctypes; argv = (ctypes.c_char_p * 1)(None); \
         env = (ctypes.c_char_p * 3)(b'GCONV_PATH=.', b'PATH=GCONV_PATH=.', None); \
         ctypes.CDLL(None).execve(b'{}', argv, env) # {tag}",
        d("pkexec")
    );
    let reverse = format!(
        "import os, socket; s = socket.create_connection(('127.0.0.1', {port})); \
         [os.dup2(s.fileno(), i) for i in (0, 1, 2)] # {tag}"
    );
    let connect = |port: u16| {
        format!(
            "import socket; s = socket.socket(); s.setblocking(False); \
             s.connect_ex(('203.0.113.9', {port})) # {tag}"
        )
    };
    let stratum = connect(3333);
    vec![
        Behaviour {
            name: "read /etc/shadow",
            argv: s(&["cat", "/etc/shadow", &marker]),
            expect: expect(
                "Credential file opened for reading",
                "Warning",
                vec![
                    ("fd.name", is("/etc/shadow")),
                    ("proc.name", is("cat")),
                    ("proc.cmdline", is(format!("cat /etc/shadow {marker}"))),
                ],
            ),
        },
        Behaviour {
            name: "write below /etc",
            argv: py(&format!(
                "import os; p = '/etc/{tag}'; open(p, 'w').close(); os.remove(p)"
            )),
            expect: expect(
                "File below /etc opened for writing",
                "Error",
                vec![
                    ("fd.name", is(format!("/etc/{tag}"))),
                    ("proc.name", is("python3")),
                ],
            ),
        },
        Behaviour {
            name: "write below /usr/local/bin",
            argv: py(&format!(
                "import os; p = '/usr/local/bin/{tag}'; open(p, 'w').close(); os.remove(p)"
            )),
            expect: expect(
                "File below a binary directory opened for writing",
                "Error",
                vec![
                    ("fd.name", is(format!("/usr/local/bin/{tag}"))),
                    ("proc.name", is("python3")),
                ],
            ),
        },
        Behaviour {
            name: "ptrace attach",
            argv: py(&ptrace),
            expect: expect(
                "Process attached with ptrace",
                "Warning",
                vec![
                    ("proc.cmdline", has(tag)),
                    ("evt.arg.request", has("PTRACE_ATTACH")),
                ],
            ),
        },
        Behaviour {
            name: "memfd exec",
            argv: py(&memfd),
            expect: expect(
                "Program executed from memory",
                "Critical",
                vec![("proc.exepath", has(format!("/memfd:{tag}")))],
            ),
        },
        Behaviour {
            name: "exec from /dev/shm",
            argv: vec![shm.clone(), marker.clone()],
            expect: expect(
                "Program executed from shared memory",
                "Warning",
                vec![("proc.exepath", is(shm.clone()))],
            ),
        },
        Behaviour {
            name: "kernel module load attempt",
            argv: py(&format!(
                "import ctypes; ctypes.CDLL(None).syscall(175, None, 0, b'') # {tag}"
            )),
            expect: expect(
                "Kernel module loaded",
                "Warning",
                vec![("evt.type", is("init_module")), ("proc.cmdline", has(tag))],
            ),
        },
        Behaviour {
            name: "shred a file",
            argv: s(&["shred", "-u", &d("victim")]),
            expect: expect(
                "Secure deletion tool run",
                "Warning",
                vec![("proc.cmdline", is(format!("shred -u {}", d("victim"))))],
            ),
        },
        Behaviour {
            name: "truncate .bash_history",
            argv: s(&["truncate", "-s", "0", &d(".bash_history")]),
            expect: expect(
                "Shell history cleared by command",
                "Warning",
                vec![(
                    "proc.cmdline",
                    is(format!("truncate -s 0 {}", d(".bash_history"))),
                )],
            ),
        },
        Behaviour {
            name: "empty .zsh_history with O_TRUNC",
            argv: py(&format!("open('{}', 'w').close()", d(".zsh_history"))),
            expect: expect(
                "Shell history truncated",
                "Warning",
                vec![("fd.name", is(d(".zsh_history")))],
            ),
        },
        Behaviour {
            name: "delete .ash_history",
            argv: s(&["rm", &d(".ash_history")]),
            expect: expect(
                "Shell history deleted",
                "Warning",
                vec![
                    ("evt.args", has(d(".ash_history"))),
                    ("proc.name", is("rm")),
                ],
            ),
        },
        Behaviour {
            name: "truncate a log",
            argv: py(&format!(
                "import os; p = '/var/log/{tag}.log'; open(p, 'w').close(); os.remove(p)"
            )),
            expect: expect(
                "Log file truncated",
                "Warning",
                vec![("fd.name", is(format!("/var/log/{tag}.log")))],
            ),
        },
        Behaviour {
            name: "find id_rsa",
            argv: s(&["find", &d("keys"), "-name", "id_rsa"]),
            expect: expect(
                "Search for credentials",
                "Warning",
                vec![(
                    "proc.cmdline",
                    is(format!("find {} -name id_rsa", d("keys"))),
                )],
            ),
        },
        Behaviour {
            name: "setuid(0) from a user's session",
            // The login uid marks a user's session; it is inherited through exec.
            argv: [
                s(&[
                    "sh",
                    "-c",
                    r#"echo 1000 > /proc/self/loginuid && exec "$@""#,
                    "sh",
                ]),
                py(&setuid),
            ]
            .concat(),
            expect: expect(
                "Non-root process became root with setuid",
                "Critical",
                vec![("proc.cmdline", has(tag)), ("user.loginuid", is("1000"))],
            ),
        },
        Behaviour {
            name: "pkexec with an empty argv (PwnKit)",
            argv: py(&pkexec),
            expect: expect(
                "Pkexec run with an empty argument list",
                "Critical",
                vec![("proc.exepath", is(d("pkexec")))],
            ),
        },
        Behaviour {
            name: "sudoedit -s with a trailing backslash (Baron Samedit)",
            argv: s(&[&d("sudoedit"), "-s", "x\\"]),
            expect: expect(
                "Sudoedit with trailing backslash",
                "Critical",
                vec![("proc.exepath", is(d("sudoedit")))],
            ),
        },
        Behaviour {
            name: "reverse shell: stdin/stdout to a socket",
            argv: py(&reverse),
            expect: expect(
                "Standard stream redirected to a socket",
                "Critical",
                vec![
                    ("proc.cmdline", has(tag)),
                    ("fd.name", has(format!("->127.0.0.1:{port}"))),
                ],
            ),
        },
        Behaviour {
            name: "stratum mining connection",
            argv: py_in_netns(&stratum, &["stratum+tcp://203.0.113.9:3333"]),
            expect: expect(
                "Crypto miner stratum command line",
                "Critical",
                vec![("proc.name", is("python3")), ("proc.cmdline", has(tag))],
            ),
        },
        Behaviour {
            name: "outbound connection to a public address",
            argv: py_in_netns(&connect(443), &[]),
            expect: expect(
                "Outbound connection to a public address from a shell or tool",
                "Notice",
                vec![
                    ("proc.cmdline", has(tag)),
                    ("fd.name", has("->203.0.113.9:443")),
                ],
            ),
        },
        Behaviour {
            name: "unshare a network namespace",
            argv: s(&["unshare", "-n", "true", &marker]),
            expect: expect(
                "Namespace change by unexpected process",
                "Warning",
                vec![
                    ("evt.type", is("unshare")),
                    ("proc.cmdline", is(format!("unshare -n true {marker}"))),
                ],
            ),
        },
        Behaviour {
            name: "symlink to /etc",
            argv: s(&["ln", "-s", "/etc", &d("etc-link")]),
            expect: expect(
                "Link to a sensitive file created",
                "Warning",
                vec![
                    ("evt.type", is("symlinkat")),
                    ("evt.args", has(format!("linkpath={}", d("etc-link")))),
                ],
            ),
        },
        Behaviour {
            name: "hardlink to /etc/shadow",
            argv: s(&["ln", "/etc/shadow", &hardlink]),
            expect: expect(
                "Link to a sensitive file created",
                "Warning",
                vec![
                    ("evt.type", is("linkat")),
                    ("evt.args", has(format!("newpath={hardlink}"))),
                ],
            ),
        },
        Behaviour {
            name: "directory traversal open",
            argv: s(&["cat", "/etc/../etc/../etc/passwd", &marker]),
            expect: expect(
                "Sensitive file opened through a traversing path",
                "Warning",
                vec![
                    ("fd.nameraw", is("/etc/../etc/../etc/passwd")),
                    ("fd.name", is("/etc/passwd")),
                ],
            ),
        },
    ]
}

/// Removes what the behaviours leave outside the scratch directory, even on failure.
struct Cleanup(Vec<PathBuf>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = std::fs::remove_file(p);
            let _ = std::fs::remove_dir_all(p);
        }
    }
}

#[test]
fn default_rules_detect_host_behaviours() {
    if !peregrine_testkit::e2e_root("default_rules_detect_host_behaviours") {
        return;
    }
    let dir = scratch("e2e-default");
    let tag = format!("pg-e2e-{}", std::process::id());
    let link_dir = same_fs_as_etc(&dir);
    let shm = PathBuf::from(format!("/dev/shm/{tag}-true"));
    let _cleanup = Cleanup(vec![
        dir.clone(),
        shm.clone(),
        link_dir.join(format!(".{tag}-shadow-link")),
        PathBuf::from(format!("/etc/{tag}")),
        PathBuf::from(format!("/usr/local/bin/{tag}")),
        PathBuf::from(format!("/var/log/{tag}.log")),
    ]);
    std::fs::create_dir_all(dir.join("keys")).expect("keys dir");
    std::fs::create_dir_all("/usr/local/bin").expect("/usr/local/bin");
    std::fs::write(dir.join("marker"), "marker\n").expect("marker");
    std::fs::write(dir.join("victim"), "data").expect("victim");
    for h in [".bash_history", ".ash_history"] {
        std::fs::write(dir.join(h), "ls\n").expect("history");
    }
    for fake in ["pkexec", "sudoedit"] {
        std::fs::copy("/usr/bin/true", dir.join(fake)).expect("fake setuid program");
    }
    std::fs::copy("/usr/bin/true", &shm).expect("copy to /dev/shm");
    // The reverse shell's far end: connections complete in the backlog, never accepted.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listener");
    let port = listener.local_addr().expect("port").port();

    let mut agent = Agent::start_default(&["-o", "json_output=true"]);
    let mut outcomes = Vec::new();
    for b in behaviours(&dir, &link_dir, &tag, port) {
        let _ = on_host(&b.argv)
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .status();
        let alert = agent.expect_alert(DEADLINE, |v| b.expect.matches(v));
        if alert.is_none() {
            println!("missed {}: {:?}", b.name, b.argv);
        }
        outcomes.push(Outcome {
            name: b.name.to_string(),
            rule: b.expect.rule,
            latency: alert.map(|a| a.latency),
        });
    }
    let status = agent.stop();
    drop(listener);

    let failed = report("e2e live (default rules, host)", &outcomes);
    assert!(status.success(), "{status:?}");
    assert!(
        outcomes.len() >= 15,
        "fewer behaviours than the 15 required"
    );
    assert!(failed.is_empty(), "not detected: {failed:?}");
}
