//! Private instances of real servers for end-to-end tests, from the Debian packages'
//! binaries (`scripts/bootstrap` installs them): each runs in its own temporary directory
//! (configuration, data, log), listens on a loopback port only, is waited for until it
//! answers, and is stopped (and its directory removed) when the [`Service`] is dropped. The
//! packages' own system services are never used or touched.
//!
//! ```no_run
//! let redis = peregrine_testkit::services::redis().expect("redis starts");
//! let addr = redis.addr(); // 127.0.0.1:<port>
//! # let _ = addr;
//! ```
//!
//! Ports are picked by binding port 0 and releasing it just before the server binds it, a
//! small race with other processes that a start-up failure reports with the server's log.
//! Chromium avoids even that: it picks its own port and writes it to `DevToolsActivePort`.

use std::fmt;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How long a server may take to answer on a busy 2-core machine.
const READY: Duration = Duration::from_secs(60);
/// How long a server may take to exit after its stop signal before it is killed.
const STOP: Duration = Duration::from_secs(15);

/// Why a service did not start: names the server and carries its log.
#[derive(Debug)]
pub struct ServiceError(String);

impl fmt::Display for ServiceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ServiceError {}

fn err(name: &str, what: impl fmt::Display) -> ServiceError {
    ServiceError(format!("{name}: {what}"))
}

/// A running private server. Dropping it stops the server (its stop signal, then SIGKILL
/// after a grace period), reaps it, kills any process left that names its directory, and
/// removes the directory.
pub struct Service {
    name: &'static str,
    child: Option<Child>,
    dir: PathBuf,
    port: u16,
    signal: &'static str,
    /// The program, arguments and working directory it was started with, and its readiness
    /// check, for [`Service::restart`].
    program: std::ffi::OsString,
    args: Vec<std::ffi::OsString>,
    cwd: Option<PathBuf>,
    ready: Option<Ready>,
}

/// A server's readiness check.
type Ready = Box<dyn FnMut(&Service) -> bool + Send>;

