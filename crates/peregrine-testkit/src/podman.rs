//! Real podman containers for the live tests: a local image built from busybox-static (there
//! is no registry to pull from), the Docker-compatible API service the agent asks for names
//! and images, and a container that is removed even when the test fails (Drop guards).
//!
//! Used by the binary's e2e tests and `peregrine-state`'s live test, so the image recipe lives
//! in one place.

use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Where the agent looks for podman's API by default.
pub const API_SOCKET: &str = "/run/podman/podman.sock";

/// `podman ARGS…`, its output captured.
pub fn podman<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Output {
    command()
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("podman runs")
}

/// `podman` with the sbin directories on PATH: its network helpers (netavark, iptables) live
/// there, and a minimal environment may lack them.
fn command() -> Command {
    let path = std::env::var("PATH").unwrap_or_default();
    let mut cmd = Command::new("podman");
    cmd.env(
        "PATH",
        format!("{path}:/usr/local/sbin:/usr/sbin:/sbin:/usr/bin:/bin"),
    );
    cmd
}

pub fn available() -> bool {
    command()
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The podman gate, after the tier's: true when podman runs; otherwise one skip line and
/// false.
pub fn require(test: &str) -> bool {
    if available() {
        return true;
    }
    crate::skip(test, "podman is not installed");
    false
}

/// A busybox-static image: `applets` are links to busybox in /bin, `files` are (path in the
/// image, contents); /etc/passwd and /etc/group name root. Imported as `image` unless an
/// image of that name exists. `dir` is scratch space for the root filesystem.
pub fn ensure_image(image: &str, dir: &Path, applets: &[&str], files: &[(&str, &str)]) {
    if podman(&["image", "exists", image]).status.success() {
        return;
    }
    let root = dir.join("rootfs");
    busybox_rootfs(&root, applets, files);
    let mut tar = Command::new("tar")
        .arg("-C")
        .arg(&root)
        .args(["-c", "."])
        .stdout(Stdio::piped())
        .spawn()
        .expect("tar");
    let archive = tar.stdout.take().expect("tar output");
    let st = command()
        .args(["import", "-", image])
        .stdin(archive)
        .stdout(Stdio::null())
        .status()
        .expect("import");
    let tar_ok = tar.wait().is_ok_and(|s| s.success());
    assert!(tar_ok, "tar of the image's root filesystem");
    assert!(st.success(), "podman import {image}");
}

/// The root filesystem behind [`ensure_image`], at `root`: also what other runtimes (runc
/// through `ctr run --rootfs`) run directly.
pub fn busybox_rootfs(root: &Path, applets: &[&str], files: &[(&str, &str)]) {
    for d in ["bin", "etc", "proc", "dev", "sys"] {
        std::fs::create_dir_all(root.join(d)).expect("rootfs");
    }
    std::fs::copy("/bin/busybox", root.join("bin/busybox")).expect("busybox-static");
    for c in applets {
        std::os::unix::fs::symlink("busybox", root.join("bin").join(c)).expect("link");
    }
    let base = [
        ("etc/passwd", "root:x:0:0:croot:/root:/bin/sh\n"),
        ("etc/group", "root:x:0:\n"),
    ];
    for (path, text) in base.iter().chain(files) {
        let p = root.join(path);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("rootfs dir");
        }
        std::fs::write(p, text).expect("rootfs file");
    }
}

/// `podman system service` on a unix socket, stopped on drop; `None` inside when a service
/// already answered there (someone else's, left alone).
pub struct ApiService {
    child: Option<Child>,
    pub socket: PathBuf,
}

impl ApiService {
    /// Serves the API on `socket` unless something already answers there; waits (up to 20 s)
    /// until it does.
    pub fn ensure(socket: &Path) -> ApiService {
        if UnixStream::connect(socket).is_ok() {
            return ApiService {
                child: None,
                socket: socket.to_path_buf(),
            };
        }
        // A socket file nobody listens on is left over from a killed service.
        let _ = std::fs::remove_file(socket);
        if let Some(parent) = socket.parent() {
            std::fs::create_dir_all(parent).expect("socket dir");
        }
        let child = command()
            .args(["system", "service", "--time=0"])
            .arg(format!("unix://{}", socket.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("podman system service");
        let service = ApiService {
            child: Some(child),
            socket: socket.to_path_buf(),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while UnixStream::connect(socket).is_err() {
            assert!(Instant::now() < deadline, "podman API did not come up");
            std::thread::sleep(Duration::from_millis(20));
        }
        service
    }
}

impl Drop for ApiService {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
            let _ = std::fs::remove_file(&self.socket);
        }
    }
}

/// A container by name, force-removed on drop.
pub struct Container {
    pub name: String,
    pub id: String,
}

impl Container {
    /// `podman run -d --name NAME RUN_ARGS… IMAGE CMD…`; panics with podman's message if it
    /// fails.
    pub fn run(name: &str, run_args: &[&str], image: &str, cmd: &[&str]) -> Container {
        let mut args = vec!["run", "-d", "--name", name];
        args.extend_from_slice(run_args);
        args.push(image);
        args.extend_from_slice(cmd);
        // Removed first, so a leftover of a killed run with the same name cannot interfere.
        let _ = podman(&["rm", "-f", "-t", "0", name]);
        let out = podman(&args);
        let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let c = Container {
            name: name.to_string(),
            id,
        };
        assert!(
            out.status.success() && c.id.len() == 64,
            "podman run: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        c
    }

    /// `podman exec [EXEC_ARGS…] NAME CMD…`.
    pub fn exec(&self, exec_args: &[&str], cmd: &[&str]) -> Output {
        let mut args = vec!["exec"];
        args.extend_from_slice(exec_args);
        args.push(&self.name);
        args.extend_from_slice(cmd);
        podman(&args)
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = podman(&["rm", "-f", "-t", "0", &self.name]);
    }
}
