//! A private containerd for tests: its own root, state directory and socket in a scratch
//! directory, started with the CRI plugin off and killed (its directory removed) on drop; `ctr`
//! talks to it through [`Containerd::ctr`].
//!
//! Its shim keeps runc's state where containerd's always does, `/run/containerd/runc/<ns>`,
//! whatever the daemon's state directory: that is where the agent looks for it too.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Whether `containerd` and `ctr` are installed and run.
pub fn available() -> bool {
    ["containerd", "ctr"].iter().all(|tool| {
        Command::new(tool)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|st| st.success())
    })
}

/// A containerd daemon of the test's own, killed on drop.
pub struct Containerd {
    child: Child,
    dir: PathBuf,
    /// Its API socket.
    pub sock: PathBuf,
}

impl Containerd {
    /// Starts one in `dir` (created by the caller, removed on drop) and waits for its socket.
    pub fn start(dir: &Path) -> Containerd {
        let sock = dir.join("containerd.sock");
        let config = dir.join("config.toml");
        std::fs::write(
            &config,
            format!(
                "version = 2\nroot = \"{0}/root\"\nstate = \"{0}/state\"\n\
                 disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n\
                 [grpc]\n  address = \"{1}\"\n",
                dir.display(),
                sock.display()
            ),
        )
        .expect("containerd config");
        let child = Command::new("containerd")
            .arg("--config")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("containerd");
        for _ in 0..1000 {
            if sock.exists() {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Containerd {
            child,
            dir: dir.to_path_buf(),
            sock,
        }
    }

    /// `ctr` with this daemon's address.
    pub fn ctr(&self) -> Command {
        let mut c = Command::new("ctr");
        c.arg("--address").arg(&self.sock);
        c
    }

    /// The status `ctr task ls` shows for task `id` (`RUNNING`, `PAUSED`, `STOPPED`), if listed.
    pub fn task_status(&self, id: &str) -> Option<String> {
        let out = self.ctr().args(["task", "ls"]).output().ok()?;
        String::from_utf8_lossy(&out.stdout).lines().find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.first() == Some(&id)).then(|| f.get(2).map(|s| s.to_string()))?
        })
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