impl Service {
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The server's process id (the server itself, not a wrapper).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// The loopback port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:port`.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    /// Its private directory (configuration, data, `NAME.log`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// What the server wrote to stdout and stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join(format!("{}.log", self.name))).unwrap_or_default()
    }

    /// The end of [`Service::log`], for error messages.
    fn log_tail(&self) -> String {
        let log = self.log();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// Stops the server now and waits until it and its children are gone.
    pub fn stop(mut self) {
        self.shutdown();
    }

    /// Stops the server (its stop signal, as at the end of a test) and leaves it down, its
    /// directory and port kept, until [`Service::restart`]: an outage for the test to cause.
    pub fn halt(&mut self) {
        self.kill_process();
    }

    /// Freezes the server (SIGSTOP): connections are still accepted by the kernel but never
    /// answered, the outage of a destination that hangs. [`Service::resume`] thaws it.
    pub fn pause(&self) {
        self.send("STOP");
    }

    pub fn resume(&self) {
        self.send("CONT");
    }

    fn send(&self, signal: &str) {
        if let Some(child) = &self.child {
            let _ = Command::new("kill")
                .args(["-s", signal, &child.id().to_string()])
                .stderr(Stdio::null())
                .status();
        }
    }

    /// Starts the server again with the same program, arguments, directory and port (after
    /// [`Service::halt`], or stopping it first), and waits until it answers. Servers that
    /// drop privileges through the spawning process (PostgreSQL) do not restart this way.
    pub fn restart(&mut self) -> Result<(), ServiceError> {
        self.kill_process();
        self.launch()
    }

    /// Spawns the program with its output appended to `NAME.log` (stdin closed), then waits
    /// until it answers.
    fn launch(&mut self) -> Result<(), ServiceError> {
        let name = self.name;
        let log = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(self.dir.join(format!("{name}.log")))
            .map_err(|e| err(name, e))?;
        let log2 = log.try_clone().map_err(|e| err(name, e))?;
        let mut cmd = Command::new(&self.program);
        if let Some(cwd) = &self.cwd {
            cmd.current_dir(cwd);
        }
        let child = cmd
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .spawn()
            .map_err(|e| err(name, format!("{:?}: {e}", self.program)))?;
        self.child = Some(child);
        self.wait_ready()
    }

    /// Polls the readiness check until it answers (or the process exits, or [`READY`]
    /// passes: both errors carry the log).
    fn wait_ready(&mut self) -> Result<(), ServiceError> {
        let mut ready = self.ready.take();
        let end = Instant::now() + READY;
        let result = loop {
            if ready.as_mut().is_none_or(|r| r(self)) {
                break Ok(());
            }
            let exited = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten());
            if let Some(status) = exited {
                break Err(err(
                    self.name,
                    format!("exited ({status}): {}", self.log_tail()),
                ));
            }
            if Instant::now() >= end {
                break Err(err(
                    self.name,
                    format!("not ready within {READY:?}: {}", self.log_tail()),
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        self.ready = ready;
        result
    }

    fn shutdown(&mut self) {
        self.kill_process();
        let _ = std::fs::remove_dir_all(&self.dir);
    }

    fn kill_process(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = Command::new("kill")
            .args(["-s", self.signal, &child.id().to_string()])
            .stderr(Stdio::null())
            .status();
        // A paused server must run to act on its stop signal.
        let _ = Command::new("kill")
            .args(["-s", "CONT", &child.id().to_string()])
            .stderr(Stdio::null())
            .status();
        let end = Instant::now() + STOP;
        while Instant::now() < end && matches!(child.try_wait(), Ok(None)) {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        // Helpers of the server (chromium's renderers, zygote) named our directory.
        let end = Instant::now() + STOP;
        loop {
            let left = processes_naming(&self.dir);
            if left.is_empty() || Instant::now() >= end {
                for pid in left {
                    let _ = Command::new("kill")
                        .args(["-s", "KILL", &pid.to_string()])
                        .stderr(Stdio::null())
                        .status();
                }
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Whether process `pid` exists and is not a zombie.
pub fn running(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z"),
        Err(_) => false,
    }
}

/// Processes (other than this one) whose command line mentions `dir`.
fn processes_naming(dir: &Path) -> Vec<u32> {
    let needle = dir.as_os_str().as_encoded_bytes();
    let me = std::process::id();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| pid != me && running(pid))
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| c.windows(needle.len()).any(|w| w == needle))
        })
        .collect()
}

/// A fresh private directory, world-traversable so a server running as another user (postgres)
/// can reach its own subdirectory.
fn private_dir(name: &str) -> Result<PathBuf, ServiceError> {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "peregrine-kit-{name}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| err(name, format!("{}: {e}", dir.display())))?;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| err(name, e))?;
    Ok(dir)
}

/// A loopback port nobody listens on right now.
fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// The first of `candidates` that exists, or the error bootstrap fixes.
fn binary(name: &str, package: &str, candidates: &[&str]) -> Result<PathBuf, ServiceError> {
    candidates
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .ok_or_else(|| {
            err(
                name,
                format!(
                    "not installed (looked for {}); scripts/bootstrap installs the Debian \
                     package {package}",
                    candidates.join(", ")
                ),
            )
        })
}

/// What starting most servers takes first: the binary (the first of `candidates` that exists),
/// a fresh private directory and a free loopback port.
fn prepare(
    name: &str,
    package: &str,
    candidates: &[&str],
) -> Result<(PathBuf, PathBuf, u16), ServiceError> {
    let bin = binary(name, package, candidates)?;
    Ok((bin, private_dir(name)?, free_port()))
}

/// Writes a server's configuration file.
fn write_config(name: &str, path: &Path, text: impl AsRef<[u8]>) -> Result<(), ServiceError> {
    std::fs::write(path, text).map_err(|e| err(name, format!("{}: {e}", path.display())))
}

/// Readiness: the server accepts a connection.
fn accepts(s: &Service) -> bool {
    connect(s.addr()).is_some()
}

/// Readiness: Prometheus' and Alertmanager's `/-/ready` answers 200.
fn ready_page(s: &Service) -> bool {
    http_get(s.addr(), "/-/ready").is_some_and(|(status, _)| status == 200)
}

/// Spawns `cmd` with its output in `dir/NAME.log` and polls `ready` until it answers (or the
/// process exits, or [`READY`] passes: both errors carry the log).
fn start(
    name: &'static str,
    dir: PathBuf,
    port: u16,
    signal: &'static str,
    cmd: Command,
    ready: impl FnMut(&Service) -> bool + Send + 'static,
) -> Result<Service, ServiceError> {
    let mut service = Service {
        name,
        child: None,
        dir,
        port,
        signal,
        program: cmd.get_program().to_owned(),
        args: cmd.get_args().map(|a| a.to_owned()).collect(),
        cwd: cmd.get_current_dir().map(Path::to_path_buf),
        ready: Some(Box::new(ready)),
    };
    service.launch()?;
    Ok(service)
}

fn connect(addr: SocketAddr) -> Option<TcpStream> {
    let s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.set_write_timeout(Some(Duration::from_secs(5))).ok()?;
    Some(s)
}

/// `GET path` over HTTP/1.1 (`Connection: close`; chromium refuses HTTP/1.0) on `addr`:
/// `(status, body)`, the body read to its `Content-Length` or to the end.
pub fn http_get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    let mut s = connect(addr)?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut r = BufReader::new(s);
    let mut line = String::new();
    r.read_line(&mut line).ok()?;
    let status = line.split_whitespace().nth(1)?.parse().ok()?;
    let mut length = None;
    loop {
        line.clear();
        if r.read_line(&mut line).ok()? == 0 || line.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                length = v.trim().parse::<usize>().ok();
            }
        }
    }
    let mut body = Vec::new();
    match length {
        Some(n) => {
            body.resize(n, 0);
            r.read_exact(&mut body).ok()?;
        }
        None => {
            r.read_to_end(&mut body).ok()?;
        }
    }
    Some((status, String::from_utf8_lossy(&body).into_owned()))
}

