//! A running agent for the live tests (root): started with a rules file (or the embedded
//! defaults) and options, its stdout and stderr read line by line on threads so a test can
//! wait for a line or an alert with a deadline instead of sleeping. Alerts are kept until a
//! test claims one, so an alert that arrives while the test waits for another is not lost,
//! and each carries the wall-clock time it was read, from which the event-to-alert latency
//! is measured against the alert's own event time.

// Each test binary uses its own subset of these helpers.
#![allow(dead_code)]

#[allow(unused_imports)] // not every test binary uses it
pub use peregrine_testkit::podman;

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// One line the agent wrote: `stdout` tells which stream; `at` is when it was read.
pub struct Line {
    pub stdout: bool,
    pub text: String,
    pub at: SystemTime,
}

/// A JSON alert from the agent's stdout.
pub struct Alert {
    pub json: Value,
    /// From the event's timestamp (the alert's `time`) to the moment the line was read.
    pub latency: Duration,
}

pub struct Agent {
    child: Child,
    lines: Receiver<Line>,
    /// Everything read so far, for failure messages.
    pub log: Vec<String>,
    /// JSON alerts read but not yet claimed by `expect_alert`.
    pending: Vec<Alert>,
}

/// A per-test scratch directory under the system temp dir.
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("peregrine-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// A directory on the same filesystem as /etc/shadow, so a hard link to it can succeed.
pub fn same_fs_as_etc(scratch: &Path) -> PathBuf {
    let dev = |p: &Path| std::fs::metadata(p).map(|m| m.dev()).ok();
    let etc = dev(Path::new("/etc/shadow"));
    [
        scratch,
        Path::new("/var/tmp"),
        Path::new("/root"),
        Path::new("/"),
    ]
    .into_iter()
    .find(|p| dev(p) == etc)
    .unwrap_or(scratch)
    .to_path_buf()
}

/// `/bin/sh -c SCRIPT` arguments that move the shell into the root cgroups, then exec `argv`.
/// Processes started here sit in memory cgroup `/process_api/<hex>`, which Falco (and
/// Peregrine) read as a container; host rules need the host's context.
pub fn on_host(argv: &[String]) -> Command {
    let script =
        r#"for f in /sys/fs/cgroup/*/cgroup.procs; do echo $$ > "$f" 2>/dev/null; done; exec "$@""#;
    let mut cmd = Command::new("/bin/sh");
    cmd.args(["-c", script, "sh"])
        .args(argv)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    cmd
}

/// Runs a behaviour as it is (in the test's own cgroups), quietly, and insists it succeeded.
pub fn run(cmd: &str, args: &[&str]) {
    let status = Command::new(cmd)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("behaviour runs");
    assert!(status.success(), "{cmd} {args:?}");
}

/// Runs `argv` on the host (see `on_host`) and waits for it.
pub fn run_on_host(argv: &[String]) {
    let _ = on_host(argv).status();
}

/// Seconds since the epoch of an RFC 3339 UTC time as the agent writes it
/// (`2026-11-28T23:48:27.937995011Z`); None for anything else.
pub fn parse_time(s: &str) -> Option<SystemTime> {
    let s = s.strip_suffix('Z')?;
    let (date, time) = s.split_once('T')?;
    let mut d = date.splitn(3, '-').map(|x| x.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
    let mut t = hms.splitn(3, ':').map(|x| x.parse::<u64>().ok());
    let (hh, mm, ss) = (t.next()??, t.next()??, t.next()??);
    let digits = frac.get(..frac.len().min(9))?;
    let nanos = digits.parse::<u64>().ok()? * 10u64.pow(9 - digits.len() as u32);
    let days = u64::try_from(peregrine_event::time::days_from_civil(y, m, day)).ok()?;
    let secs = days * 86_400 + hh * 3600 + mm * 60 + ss;
    Some(UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_nanos(nanos))
}

/// An output field as text: strings as they are, numbers and booleans rendered.
pub fn field(alert: &Value, name: &str) -> Option<String> {
    match &alert["output_fields"][name] {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

impl Agent {
    /// Starts `peregrine -r RULES ARGS…` and waits (up to 30 s, BPF load and /proc seeding)
    /// until it reports that it is capturing.
    pub fn start(rules: &Path, args: &[&str]) -> Agent {
        let mut all = vec!["-r".as_ref(), rules.as_os_str()];
        all.extend(args.iter().map(|a| std::ffi::OsStr::new(*a)));
        Self::spawn(&all)
    }

    /// Starts `peregrine ARGS…` with no `-r`: the embedded default rules.
    pub fn start_default(args: &[&str]) -> Agent {
        let all: Vec<&std::ffi::OsStr> = args.iter().map(std::ffi::OsStr::new).collect();
        Self::spawn(&all)
    }

    /// Starts `peregrine -r RULES ARGS…` and returns once a stderr line contains `line`
    /// (instead of the capture's start-up line).
    pub fn start_until(rules: &Path, args: &[&str], line: &str) -> Agent {
        let mut all = vec!["-r".as_ref(), rules.as_os_str()];
        all.extend(args.iter().map(|a| std::ffi::OsStr::new(*a)));
        Self::spawn_until(&all, line)
    }

    /// [`Agent::start`] with environment variables set (e.g. `HOST_ROOT`).
    pub fn start_env(rules: &Path, args: &[&str], env: &[(&str, &Path)]) -> Agent {
        let mut all = vec!["-r".as_ref(), rules.as_os_str()];
        all.extend(args.iter().map(|a| std::ffi::OsStr::new(*a)));
        Self::spawn_env(&all, "capturing", env)
    }

    fn spawn(args: &[&std::ffi::OsStr]) -> Agent {
        Self::spawn_until(args, "capturing")
    }

    fn spawn_until(args: &[&std::ffi::OsStr], line: &str) -> Agent {
        Self::spawn_env(args, line, &[])
    }

    fn spawn_env(args: &[&std::ffi::OsStr], line: &str, env: &[(&str, &Path)]) -> Agent {
        let mut child = Command::new(env!("CARGO_BIN_EXE_peregrine"))
            .envs(env.iter().copied())
            .env(peregrine_config::DEFAULT_CONFIG_ENV, "")
            .args(["-M", "120", "-o", "syslog_output.enabled=false"])
            // These tests count every alert of their markers; the dedup tests turn it on.
            .args(["-o", "dedup.enabled=false"])
            // Nothing kept in /var/lib: the store's tests give their own path.
            .args(["-o", "alert_store.enabled=false"])
            .args(args)
            .env("PEREGRINE_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("agent starts");
        let (tx, rx) = mpsc::channel();
        let out = child.stdout.take().expect("stdout");
        let err = child.stderr.take().expect("stderr");
        for (stream, stdout) in [
            (Box::new(out) as Box<dyn std::io::Read + Send>, true),
            (Box::new(err), false),
        ] {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for text in BufReader::new(stream).lines().map_while(Result::ok) {
                    let at = SystemTime::now();
                    let _ = tx.send(Line { stdout, text, at });
                }
            });
        }
        let mut agent = Agent {
            child,
            lines: rx,
            log: Vec::new(),
            pending: Vec::new(),
        };
        if !agent.wait_for(Duration::from_secs(30), |l| {
            !l.stdout && l.text.contains(line)
        }) {
            agent.signal("KILL");
            panic!("agent did not attach: {:#?}", agent.log);
        }
        agent
    }

    /// The web server's `host:port`, from its start-up line.
    pub fn web_addr(&self) -> String {
        self.log
            .iter()
            .find_map(|l| l.split("listening on http://").nth(1))
            .and_then(|rest| rest.split_whitespace().next())
            .map(str::to_string)
            .unwrap_or_else(|| panic!("no listening line: {:#?}", self.log))
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits until a line satisfies `pred`, at most `within`; false on timeout or exit.
    pub fn wait_for(&mut self, within: Duration, pred: impl Fn(&Line) -> bool) -> bool {
        let deadline = Instant::now() + within;
        loop {
            match self
                .lines
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            {
                Ok(line) => {
                    let hit = pred(&line);
                    self.keep(&line);
                    self.log.push(line.text);
                    if hit {
                        return true;
                    }
                }
                Err(_) => return false,
            }
        }
    }

    /// Files a JSON alert line among the pending alerts.
    fn keep(&mut self, line: &Line) {
        if !line.stdout {
            return;
        }
        let Ok(json) = serde_json::from_str::<Value>(&line.text) else {
            return;
        };
        let event = json["time"].as_str().and_then(parse_time);
        let latency = event
            .and_then(|t| line.at.duration_since(t).ok())
            .unwrap_or_default();
        self.pending.push(Alert { json, latency });
    }

    /// The first alert, pending or arriving within `within`, for which `pred` holds; it is
    /// removed from the pending alerts.
    pub fn expect_alert(
        &mut self,
        within: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Option<Alert> {
        if let Some(i) = self.pending.iter().position(|a| pred(&a.json)) {
            return Some(self.pending.remove(i));
        }
        let hit = self.wait_for(within, |l| {
            l.stdout && serde_json::from_str::<Value>(&l.text).is_ok_and(|v| pred(&v))
        });
        if !hit {
            return None;
        }
        let i = self.pending.iter().rposition(|a| pred(&a.json))?;
        Some(self.pending.remove(i))
    }

    /// Reads whatever arrives during `period` and returns every alert not yet claimed.
    pub fn drain(&mut self, period: Duration) -> Vec<Value> {
        self.wait_for(period, |_| false);
        self.pending.drain(..).map(|a| a.json).collect()
    }

    /// Sends a signal by name (`TERM`, `HUP`, …).
    pub fn signal(&self, name: &str) {
        let _ = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status();
    }

    /// SIGTERM, then the exit status.
    pub fn stop(mut self) -> std::process::ExitStatus {
        self.signal("TERM");
        self.child.wait().expect("agent exits")
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        // Never leave an agent attached to the kernel after a failed test.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// What an expected alert must carry in an output field.
pub enum Want {
    Is(String),
    Has(String),
}

/// An expected alert: rule, priority and output fields.
pub struct Expect {
    pub rule: &'static str,
    pub priority: &'static str,
    pub fields: Vec<(&'static str, Want)>,
}

impl Expect {
    pub fn matches(&self, v: &Value) -> bool {
        v["rule"] == self.rule
            && v["priority"] == self.priority
            && self.fields.iter().all(|(k, want)| {
                let got = field(v, k);
                match want {
                    Want::Is(s) => got.as_deref() == Some(s.as_str()),
                    Want::Has(s) => got.is_some_and(|g| g.contains(s.as_str())),
                }
            })
    }
}

/// The outcome of one behaviour, for the table a test prints.
pub struct Outcome {
    pub name: String,
    pub rule: &'static str,
    pub latency: Option<Duration>,
}

/// Prints one line per behaviour (PASS with the measured latency, or FAIL) and returns the
/// names of those that failed.
pub fn report(title: &str, outcomes: &[Outcome]) -> Vec<String> {
    let mut seen: Vec<Duration> = outcomes.iter().filter_map(|o| o.latency).collect();
    seen.sort();
    let ms = |d: Option<&Duration>| d.map_or(0.0, |d| d.as_secs_f64() * 1e3);
    println!(
        "{title}: {}/{} detected; event-to-alert latency median {:.2} ms, max {:.2} ms",
        seen.len(),
        outcomes.len(),
        ms(seen.get(seen.len() / 2)),
        ms(seen.last())
    );
    for o in outcomes {
        match o.latency {
            Some(l) => println!(
                "  PASS {:>8.2} ms  {} -> {}",
                l.as_secs_f64() * 1e3,
                o.name,
                o.rule
            ),
            None => println!("  FAIL             {} -> {}", o.name, o.rule),
        }
    }
    outcomes
        .iter()
        .filter(|o| o.latency.is_none())
        .map(|o| o.name.clone())
        .collect()
}

/// The JSON-lines records of the file at `path` (the response audit log), once it holds at
/// least `n`, or whatever it holds when `within` has passed.
pub fn json_lines(path: &Path, n: usize, within: Duration) -> Vec<Value> {
    json_lines_where(path, within, |_| true, |lines| lines.len() >= n)
}

/// The JSON-lines records of the file at `path` that `ours` accepts, once `done` says they
/// are all there, or whatever there is when `within` has passed.
pub fn json_lines_where(
    path: &Path,
    within: Duration,
    ours: impl Fn(&Value) -> bool,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let deadline = Instant::now() + within;
    loop {
        let lines: Vec<Value> = std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .filter(&ours)
            .collect();
        if done(&lines) || Instant::now() >= deadline {
            return lines;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A response policy that kills on `rule`; `extra` is inserted before its `match` (two-space
/// indented lines, e.g. `  dry_run: true\n`).
pub fn kill_policy(name: &str, rule: &str, extra: &str) -> String {
    format!(
        "
- policy: {name}
{extra}  match:
    rules: [{rule}]
  actions:
    - kill: {{}}
"
    )
}

/// `rules` and `policies` written to files in `dir` and the agent started on them with
/// `more` options, JSON output and an audit log in `dir`: the agent and the audit log's path.
pub fn response_agent(dir: &Path, rules: &str, policies: &str, more: &[&str]) -> (Agent, PathBuf) {
    let rules_file = dir.join("rules.yaml");
    std::fs::write(&rules_file, rules).expect("rules");
    let pol = dir.join("policies.yaml");
    std::fs::write(&pol, policies).expect("policies");
    let audit = dir.join("audit.jsonl");
    let pol_opt = format!("response_files[]={}", pol.display());
    let audit_opt = format!("response.audit_file={}", audit.display());
    let mut args = vec!["-o", &pol_opt, "-o", &audit_opt, "-o", "json_output=true"];
    args.extend_from_slice(more);
    (Agent::start(&rules_file, &args), audit)
}

/// The alert store's database in `dir` (`alerts.db`), with any an earlier run left there
/// removed, its WAL and shared-memory files too.
pub fn fresh_db(dir: &Path) -> PathBuf {
    let db = dir.join("alerts.db");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
    db
}

/// `config` written as `falco.yaml` in `dir` and the agent started on it and `rules` with
/// config watching off, the alert store on and `more` options: the console tests' agent.
pub fn console_agent(dir: &Path, rules: &Path, config: &str, more: &[&str]) -> Agent {
    let file = dir.join("falco.yaml");
    std::fs::write(&file, config).expect("config");
    let cfg = file.display().to_string();
    let mut args = vec![
        "-c",
        cfg.as_str(),
        "-o",
        "watch_config_files=false",
        "-o",
        "alert_store.enabled=true",
    ];
    args.extend_from_slice(more);
    Agent::start(rules, &args)
}

/// Options for a narrow kernel selection: exec events plus process creation (`repair` off,
/// so no fd syscalls). A flood of opens or reads from other processes on the host then never
/// reaches the agent's ring and cannot push a marker event out of it.
pub const NARROW: &[&str] = &[
    "-o",
    "base_syscalls.repair=false",
    "-o",
    "base_syscalls.custom_set[]=clone",
    "-o",
    "base_syscalls.custom_set[]=clone3",
    "-o",
    "base_syscalls.custom_set[]=fork",
    "-o",
    "base_syscalls.custom_set[]=vfork",
];

/// Options for the web server on a loopback port of the kernel's choosing, with the
/// Prometheus `/metrics` page.
pub const WEB_METRICS: &[&str] = &[
    "-o",
    "webserver.enabled=true",
    "-o",
    "webserver.listen_address=127.0.0.1",
    "-o",
    "webserver.listen_port=0",
    "-o",
    "webserver.prometheus_metrics_enabled=true",
    "-o",
    "metrics.enabled=true",
];

/// One request to the agent's web server over HTTP/1.1 (`Connection: close`), with a bearer
/// `token` and a JSON `body` when given: its status and body (as sent, not de-chunked), None
/// when nothing answers.
pub fn http(
    addr: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(20))).ok()?;
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    let (kind, body) = match body {
        Some(b) => ("Content-Type: application/json\r\n", b),
        None => ("", ""),
    };
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{auth}{kind}\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .ok()?;
    let mut raw = String::new();
    s.read_to_string(&mut raw).ok()?;
    let (head, body) = raw.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, body.to_string()))
}

/// `f` every 200 ms until it gives a value, for `within` at most.
pub fn poll<T>(within: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `GET path` over HTTP/1.1 from the agent's web server: the whole response as text (status
/// line and headers included), empty when nothing answers.
pub fn http_get(addr: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(addr) else {
        return String::new();
    };
    let _ = write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    );
    let mut body = String::new();
    let _ = s.read_to_string(&mut body);
    body
}

/// A copy of `true` named `name` in `dir`: a marker program whose path no other process runs,
/// so a rule on `proc.exe` fires on the test's runs only.
pub fn marker_program(dir: &std::path::Path, name: &str) -> String {
    let program = dir.join(name);
    let original = ["/usr/bin/true", "/bin/true"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .expect("a true(1) binary");
    std::fs::copy(original, &program).expect("copy true");
    program.display().to_string()
}
