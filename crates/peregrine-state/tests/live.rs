//! Live tests (root): real processes, captured by the eBPF programs, applied to a state seeded
//! from /proc, checked through the same `FieldSource` rules use. Without root they skip
//! with one line; the container tests are in the e2e tier (`peregrine_testkit::e2e_root`).
//!
//! The capture is system-wide (a process tree spans several thread groups), so each test picks
//! its own events out by marker paths and pids, and waits a bounded number of polls for them.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::Duration;

use peregrine_capture::{Capture, CaptureConfig};
use peregrine_event::{Event, EventType, EventTypeSet, SockTuple, Value};
use peregrine_filter::fields::{info, resolve_text};
use peregrine_filter::format::render_value;
use peregrine_filter::{Extracted, FieldSource};
use peregrine_state::{containerd, State, StateConfig};
use peregrine_testkit::containerd::Containerd;

fn capture() -> Capture {
    let names = [
        "clone", "clone3", "fork", "vfork", "execve", "execveat", "open", "openat", "openat2",
        "close", "chdir", "fchdir", "socket", "connect", "dup2", "dup3",
    ];
    let set: EventTypeSet = names
        .iter()
        .filter_map(|n| EventType::from_name(n))
        .collect();
    Capture::open(&CaptureConfig {
        ring_bytes: 16 << 20,
        priority_ring_bytes: CaptureConfig::default().priority_ring_bytes,
        syscalls: set,
        procexit: true,
        only_tgid: None,
        exclude_self: true,
    })
    .expect("capture opens")
}

fn render(state: &mut State, ev: &Event<'_>, field: &str) -> String {
    let req = resolve_text(field).expect("field");
    let mut out = Extracted::default();
    state.source(ev).extract(&req, &mut out);
    let vals: Vec<String> = out
        .iter()
        .map(|v| {
            let mut s = String::new();
            render_value(info(req.id), v, &mut s);
            s
        })
        .collect();
    if vals.is_empty() {
        "<NA>".into()
    } else {
        vals.join(",")
    }
}

/// Feeds every captured event to the state; when `pick` accepts an event, records `fields`
/// for it. Stops when `pick` has matched or after a bounded number of polls.
fn collect(
    cap: &mut Capture,
    state: &mut State,
    fields: &[&str],
    mut pick: impl FnMut(&Event<'_>) -> bool,
) -> Option<Vec<(String, String)>> {
    let mut found = None;
    for _ in 0..1000 {
        cap.poll(Duration::from_millis(5), |ev| {
            state.update(ev);
            if found.is_none() && pick(ev) {
                found = Some(
                    fields
                        .iter()
                        .map(|f| (f.to_string(), render(state, ev, f)))
                        .collect::<Vec<_>>(),
                );
            }
        })
        .expect("poll");
        if found.is_some() {
            break;
        }
    }
    found
}

fn str_param(ev: &Event<'_>, name: &str) -> Option<String> {
    match ev.param(name)? {
        Ok(Value::Str(b)) => Some(String::from_utf8_lossy(b).into_owned()),
        _ => None,
    }
}

fn get<'a>(vals: &'a [(String, String)], f: &str) -> &'a str {
    vals.iter()
        .find(|(k, _)| k == f)
        .map(|(_, v)| v.as_str())
        .unwrap_or("")
}

fn seeded() -> State {
    let mut state = State::new(StateConfig::default());
    let n = state.seed_from_proc().expect("proc scan");
    assert!(n > 1, "seeded {n} processes");
    state
}