/// The first line a server sends on a new connection (NATS's `INFO {…}`).
pub fn greeting(addr: SocketAddr) -> Option<String> {
    let mut line = String::new();
    BufReader::new(connect(addr)?).read_line(&mut line).ok()?;
    Some(line)
}

/// Sends `request` and reads one line of answer (redis's `+PONG`).
pub fn request_line(addr: SocketAddr, request: &[u8]) -> Option<String> {
    let mut s = connect(addr)?;
    s.write_all(request).ok()?;
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line).ok()?;
    Some(line)
}

const NATS: &str = "nats-server";
const NATS_BINARIES: &[&str] = &["/usr/sbin/nats-server", "/usr/bin/nats-server"];

/// `nats-server` with JetStream (its store in the private directory).
pub fn nats() -> Result<Service, ServiceError> {
    nats_with("")
}

/// `nats-server` with JetStream and `extra` appended to its configuration file (a `tls`
/// block, an `authorization` block, …).
pub fn nats_with(extra: &str) -> Result<Service, ServiceError> {
    let (bin, dir, port) = prepare(NATS, NATS, NATS_BINARIES)?;
    nats_node(&bin, dir, port, &format!("{extra}\n"))
}

/// The PEM files of a mutual-TLS set-up (see [`nats_mutual_tls`]), as paths.
pub struct MutualTls {
    /// The server's self-signed certificate (for 127.0.0.1): the clients' CA.
    pub server_crt: String,
    /// The client's self-signed certificate (the server's CA) and its key.
    pub client_crt: String,
    pub client_key: String,
}

/// A nats-server on loopback that requires TLS and a client certificate it trusts; the
/// certificates are made for the occasion and written to `dir`.
pub fn nats_mutual_tls(dir: &Path) -> Result<(Service, MutualTls), ServiceError> {
    let made =
        |names: Vec<String>| rcgen::generate_simple_self_signed(names).map_err(|e| err(NATS, e));
    let (server, client) = (made(vec!["127.0.0.1".into()])?, made(vec!["agent".into()])?);
    let file = |name: &str, text: String| {
        let p = dir.join(name);
        std::fs::write(&p, text).map_err(|e| err(NATS, format!("{}: {e}", p.display())))?;
        Ok::<_, ServiceError>(p.display().to_string())
    };
    let server_key = file("server.key", server.key_pair.serialize_pem())?;
    let tls = MutualTls {
        server_crt: file("server.crt", server.cert.pem())?,
        client_crt: file("client.crt", client.cert.pem())?,
        client_key: file("client.key", client.key_pair.serialize_pem())?,
    };
    let service = nats_with(&format!(
        "tls {{\n  cert_file: {:?}\n  key_file: {server_key:?}\n  ca_file: {:?}\n  verify: true\n}}",
        tls.server_crt, tls.client_crt
    ))?;
    Ok((service, tls))
}

