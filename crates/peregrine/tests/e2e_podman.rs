//! End to end inside a real podman container, as root: two agents run side by side, one
//! with the embedded default rules and one with Falco's `falco_rules.yaml` loaded unchanged,
//! while attack behaviours run in one container (`podman exec`). Each behaviour must raise
//! its exact alert in the default agent with the container's name and image in the output
//! fields, and, where falco_rules.yaml has a matching rule, Falco's alert in the other.
//!
//! The image is built locally from busybox-static (no registry here). Container metadata is
//! looked up asynchronously through podman's API, so the test first repeats a harmless
//! detection (a read of the image's /etc/shadow) until an alert names the container: the
//! behaviours after it then see resolved metadata whatever the machine's load.
//!
//! The Falco agent runs as a Falco host would: `falco_rules.yaml` with Falco's stock
//! `falco.yaml` (`-c`). Falco 0.44's rule outputs do not print container fields; the stock
//! file's `append_output: suggested_output: true` adds them, so each of its alerts must name
//! the container (id, name, image repository) in its output fields and end its text with
//! them.

mod common;
mod e2e_harness;

use common::upstream;
use e2e_harness::podman::{self, ApiService, Container, API_SOCKET};
use e2e_harness::{report, scratch, Agent, Expect, Outcome, Want};
use std::path::Path;
use std::time::{Duration, Instant};

/// The image's repository; its tag is a hash of the recipe, so an image left by a run with
/// another recipe is never reused.
const IMAGE: &str = "localhost/pg-e2e";
/// The applets linked in the image; `apk` is busybox under a package manager's name (it
/// only prints "applet not found"), which is what the rule keys on: the process name.
const APPLETS: &[&str] = &["sh", "cat", "sleep", "true", "nc", "cp", "arping", "apk"];
const SHADOW: &str = "root:*:19000:0:99999:7:::\n";
const DEADLINE: Duration = Duration::from_secs(10);

/// `IMAGE:<FNV-1a hash of the applets and files>`.
fn image_ref() -> String {
    let recipe = format!("{APPLETS:?}{SHADOW}");
    let hash = recipe.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{IMAGE}:{hash:016x}")
}

/// One behaviour: a `podman exec` and the alerts it must raise.
struct Behaviour {
    name: &'static str,
    exec_args: &'static [&'static str],
    cmd: Vec<String>,
    default: Expect,
    /// The alert Falco's rules raise, when falco_rules.yaml has a rule for it.
    falco: Option<Expect>,
}