#[test]
fn three_level_tree_and_relative_open_after_chdir() {
    if !peregrine_testkit::live("three_level_tree_and_relative_open_after_chdir") {
        return;
    }
    let dir = format!("/tmp/pg-state-live-{}", std::process::id());
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(format!("{dir}/rel.txt"), "x").expect("write");
    let mut state = seeded();
    let mut cap = capture();
    // test → sh → sh → cat; `; true` stops the shells from exec'ing their last command.
    let inner = format!("cd {dir} && cat rel.txt; true");
    let mut child = Command::new("/bin/sh")
        .arg("-c")
        .arg(format!("/bin/sh -c '{inner}'; true"))
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn");
    let me = std::fs::read_to_string("/proc/self/comm").expect("comm");
    let vals = collect(
        &mut cap,
        &mut state,
        &[
            "fd.name",
            "fd.nameraw",
            "fd.directory",
            "proc.name",
            "proc.cwd",
            "proc.cmdline",
            "proc.aname[1]",
            "proc.aname[2]",
            "proc.aname[3]",
            "proc.pcmdline",
            "proc.exepath",
            "container.id",
        ],
        |ev| ev.name() == "openat" && str_param(ev, "name").as_deref() == Some("rel.txt"),
    );
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    let vals = vals.expect("saw cat open rel.txt");
    assert_eq!(get(&vals, "fd.name"), format!("{dir}/rel.txt"), "{vals:?}");
    assert_eq!(get(&vals, "fd.nameraw"), "rel.txt");
    assert_eq!(get(&vals, "fd.directory"), dir);
    assert_eq!(get(&vals, "proc.name"), "cat");
    assert_eq!(get(&vals, "proc.cwd"), format!("{dir}/"));
    assert_eq!(get(&vals, "proc.cmdline"), "cat rel.txt");
    assert_eq!(get(&vals, "proc.exepath"), "/usr/bin/cat");
    assert_eq!(get(&vals, "proc.aname[1]"), "sh");
    assert_eq!(get(&vals, "proc.aname[2]"), "sh");
    assert_eq!(get(&vals, "proc.aname[3]"), me.trim_end());
    assert_eq!(get(&vals, "proc.pcmdline"), format!("sh -c {inner}"));
    assert_ne!(get(&vals, "container.id"), "<NA>");
    assert_eq!(state.counters().malformed, 0);
}

#[test]
fn tcp_connection_fd_name() {
    if !peregrine_testkit::live("tcp_connection_fd_name") {
        return;
    }
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let server = std::thread::spawn(move || {
        let (mut s, peer) = listener.accept().expect("accept");
        let mut b = [0u8; 8];
        let _ = s.read(&mut b);
        peer.port()
    });
    let mut state = seeded();
    let mut cap = capture();
    let mut child = Command::new("/bin/bash")
        .arg("-c")
        .arg(format!(
            "exec 3<>/dev/tcp/127.0.0.1/{port}; echo hi >&3; true"
        ))
        .spawn()
        .expect("spawn");
    let pid = child.id();
    let vals = collect(
        &mut cap,
        &mut state,
        &[
            "fd.name",
            "fd.sport",
            "fd.cport",
            "fd.sip",
            "fd.l4proto",
            "fd.type",
            "fd.is_server",
            "proc.name",
        ],
        // bash may first try a unix socket (nscd via getaddrinfo): pick the TCP connect.
        |ev| {
            ev.name() == "connect"
                && ev.pid() == pid
                && matches!(
                    ev.param("tuple"),
                    Some(Ok(Value::SockTuple(SockTuple::Inet { dst, .. }))) if dst.1 == port
                )
        },
    );
    let _ = child.wait();
    let client_port = server.join().expect("server thread");
    let vals = vals.expect("saw connect");
    assert_eq!(
        get(&vals, "fd.name"),
        format!("127.0.0.1:{client_port}->127.0.0.1:{port}"),
        "{vals:?}"
    );
    assert_eq!(get(&vals, "fd.sport"), port.to_string());
    assert_eq!(get(&vals, "fd.cport"), client_port.to_string());
    assert_eq!(get(&vals, "fd.sip"), "127.0.0.1");
    assert_eq!(get(&vals, "fd.l4proto"), "tcp");
    assert_eq!(get(&vals, "fd.type"), "ipv4");
    assert_eq!(get(&vals, "fd.is_server"), "false");
    assert_eq!(get(&vals, "proc.name"), "bash");
}