/// A cluster of `nodes` nats-servers on loopback, each with JetStream (its store in its own
/// directory) and routes to the others; with `users`, clients must log in as one of them
/// (`authorization.users`). Each node answers as soon as it listens; JetStream's leader is
/// elected a moment later, so a client creating a stream retries until it succeeds.
pub fn nats_cluster(nodes: usize, users: &[(&str, &str)]) -> Result<Vec<Service>, ServiceError> {
    let bin = binary(NATS, NATS, NATS_BINARIES)?;
    let routes: Vec<u16> = (0..nodes).map(|_| free_port()).collect();
    let auth = if users.is_empty() {
        String::new()
    } else {
        let list: Vec<String> = users
            .iter()
            .map(|(u, p)| format!("{{user: {u:?}, password: {p:?}}}"))
            .collect();
        format!("authorization {{\n  users: [{}]\n}}\n", list.join(", "))
    };
    let mut started = Vec::new();
    for (i, route_port) in routes.iter().enumerate() {
        let (dir, port) = (private_dir(NATS)?, free_port());
        let others: Vec<String> = routes
            .iter()
            .filter(|p| *p != route_port)
            .map(|p| format!("\"nats-route://127.0.0.1:{p}\""))
            .collect();
        let node = format!(
            "server_name: n{i}\n\
             cluster {{\n  name: peregrine\n  listen: \"127.0.0.1:{route_port}\"\n  \
             routes: [{}]\n}}\n{auth}",
            others.join(", "),
        );
        started.push(nats_node(&bin, dir, port, &node)?);
    }
    Ok(started)
}

/// One nats-server from a configuration file: listening on `port`, JetStream's store in
/// `dir`, then `extra`.
fn nats_node(bin: &Path, dir: PathBuf, port: u16, extra: &str) -> Result<Service, ServiceError> {
    let conf = format!(
        "listen: \"127.0.0.1:{port}\"\njetstream {{\n  store_dir: {:?}\n}}\n{extra}",
        dir.join("jetstream").display().to_string()
    );
    let file = dir.join("nats.conf");
    write_config(NATS, &file, conf)?;
    let mut cmd = Command::new(bin);
    cmd.arg("-c").arg(&file);
    start(NATS, dir, port, "TERM", cmd, |s| {
        greeting(s.addr()).is_some_and(|l| l.starts_with("INFO "))
    })
}

/// `redis-server` without persistence.
pub fn redis() -> Result<Service, ServiceError> {
    let name = "redis-server";
    let (bin, dir, port) = prepare(name, "redis-server", &["/usr/bin/redis-server"])?;
    let mut cmd = Command::new(bin);
    cmd.args(["--bind", "127.0.0.1", "--port", &port.to_string()])
        .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
        .arg("--dir")
        .arg(&dir);
    start(name, dir, port, "TERM", cmd, |s| {
        request_line(s.addr(), b"PING\r\n").is_some_and(|l| l.starts_with("+PONG"))
    })
}

/// The binaries of the installed PostgreSQL (`/usr/lib/postgresql/<version>/bin`), newest
/// version first.
pub fn postgres_bin() -> Option<PathBuf> {
    let mut dirs: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| {
            let e = e.ok()?;
            let v = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("postgres").is_file().then_some((v, bin))
        })
        .collect();
    dirs.sort();
    dirs.pop().map(|(_, b)| b)
}

/// The superuser name of the kit's PostgreSQL clusters (trust authentication on loopback).
pub const POSTGRES_USER: &str = "postgres";