fn is(v: impl Into<String>) -> Want {
    Want::Is(v.into())
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

/// What the default rules must print about the container, plus `more`.
fn in_container(name: &str, more: Vec<(&'static str, Want)>) -> Vec<(&'static str, Want)> {
    let mut v = vec![
        ("container.name", is(name)),
        ("container.image.repository", is(IMAGE)),
    ];
    v.extend(more);
    v
}

fn behaviours(name: &str, tag: &str) -> Vec<Behaviour> {
    let shell_cmd = format!("true {tag}");
    vec![
        Behaviour {
            name: "shell with a terminal",
            exec_args: &["-t"],
            cmd: s(&["sh", "-c", &shell_cmd]),
            default: Expect {
                rule: "Interactive shell in container",
                priority: "Notice",
                fields: in_container(
                    name,
                    vec![
                        ("proc.name", is("sh")),
                        ("proc.cmdline", is(format!("sh -c {shell_cmd}"))),
                    ],
                ),
            },
            falco: Some(Expect {
                rule: "Terminal shell in container",
                priority: "Notice",
                fields: vec![("proc.cmdline", is(format!("sh -c {shell_cmd}")))],
            }),
        },
        Behaviour {
            name: "package manager (apk)",
            exec_args: &[],
            cmd: s(&["apk", "add", tag]),
            default: Expect {
                rule: "Package manager run in container",
                priority: "Error",
                fields: in_container(name, vec![("proc.cmdline", is(format!("apk add {tag}")))]),
            },
            // falco_rules.yaml has no package-manager rule (it is in the incubating file).
            falco: None,
        },
        Behaviour {
            name: "nc -e",
            exec_args: &[],
            cmd: s(&["nc", "-w", "1", "-e", "/bin/true", "127.0.0.1", "9"]),
            default: Expect {
                rule: "Network tool run in container",
                priority: "Warning",
                fields: in_container(
                    name,
                    vec![
                        ("proc.name", is("nc")),
                        ("proc.cmdline", is("nc -w 1 -e /bin/true 127.0.0.1 9")),
                    ],
                ),
            },
            falco: Some(Expect {
                rule: "Netcat Remote Code Execution in Container",
                priority: "Warning",
                fields: vec![("proc.cmdline", is("nc -w 1 -e /bin/true 127.0.0.1 9"))],
            }),
        },
        Behaviour {
            name: "reverse shell: nc -e hands its socket to a program",
            exec_args: &[],
            // A listener and a connector, both `nc -e`, on the container's loopback; the
            // connector retries until the listener is up. `/bin/nc` by path: busybox's shell
            // would run a bare `nc` as /proc/self/exe, whose process name is "exe".
            cmd: s(&[
                "sh",
                "-c",
                "/bin/nc -l -p 4444 -e /bin/true & \
                 for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do \
                 /bin/nc 127.0.0.1 4444 -e /bin/true && break; sleep 0.2; done; wait",
            ]),
            default: Expect {
                rule: "Standard stream redirected to a socket",
                priority: "Critical",
                fields: in_container(name, vec![("proc.name", is("nc"))]),
            },
            falco: Some(Expect {
                rule: "Redirect STDOUT/STDIN to Network Connection in Container",
                priority: "Notice",
                fields: vec![("proc.name", is("nc"))],
            }),
        },
        Behaviour {
            name: "AF_PACKET socket",
            exec_args: &[],
            cmd: s(&["arping", "-c", "1", "-w", "1", "-I", "lo", "127.0.0.1"]),
            default: Expect {
                rule: "Packet socket created in container",
                priority: "Warning",
                fields: in_container(name, vec![("proc.name", is("arping"))]),
            },
            falco: Some(Expect {
                rule: "Packet socket created in container",
                priority: "Notice",
                fields: vec![("proc.name", is("arping"))],
            }),
        },
        Behaviour {
            name: "binary dropped into the upper layer and run",
            exec_args: &[],
            cmd: s(&[
                "sh",
                "-c",
                &format!("cp /bin/busybox /{tag} && /{tag} true"),
            ]),
            default: Expect {
                rule: "Dropped binary executed in container",
                priority: "Critical",
                fields: in_container(name, vec![("proc.exepath", is(format!("/{tag}")))]),
            },
            falco: Some(Expect {
                rule: "Drop and execute new binary in container",
                priority: "Critical",
                fields: vec![("proc.exepath", is(format!("/{tag}")))],
            }),
        },
    ]
}

/// Reads the image's /etc/shadow until the default agent's alert names the container (its
/// metadata resolved), at most 60 s; the latency of the first such alert, or None.
fn sensitive_read_once_resolved(agent: &mut Agent, c: &Container) -> Option<Duration> {
    let want = Expect {
        rule: "Credential file opened for reading",
        priority: "Warning",
        fields: in_container(
            &c.name,
            vec![("fd.name", is("/etc/shadow")), ("proc.name", is("cat"))],
        ),
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        let _ = c.exec(&[], &["cat", "/etc/shadow"]);
        if let Some(a) = agent.expect_alert(Duration::from_secs(3), |v| want.matches(v)) {
            return Some(a.latency);
        }
    }
    None
}

#[test]
fn behaviours_in_a_podman_container() {
    if !peregrine_testkit::e2e_root("behaviours_in_a_podman_container")
        || peregrine_testkit::upstream::require("behaviours_in_a_podman_container").is_none()
    {
        return;
    }
    if !podman::require("behaviours_in_a_podman_container") {
        return;
    }
    let dir = scratch("e2e-podman");
    let image = image_ref();
    podman::ensure_image(&image, &dir, APPLETS, &[("etc/shadow", SHADOW)]);
    let _api = ApiService::ensure(Path::new(API_SOCKET));
    let tag = format!("pg-e2e-{}", std::process::id());
    let falco_rules = upstream().join("rules/falco_rules.yaml");
    let mut default = Agent::start_default(&["-o", "json_output=true"]);
    let stock = upstream().join("config/falco.yaml");
    let stock = stock.display().to_string();
    // The stock file's syslog log and web server (a fixed port) are off: tests run in
    // parallel on a machine with no syslog daemon.
    let mut falco = Agent::start(
        &falco_rules,
        &[
            "-c",
            &stock,
            "-o",
            "json_output=true",
            "-o",
            "log_syslog=false",
            "-o",
            "syslog_output.enabled=false",
            "-o",
            "webserver.enabled=false",
        ],
    );
    // NET_RAW for the packet socket; no network: nothing here needs one.
    let c = Container::run(
        &tag,
        &["--network", "none", "--cap-add", "NET_RAW"],
        &image,
        &["sleep", "300"],
    );

    let mut ours = vec![Outcome {
        name: "read /etc/shadow (metadata resolved)".into(),
        rule: "Credential file opened for reading",
        latency: sensitive_read_once_resolved(&mut default, &c),
    }];
    let mut theirs = Vec::new();
    let image_tag = image.rsplit(':').next().unwrap_or_default().to_string();
    let short_id: String = c.id.chars().take(12).collect();
    let suggested = format!(
        " container_id={short_id} container_name={} container_image_repository={IMAGE} \
         container_image_tag={image_tag} k8s_pod_name=<NA> k8s_ns_name=<NA>",
        c.name
    );
    for mut b in behaviours(&c.name, &tag) {
        if let Some(want) = b.falco.as_mut() {
            want.fields.extend([
                ("container.id", is(short_id.clone())),
                ("container.name", is(c.name.clone())),
                ("container.image.repository", is(IMAGE)),
            ]);
        }
        let cmd: Vec<&str> = b.cmd.iter().map(String::as_str).collect();
        let out = c.exec(b.exec_args, &cmd);
        let seen = default.expect_alert(DEADLINE, |v| b.default.matches(v));
        if seen.is_none() {
            println!(
                "missed {} (exec {:?}): {}",
                b.name,
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        ours.push(Outcome {
            name: b.name.to_string(),
            rule: b.default.rule,
            latency: seen.map(|a| a.latency),
        });
        if let Some(want) = &b.falco {
            theirs.push(Outcome {
                name: b.name.to_string(),
                rule: want.rule,
                latency: falco
                    .expect_alert(DEADLINE, |v| {
                        want.matches(v)
                            && v["output"]
                                .as_str()
                                .is_some_and(|o| o.ends_with(&suggested))
                    })
                    .map(|a| a.latency),
            });
        }
    }
    drop(c);
    let st_default = default.stop();
    let st_falco = falco.stop();
    let _ = std::fs::remove_dir_all(&dir);

    let failed = report("e2e podman (default rules)", &ours);
    let failed_falco = report("e2e podman (falco_rules.yaml)", &theirs);
    assert!(st_default.success(), "{st_default:?}");
    assert!(st_falco.success(), "{st_falco:?}");
    assert!(failed.is_empty(), "default rules missed: {failed:?}");
    assert!(
        failed_falco.is_empty(),
        "falco_rules.yaml missed: {failed_falco:?}"
    );
}