#[test]
fn process_started_before_the_agent() {
    if !peregrine_testkit::live("process_started_before_the_agent") {
        return;
    }
    let script = "read x; cat /etc/hostname; true";
    let mut old = Command::new("/bin/sh")
        .arg("-c")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn");
    let old_pid = old.id();
    // Give the shell time to exec and block in read before seeding (bounded wait, no assertion
    // on time: the loop only ends early).
    for _ in 0..200 {
        let comm = std::fs::read_to_string(format!("/proc/{old_pid}/comm")).unwrap_or_default();
        if comm.trim_end() == "sh" {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut state = seeded();
    assert_eq!(
        state.process(i64::from(old_pid)).map(|p| &*p.comm),
        Some("sh")
    );
    let mut cap = capture();
    if let Some(mut stdin) = old.stdin.take() {
        let _ = stdin.write_all(b"go\n");
    }
    let vals = collect(
        &mut cap,
        &mut state,
        &[
            "proc.name",
            "proc.pname",
            "proc.ppid",
            "proc.pcmdline",
            "proc.pexepath",
            "fd.name",
        ],
        |ev| ev.name() == "openat" && str_param(ev, "name").as_deref() == Some("/etc/hostname"),
    );
    let _ = old.wait();
    let vals = vals.expect("saw cat open /etc/hostname");
    assert_eq!(get(&vals, "proc.name"), "cat", "{vals:?}");
    assert_eq!(get(&vals, "proc.pname"), "sh");
    assert_eq!(get(&vals, "proc.ppid"), old_pid.to_string());
    assert_eq!(get(&vals, "proc.pcmdline"), format!("sh -c {script}"));
    assert_eq!(get(&vals, "proc.pexepath"), "/usr/bin/dash");
    assert_eq!(get(&vals, "fd.name"), "/etc/hostname");
}

// The image recipe, API service and container guard are shared with the binary's e2e tests.
use peregrine_testkit::podman;

#[test]
fn podman_container_id_name_image_label() {
    if !peregrine_testkit::e2e_root("podman_container_id_name_image_label") {
        return;
    }
    if !podman::require("podman_container_id_name_image_label") {
        return;
    }
    let dir = std::env::temp_dir().join(format!("pg-state-podman-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    // busybox-static, a marker file, passwd/group.
    podman::ensure_image(
        "localhost/pg-busybox",
        &dir,
        &["sh", "cat", "sleep"],
        &[("pg-marker", "marker\n")],
    );
    let service = podman::ApiService::ensure(&dir.join("api.sock"));
    let mut state = State::new(StateConfig {
        container_sockets: vec![service.socket.clone()],
        ..StateConfig::default()
    });
    state.seed_from_proc().expect("proc scan");
    let mut cap = capture();
    let name = format!("pg-state-live-{}", std::process::id());
    let container = podman::Container::run(
        &name,
        &["--label", "pgtest=yes"],
        "localhost/pg-busybox",
        &["sh", "-c", "sleep 2; cat /pg-marker; true"],
    );
    let full_id = container.id.clone();
    let vals = collect(
        &mut cap,
        &mut state,
        &[
            "container.id",
            "container.full_id",
            "container.name",
            "container.image",
            "container.image.repository",
            "container.image.tag",
            "container.label.pgtest",
            "container.type",
            "proc.name",
            "proc.exe",
            "user.name",
            "user.shell",
            "fd.name",
        ],
        |ev| ev.name() == "openat" && str_param(ev, "name").as_deref() == Some("/pg-marker"),
    );
    drop(container);
    drop(service);
    let _ = std::fs::remove_dir_all(&dir);
    let vals = vals.expect("saw the container open /pg-marker");
    assert_eq!(get(&vals, "container.id"), &full_id[..12], "{vals:?}");
    assert_eq!(get(&vals, "container.full_id"), full_id);
    assert_eq!(get(&vals, "container.type"), "podman");
    assert_eq!(get(&vals, "container.name"), name);
    assert_eq!(get(&vals, "container.image"), "localhost/pg-busybox:latest");
    assert_eq!(
        get(&vals, "container.image.repository"),
        "localhost/pg-busybox"
    );
    assert_eq!(get(&vals, "container.image.tag"), "latest");
    assert_eq!(get(&vals, "container.label.pgtest"), "yes");
    // busybox runs applets by re-executing /proc/self/exe, so the kernel's comm is "exe"
    // (Falco shows the same); argv[0] is the applet.
    assert_eq!(get(&vals, "proc.name"), "exe");
    assert_eq!(get(&vals, "proc.exe"), "cat");
    assert_eq!(get(&vals, "fd.name"), "/pg-marker");
    assert_eq!(get(&vals, "user.name"), "root");
    // The image's /etc/passwd, not the host's: the runtime's init is in the container's
    // cgroup before it enters the container's root, and the host's files read then must not
    // stand for the container's users.
    assert_eq!(get(&vals, "user.shell"), "/bin/sh");
}

/// containerd without a Docker API: metadata comes from the OCI bundle that runc's state points
/// to. The annotations are the ones containerd's CRI plugin writes for a Kubernetes pod; the
/// pod labels come from the pod sandbox's record in containerd's database (namespace
/// `k8s.io`), asked through containerd's containers API. The sandbox here is a record without
/// a task, labelled as the CRI plugin labels one (pod labels plus `io.cri-containerd.kind`).
#[test]
fn containerd_container_metadata_from_the_oci_bundle() {
    if !peregrine_testkit::e2e_root("containerd_container_metadata_from_the_oci_bundle") {
        return;
    }
    if !peregrine_testkit::containerd::available() {
        peregrine_testkit::skip(
            "containerd_container_metadata_from_the_oci_bundle",
            "no containerd",
        );
        return;
    }
    let dir = std::env::temp_dir().join(format!("pg-state-ctrd-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let rootfs = dir.join("rootfs");
    // Its own marker: the podman test runs in parallel and opens /pg-marker.
    podman::busybox_rootfs(
        &rootfs,
        &["sh", "cat", "sleep"],
        &[("pg-ctrd-marker", "marker\n")],
    );
    let daemon = Containerd::start(&dir);
    // A 64-hex id, as the kubelet's are: that is what the cgroup path `/default/<id>` shows.
    let id = format!(
        "{:064x}",
        u128::from(std::process::id()) << 64 | 0x9e37_79b9_7f4a_7c15
    );
    let sandbox = format!(
        "{:064x}",
        u128::from(std::process::id()) << 64 | 0x5a4d_b0c5_0000_0001
    );
    let created = daemon
        .ctr()
        .args(["-n", "k8s.io", "containers", "create", "--rootfs"])
        .args(["--label", "app=checkout"])
        .args(["--label", "tier=web"])
        .args(["--label", "io.kubernetes.pod.name=checkout-7f9c"])
        .args(["--label", "io.cri-containerd.kind=sandbox"])
        .arg(&rootfs)
        .arg(&sandbox)
        .arg("/bin/sh")
        .output()
        .expect("ctr containers create");
    assert!(
        created.status.success(),
        "sandbox record: {}",
        String::from_utf8_lossy(&created.stderr)
    );
    // The client on its own: the record as containerd keeps it, and no record for an unknown id.
    let ask = |id: &str| {
        containerd::get_container(
            &daemon.sock,
            containerd::CRI_NAMESPACE,
            id,
            Duration::from_secs(10),
        )
    };
    let record = ask(&sandbox).expect("call").expect("the sandbox record");
    assert_eq!(record.id, sandbox);
    assert!(record
        .labels
        .contains(&("io.cri-containerd.kind".into(), "sandbox".into())));
    assert!(ask(&id).expect("call").is_none(), "no record yet");
    let mut state = State::new(StateConfig {
        container_sockets: Vec::new(),
        containerd_sockets: vec![daemon.sock.clone()],
        ..StateConfig::default()
    });
    state.seed_from_proc().expect("proc scan");
    let mut cap = capture();
    let mut run = daemon
        .ctr()
        .args(["run", "--rootfs"])
        .args(["--annotation", "io.kubernetes.cri.container-type=container"])
        .args(["--annotation", "io.kubernetes.cri.container-name=api"])
        .args([
            "--annotation",
            "io.kubernetes.cri.image-name=registry.local/shop/api:1.4.2",
        ])
        .args([
            "--annotation",
            "io.kubernetes.cri.sandbox-name=checkout-7f9c",
        ])
        .args(["--annotation", "io.kubernetes.cri.sandbox-namespace=prod"])
        .args([
            "--annotation",
            &format!("io.kubernetes.cri.sandbox-id={sandbox}"),
        ])
        .args([
            "--annotation",
            "io.kubernetes.cri.sandbox-uid=0c5e1b6f-6c09-4a6a-9a47-3e6d0d1c2b3a",
        ])
        .args(["--label", "app=web"])
        .arg(&rootfs)
        .arg(&id)
        .args(["/bin/sh", "-c", "sleep 2; cat /pg-ctrd-marker; true"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ctr run");
    let vals = collect(
        &mut cap,
        &mut state,
        &[
            "container.id",
            "container.full_id",
            "container.type",
            "container.name",
            "container.image.repository",
            "container.image.tag",
            "container.label.app",
            "k8s.pod.name",
            "k8s.ns.name",
            "k8s.pod.uid",
            "k8s.pod.sandbox_id",
            "k8s.pod.labels",
            "k8s.pod.label[app]",
            "k8s.pod.label.tier",
            "k8s.pod.label[io.kubernetes.pod.name]",
            "fd.name",
        ],
        |ev| ev.name() == "openat" && str_param(ev, "name").as_deref() == Some("/pg-ctrd-marker"),
    );
    let status = run.wait();
    let mut err = String::new();
    if let Some(mut e) = run.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    let _ = daemon.ctr().args(["container", "rm", &id]).output();
    let _ = daemon
        .ctr()
        .args(["-n", "k8s.io", "container", "rm", &sandbox])
        .output();
    let counters = state.counters();
    drop(daemon);
    let vals =
        vals.unwrap_or_else(|| panic!("saw the container open its marker: {status:?} {err}"));
    assert_eq!(get(&vals, "container.full_id"), id, "{vals:?}");
    assert_eq!(get(&vals, "container.id"), &id[..12]);
    assert_eq!(get(&vals, "container.type"), "containerd");
    assert_eq!(get(&vals, "container.name"), "api");
    assert_eq!(
        get(&vals, "container.image.repository"),
        "registry.local/shop/api"
    );
    assert_eq!(get(&vals, "container.image.tag"), "1.4.2");
    assert_eq!(get(&vals, "container.label.app"), "web");
    assert_eq!(get(&vals, "k8s.pod.name"), "checkout-7f9c");
    assert_eq!(get(&vals, "k8s.ns.name"), "prod");
    assert_eq!(
        get(&vals, "k8s.pod.uid"),
        "0c5e1b6f-6c09-4a6a-9a47-3e6d0d1c2b3a"
    );
    assert_eq!(get(&vals, "k8s.pod.sandbox_id"), &sandbox[..12]);
    // Falco's rendering: sorted, the kubelet's io.kubernetes.* keys and the CRI plugin's
    // io.cri-containerd.* bookkeeping left out.
    assert_eq!(get(&vals, "k8s.pod.labels"), "app:checkout, tier:web");
    assert_eq!(get(&vals, "k8s.pod.label[app]"), "checkout");
    assert_eq!(get(&vals, "k8s.pod.label.tier"), "web");
    assert_eq!(
        get(&vals, "k8s.pod.label[io.kubernetes.pod.name]"),
        "checkout-7f9c"
    );
    assert_eq!(get(&vals, "fd.name"), "/pg-ctrd-marker");
    // The workload's metadata and its pod's sandbox record: two lookups answered.
    assert!(counters.container_lookups >= 2, "{counters:?}");
}