/// A PostgreSQL cluster: `initdb` in the private directory, then `postgres` on a loopback
/// port (its unix socket in the directory too). PostgreSQL refuses to run as root, so as root
/// both run as the `postgres` user the Debian package creates (through `setpriv`, which execs:
/// the [`Service::pid`] is the postmaster's). Connect as [`POSTGRES_USER`], database
/// `postgres`.
pub fn postgres() -> Result<Service, ServiceError> {
    let name = "postgres";
    let bin = postgres_bin().ok_or_else(|| {
        err(
            name,
            "not installed (no /usr/lib/postgresql/*/bin/postgres); scripts/bootstrap installs \
             the Debian package postgresql",
        )
    })?;
    let (dir, port) = (private_dir(name)?, free_port());
    let as_owner = |program: PathBuf| -> Result<Command, ServiceError> {
        if !crate::root::is_root() {
            return Ok(Command::new(program));
        }
        let (uid, gid) = user_ids("postgres")
            .ok_or_else(|| err(name, "running as root needs the postgres user"))?;
        std::os::unix::fs::chown(&dir, Some(uid), Some(gid)).map_err(|e| err(name, e))?;
        let mut cmd = Command::new("setpriv");
        cmd.args([
            &format!("--reuid={uid}"),
            &format!("--regid={gid}"),
            "--init-groups",
            "--",
        ])
        .arg(program);
        Ok(cmd)
    };
    let data = dir.join("data");
    let out = as_owner(bin.join("initdb"))?
        .arg("-D")
        .arg(&data)
        .args([
            "-U",
            POSTGRES_USER,
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--no-sync",
        ])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| err(name, format!("initdb: {e}")))?;
    if !out.status.success() {
        let _ = std::fs::remove_dir_all(&dir);
        return Err(err(
            name,
            format!("initdb failed: {}", String::from_utf8_lossy(&out.stderr)),
        ));
    }
    let mut cmd = as_owner(bin.join("postgres"))?;
    cmd.arg("-D")
        .arg(&data)
        .args([
            "-p",
            &port.to_string(),
            "-c",
            "listen_addresses=127.0.0.1",
            "-k",
        ])
        .arg(&dir)
        .args(["-c", "fsync=off", "-c", "full_page_writes=off"]);
    let isready = bin.join("pg_isready");
    // SIGINT: PostgreSQL's fast shutdown (SIGTERM would wait for clients).
    start(name, dir, port, "INT", cmd, move |s| {
        Command::new(&isready)
            .args(["-q", "-h", "127.0.0.1", "-p", &s.port().to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|st| st.success())
    })
}

/// `(uid, gid)` of a user in /etc/passwd.
fn user_ids(user: &str) -> Option<(u32, u32)> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() > 3 && f[0] == user).then(|| Some((f[2].parse().ok()?, f[3].parse().ok()?)))?
    })
}

/// Prometheus Alertmanager with one receiver that discards, clustering off.
pub fn alertmanager() -> Result<Service, ServiceError> {
    let name = "alertmanager";
    let (bin, dir, port) = prepare(
        name,
        "prometheus-alertmanager",
        &["/usr/bin/prometheus-alertmanager"],
    )?;
    let config = dir.join("alertmanager.yml");
    write_config(
        name,
        &config,
        "route:\n  receiver: discard\nreceivers:\n  - name: discard\n",
    )?;
    let mut cmd = Command::new(bin);
    cmd.arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.path={}", dir.join("data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--cluster.listen-address=");
    start(name, dir, port, "TERM", cmd, ready_page)
}

/// Prometheus scraping `targets` (`host:port` of `/metrics` pages) as the job `peregrine` every
/// second, evaluating `rule_files` every second, its storage in the private directory.
pub fn prometheus(targets: &[String], rule_files: &[&Path]) -> Result<Service, ServiceError> {
    let name = "prometheus";
    let (bin, dir, port) = prepare(name, "prometheus", &["/usr/bin/prometheus"])?;
    let quoted = |items: Vec<String>| {
        items
            .iter()
            .map(|t| format!("'{t}'"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let rules = quoted(rule_files.iter().map(|p| p.display().to_string()).collect());
    let config = dir.join("prometheus.yml");
    write_config(
        name,
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
             rule_files: [{rules}]\n\
             scrape_configs:\n  - job_name: peregrine\n    static_configs:\n      \
             - targets: [{}]\n",
            quoted(targets.to_vec())
        ),
    )?;
    let mut cmd = Command::new(bin);
    cmd.arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .current_dir(&dir);
    start(name, dir, port, "TERM", cmd, ready_page)
}

/// Mosquitto (MQTT) with anonymous clients and no persistence.
pub fn mosquitto() -> Result<Service, ServiceError> {
    let name = "mosquitto";
    let (bin, dir, port) = prepare(
        name,
        "mosquitto",
        &["/usr/sbin/mosquitto", "/usr/bin/mosquitto"],
    )?;
    let config = dir.join("mosquitto.conf");
    write_config(
        name,
        &config,
        format!(
            "listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n\
             log_dest stderr\n"
        ),
    )?;
    let mut cmd = Command::new(bin);
    cmd.arg("-c").arg(&config);
    start(name, dir, port, "TERM", cmd, accepts)
}

/// rsyslogd in the foreground with a private configuration: imtcp on a loopback port (TLS,
/// anonymous authentication, with the certificate and key `tls` names), every message's
/// facility, severity, MSGID, structured data and text appended to `remote.out` in its
/// directory, which a restart keeps.
pub fn rsyslog(tls: Option<(&Path, &Path)>) -> Result<Service, ServiceError> {
    let name = "rsyslogd";
    let (bin, dir, port) = prepare(name, "rsyslog", &["/usr/sbin/rsyslogd", "/sbin/rsyslogd"])?;
    let work = dir.join("work");
    std::fs::create_dir_all(&work).map_err(|e| err(name, e))?;
    let (global, module) = match tls {
        Some((cert, key)) => (
            format!(
                " DefaultNetstreamDriver=\"gtls\" DefaultNetstreamDriverCAFile=\"{cert}\" \
                 DefaultNetstreamDriverCertFile=\"{cert}\" DefaultNetstreamDriverKeyFile=\"{key}\"",
                cert = cert.display(),
                key = key.display()
            ),
            " StreamDriver.Name=\"gtls\" StreamDriver.Mode=\"1\" StreamDriver.AuthMode=\"anon\"",
        ),
        None => (String::new(), ""),
    };
    let conf = dir.join("rsyslog.conf");
    write_config(
        name,
        &conf,
        format!(
            r#"global(workDirectory="{work}"{global})
module(load="imtcp"{module})
input(type="imtcp" address="127.0.0.1" port="{port}")
template(name="t" type="string"
         string="%syslogfacility-text%.%syslogseverity-text% %msgid% %structured-data%%msg%\n")
*.* action(type="omfile" file="{out}" template="t")
"#,
            work = work.display(),
            out = dir.join("remote.out").display(),
        ),
    )?;
    let mut cmd = Command::new(bin);
    cmd.arg("-n")
        .arg("-f")
        .arg(&conf)
        .arg("-i")
        .arg(dir.join("rsyslogd.pid"));
    start(name, dir, port, "TERM", cmd, accepts)
}

/// Headless Chromium with the DevTools protocol on a loopback port it picks itself (read from
/// `DevToolsActivePort` in its private profile). Flags: no sandbox (root), no GPU, no QUIC, no
/// first-run, background networking, component updates or sync (nothing leaves the machine).
pub fn chromium() -> Result<Service, ServiceError> {
    let name = "chromium";
    // The real binary, not Debian's /usr/bin/chromium wrapper script.
    let bin = binary(
        name,
        "chromium",
        &["/usr/lib/chromium/chromium", "/usr/bin/chromium"],
    )?;
    let dir = private_dir(name)?;
    let profile = dir.join("profile");
    let mut cmd = Command::new(bin);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
    ])
    .arg(format!("--user-data-dir={}", profile.display()))
    .args([
        "--remote-debugging-address=127.0.0.1",
        "--remote-debugging-port=0",
        "about:blank",
    ]);
    let active = profile.join("DevToolsActivePort");
    let probe = active.clone();
    let mut service = start(name, dir, 0, "TERM", cmd, move |_| {
        std::fs::read_to_string(&probe).is_ok_and(|t| t.lines().count() >= 2)
    })?;
    let text = std::fs::read_to_string(&active).map_err(|e| err(name, e))?;
    service.port = text
        .lines()
        .next()
        .and_then(|l| l.trim().parse().ok())
        .ok_or_else(|| err(name, format!("DevToolsActivePort: {text:?}")))?;
    let end = Instant::now() + READY;
    while http_get(service.addr(), "/json/version").is_none_or(|(st, _)| st != 200) {
        if Instant::now() >= end {
            return Err(err(
                name,
                format!("/json/version did not answer: {}", service.log_tail()),
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(service)
}

/// `chromedriver` (Debian's `chromium-driver`) on a loopback port, allowing only loopback
/// clients; the WebDriver sessions it opens start Debian's Chromium themselves (the test asks
/// for headless in its capabilities). A test gives each browser a profile under
/// [`Service::dir`], so stopping the driver also ends any browser left behind.
pub fn chromedriver() -> Result<Service, ServiceError> {
    let name = "chromedriver";
    let (bin, dir, port) = prepare(
        name,
        "chromium-driver",
        &["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"],
    )?;
    let mut cmd = Command::new(bin);
    cmd.arg(format!("--port={port}"))
        .arg("--allowed-ips=127.0.0.1")
        .arg(format!("--log-path={}", dir.join("driver.log").display()));
    start(name, dir, port, "TERM", cmd, |s| {
        http_get(s.addr(), "/status").is_some_and(|(st, body)| st == 200 && body.contains("ready"))
    })
}
