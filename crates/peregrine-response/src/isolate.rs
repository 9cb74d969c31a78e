//! The `isolate` action: cut a container off the network while it keeps running, and its
//! reversal (`unisolate`, from the web API).
//!
//! Key decisions:
//! - The rules live inside the container's own network namespace (its init's
//!   `/proc/PID/ns/net`, under HOST_ROOT), so they follow the container whatever its network
//!   mode, touch nothing of the host's firewall, and vanish with the namespace.
//! - They are loaded by Debian's `nft` run through util-linux's `nsenter --net=FILE`, the
//!   ruleset on stdin: `nsenter` does the setns before exec, so this crate stays free of
//!   `unsafe` (no `pre_exec`), and `nft` loads the whole ruleset as one kernel transaction. A
//!   netlink crate would save the fork, but none of the nftables ones is as well kept as
//!   `nft` itself, and an isolation is rare enough for a fork to cost nothing that matters.
//! - One named table, [`TABLE`]: the script first adds and deletes it, then defines it, in
//!   the same transaction, so isolating again replaces the rules (idempotent) and unisolate
//!   is one `delete table`.
//! - **Established connections are cut too.** A reverse shell opened before the alert is
//!   exactly what containment must stop, so only loopback and the flows the policy allows
//!   pass, in either direction. A flow the policy allows (a peer in `allow_cidrs`, a port in
//!   `allow_ports`, DNS) is marked in conntrack on its first packet, so its replies pass too.
//! - Isolated containers are tracked in `STATE_DIR/isolated.json` (0600, replaced by a
//!   rename), so a restarted agent lists them and can unisolate them.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// The nftables table (family `inet`) that holds the isolation rules.
pub const TABLE: &str = "peregrine_isolate";
/// The conntrack mark of flows the policy allows ("pgis").
const ALLOWED_MARK: &str = "0x70676973";
/// The state file below `state_dir`.
pub const STATE_FILE: &str = "isolated.json";
/// How long `nft` may take.
const NFT_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the programs are looked for (Debian's paths first).
const NSENTER: &[&str] = &["/usr/bin/nsenter", "/bin/nsenter"];
const NFT: &[&str] = &["/usr/sbin/nft", "/sbin/nft", "/usr/bin/nft"];

/// A network, `ADDR/PREFIX` (a bare address is a /32 or /128).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cidr {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl Cidr {
    pub fn parse(s: &str) -> Option<Cidr> {
        let (a, p) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = a.trim().parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            Some(p) => p.trim().parse::<u8>().ok().filter(|p| *p <= max)?,
            None => max,
        };
        Some(Cidr { addr, prefix })
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// What an isolated container may still reach (or be reached by).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Spec {
    /// Peers allowed in both directions.
    pub allow_cidrs: Vec<Cidr>,
    /// TCP/UDP ports allowed as the destination, outgoing (a service elsewhere) and incoming
    /// (a service of the container).
    pub allow_ports: Vec<u16>,
    /// Outgoing DNS (port 53, TCP and UDP) to any server.
    pub allow_dns: bool,
}

/// The nft script that (re)defines [`TABLE`] for `spec`, as one transaction.
pub fn ruleset(spec: &Spec) -> String {
    let set = |items: Vec<String>| format!("{{ {} }}", items.join(", "));
    let v4: Vec<String> = spec
        .allow_cidrs
        .iter()
        .filter(|c| c.addr.is_ipv4())
        .map(ToString::to_string)
        .collect();
    let v6: Vec<String> = spec
        .allow_cidrs
        .iter()
        .filter(|c| c.addr.is_ipv6())
        .map(ToString::to_string)
        .collect();
    let ports: Vec<String> = spec.allow_ports.iter().map(ToString::to_string).collect();
    let mark = format!("ct mark set {ALLOWED_MARK} accept");
    let mut chains = String::new();
    for (chain, hook, dev, peer) in [
        ("input", "input", "iif", "saddr"),
        ("output", "output", "oif", "daddr"),
    ] {
        chains.push_str(&format!(
            "  chain {chain} {{\n    type filter hook {hook} priority filter - 10; policy drop;\n    {dev} \"lo\" accept\n    ct mark {ALLOWED_MARK} accept\n"
        ));
        if !v4.is_empty() {
            chains.push_str(&format!("    ip {peer} {} {mark}\n", set(v4.clone())));
        }
        if !v6.is_empty() {
            chains.push_str(&format!("    ip6 {peer} {} {mark}\n", set(v6.clone())));
        }
        if !ports.is_empty() {
            chains.push_str(&format!(
                "    meta l4proto {{ tcp, udp }} th dport {} {mark}\n",
                set(ports.clone())
            ));
        }
        if spec.allow_dns && chain == "output" {
            chains.push_str(&format!(
                "    meta l4proto {{ tcp, udp }} th dport 53 {mark}\n"
            ));
        }
        chains.push_str("    counter drop\n  }\n");
    }
    format!(
        "add table inet {TABLE}\ndelete table inet {TABLE}\ntable inet {TABLE} {{\n{chains}}}\n"
    )
}

/// The script that removes the isolation (the add makes it succeed when there is none).
fn removal() -> String {
    format!("add table inet {TABLE}\ndelete table inet {TABLE}\n")
}

/// Why an isolation or its reversal did not happen.
#[derive(Debug, thiserror::Error)]
pub enum IsolateError {
    #[error("{0} is not installed (Debian: {1})")]
    Missing(&'static str, &'static str),
    #[error("the container's process {0} is gone")]
    Gone(i64),
    #[error("the container shares the {0} network namespace: isolating it would cut that off")]
    SharedNamespace(&'static str),
    #[error("nft: {0}")]
    Nft(String),
    #[error("no isolated container {0}")]
    NotFound(String),
    #[error("writing {path}: {source}")]
    State {
        path: String,
        source: std::io::Error,
    },
}

fn program(candidates: &'static [&'static str]) -> Option<&'static str> {
    candidates.iter().copied().find(|p| Path::new(p).is_file())
}

/// The inode of a network namespace file (`/proc/PID/ns/net`, followed): its identity.
fn netns_inode(path: &Path) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| m.ino())
}

/// Runs `script` with `nft -f -` inside the network namespace at `ns`.
fn nft_in(ns: &Path, script: &str) -> Result<(), IsolateError> {
    let nsenter = program(NSENTER).ok_or(IsolateError::Missing(
        "nsenter",
        "apt-get install util-linux",
    ))?;
    let nft = program(NFT).ok_or(IsolateError::Missing("nft", "apt-get install nftables"))?;
    let mut net = std::ffi::OsString::from("--net=");
    net.push(ns);
    let mut child = Command::new(nsenter)
        .arg(net)
        .arg("--")
        .arg(nft)
        .args(["-f", "-"])
        .env_clear()
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| IsolateError::Nft(format!("cannot run {nsenter}: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A few hundred bytes: fits the pipe, so this cannot block on a stuck child.
        let _ = stdin.write_all(script.as_bytes());
    }
    let deadline = Instant::now() + NFT_TIMEOUT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break st,
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(IsolateError::Nft(format!(
                    "timed out after {NFT_TIMEOUT:?}"
                )));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(2)),
            Err(e) => return Err(IsolateError::Nft(e.to_string())),
        }
    };
    if status.success() {
        return Ok(());
    }
    let mut err = String::new();
    if let Some(mut s) = child.stderr.take() {
        use std::io::Read;
        let _ = s.by_ref().take(1024).read_to_string(&mut err);
    }
    // Escaped here: the text reaches log lines and API answers.
    Err(IsolateError::Nft(format!(
        "{status}: {}",
        peregrine_filter::escape::terminal_safe(err.trim())
    )))
}

/// One isolated container, as the state file keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub container_id: String,
    /// The host pid whose namespace was entered (the container's init).
    pub pid: i64,
    /// That namespace's inode: a restarted container (another namespace) is not confused
    /// with this one.
    pub netns: u64,
    pub since_ns: u64,
    pub policy: String,
    pub rule: String,
}

impl Record {
    fn to_json(&self) -> Value {
        json!({
            "container_id": self.container_id,
            "pid": self.pid,
            "netns": self.netns,
            "since_ns": self.since_ns,
            "policy": self.policy,
            "rule": self.rule,
        })
    }

    fn from_json(v: &Value) -> Option<Record> {
        Some(Record {
            container_id: v.get("container_id")?.as_str()?.to_string(),
            pid: v.get("pid")?.as_i64()?,
            netns: v.get("netns")?.as_u64()?,
            since_ns: v.get("since_ns")?.as_u64()?,
            policy: v.get("policy")?.as_str()?.to_string(),
            rule: v.get("rule")?.as_str()?.to_string(),
        })
    }
}

/// The isolated containers, shared by the response worker (isolate) and the web API
/// (list, unisolate); every change is written to the state file.
#[derive(Debug)]
pub struct Registry {
    host_root: PathBuf,
    state: Option<PathBuf>,
    entries: Mutex<BTreeMap<String, Record>>,
}

fn epoch_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

impl Registry {
    /// Reads the containers a previous run isolated from `state_dir` (none when it has no
    /// state file; an unreadable one is reported and left for the operator).
    pub fn open(host_root: &Path, state_dir: Option<&Path>) -> Registry {
        let state = state_dir.map(|d| d.join(STATE_FILE));
        let mut entries = BTreeMap::new();
        if let Some(path) = &state {
            match std::fs::read(path) {
                Ok(bytes) => match serde_json::from_slice::<Value>(&bytes) {
                    Ok(Value::Array(items)) => {
                        for r in items.iter().filter_map(Record::from_json) {
                            entries.insert(r.container_id.clone(), r);
                        }
                    }
                    _ => log::error!(
                        "response: {} is not a list of isolated containers; ignored",
                        path.display()
                    ),
                },
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => log::error!("response: reading {}: {e}", path.display()),
            }
        }
        if !entries.is_empty() {
            log::info!(
                "response: {} container(s) still isolated from an earlier run",
                entries.len()
            );
        }
        Registry {
            host_root: host_root.to_path_buf(),
            state,
            entries: Mutex::new(entries),
        }
    }

    fn ns_path(&self, pid: i64) -> PathBuf {
        peregrine_state::host_path(&self.host_root, &format!("/proc/{pid}/ns/net"))
    }

    fn save(&self, entries: &BTreeMap<String, Record>) -> Result<(), IsolateError> {
        let Some(path) = &self.state else {
            return Ok(());
        };
        let err = |source| IsolateError::State {
            path: path.display().to_string(),
            source,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(err)?;
        }
        let list: Vec<Value> = entries.values().map(Record::to_json).collect();
        let tmp = path.with_extension("json.tmp");
        {
            use std::os::unix::fs::OpenOptionsExt;
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .write(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)
                .map_err(err)?;
            f.write_all(Value::Array(list).to_string().as_bytes())
                .and_then(|()| f.sync_all())
                .map_err(err)?;
        }
        std::fs::rename(&tmp, path).map_err(err)
    }

    /// Loads the isolation for `spec` into the network namespace of `pid` (the container's
    /// init) and records it. With `dry_run` every check runs but no rule is loaded.
    pub fn isolate(
        &self,
        container_id: &str,
        pid: i64,
        spec: &Spec,
        origin: (&str, &str),
        dry_run: bool,
    ) -> Result<String, IsolateError> {
        let ns = self.ns_path(pid);
        let inode = netns_inode(&ns).ok_or(IsolateError::Gone(pid))?;
        let host = peregrine_state::host_path(&self.host_root, "/proc/1/ns/net");
        if netns_inode(&host) == Some(inode) {
            return Err(IsolateError::SharedNamespace("host's"));
        }
        if netns_inode(Path::new("/proc/self/ns/net")) == Some(inode) {
            return Err(IsolateError::SharedNamespace("agent's"));
        }
        let short = container_id.get(..12).unwrap_or(container_id);
        if dry_run {
            return Ok(format!(
                "would isolate container {short} (network namespace of pid {pid})"
            ));
        }
        nft_in(&ns, &ruleset(spec))?;
        // The namespace entered must still be the one checked: a pid reused in between
        // would have sent the rules elsewhere.
        if netns_inode(&ns) != Some(inode) {
            return Err(IsolateError::Gone(pid));
        }
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.insert(
            container_id.to_string(),
            Record {
                container_id: container_id.to_string(),
                pid,
                netns: inode,
                since_ns: epoch_ns(),
                policy: origin.0.to_string(),
                rule: origin.1.to_string(),
            },
        );
        self.save(&entries)?;
        Ok(format!(
            "isolated container {short} (network namespace of pid {pid})"
        ))
    }

    /// Removes the isolation of the container whose id is or starts with `id` (12 or more
    /// hex digits). When its namespace is gone (the container ended), only the record goes.
    pub fn unisolate(&self, id: &str) -> Result<Value, IsolateError> {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let found: Vec<String> = entries
            .keys()
            .filter(|k| id.len() >= 12 && k.starts_with(id))
            .cloned()
            .collect();
        let [key] = found.as_slice() else {
            return Err(IsolateError::NotFound(id.to_string()));
        };
        let Some(rec) = entries.get(key).cloned() else {
            return Err(IsolateError::NotFound(id.to_string()));
        };
        let ns = self.ns_path(rec.pid);
        let removed = if netns_inode(&ns) == Some(rec.netns) {
            nft_in(&ns, &removal())?;
            true
        } else {
            false
        };
        entries.remove(key);
        self.save(&entries)?;
        let mut v = rec.to_json();
        v["rules_removed"] = Value::Bool(removed);
        if !removed {
            v["note"] = Value::from("the container's network namespace is gone");
        }
        Ok(v)
    }

    /// Every isolated container.
    pub fn list(&self) -> Value {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        Value::Array(entries.values().map(Record::to_json).collect())
    }

    pub fn is_isolated(&self, container_id: &str) -> bool {
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(container_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs() {
        assert_eq!(
            Cidr::parse("10.1.0.0/16").map(|c| c.to_string()),
            Some("10.1.0.0/16".into())
        );
        assert_eq!(
            Cidr::parse("::1").map(|c| c.to_string()),
            Some("::1/128".into())
        );
        assert_eq!(Cidr::parse("10.0.0.1/33"), None);
        assert_eq!(Cidr::parse("host/8"), None);
    }

    /// The ruleset as `nft` receives it: replace-in-one-transaction, loopback and the marked
    /// flows, each allowance in its direction, everything else dropped.
    #[test]
    fn the_ruleset() {
        let spec = Spec {
            allow_cidrs: vec![
                Cidr::parse("10.0.0.0/8").expect("v4"),
                Cidr::parse("fd00::/8").expect("v6"),
            ],
            allow_ports: vec![443],
            allow_dns: true,
        };
        let text = ruleset(&spec);
        assert!(text.starts_with(
            "add table inet peregrine_isolate\ndelete table inet peregrine_isolate\ntable inet peregrine_isolate {\n"
        ));
        for line in [
            "    type filter hook input priority filter - 10; policy drop;",
            "    iif \"lo\" accept",
            "    ip saddr { 10.0.0.0/8 } ct mark set 0x70676973 accept",
            "    ip6 daddr { fd00::/8 } ct mark set 0x70676973 accept",
            "    meta l4proto { tcp, udp } th dport { 443 } ct mark set 0x70676973 accept",
            "    meta l4proto { tcp, udp } th dport 53 ct mark set 0x70676973 accept",
        ] {
            assert!(text.lines().any(|l| l == line), "{line}\n{text}");
        }
        // DNS goes out only.
        assert_eq!(text.matches("th dport 53").count(), 1);
        let bare = ruleset(&Spec::default());
        assert!(!bare.contains("saddr") && !bare.contains("dport"), "{bare}");
        assert_eq!(bare.matches("counter drop").count(), 2);
    }

    /// Real namespaces (root only): an isolated namespace drops a new connection to a peer
    /// over a veth pair; the host's namespace is refused; unisolate lets it through again;
    /// the record survives a new registry on the same state directory.
    #[test]
    fn isolate_and_unisolate_a_real_namespace() {
        if !peregrine_testkit::live("isolate_and_unisolate_a_real_namespace") {
            return;
        }
        let dir = std::env::temp_dir().join(format!("pg-isolate-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let reg = Registry::open(Path::new("/"), Some(&dir));
        // The test's own process lives in the host's namespace.
        let own = i64::from(std::process::id());
        let err = reg
            .isolate(
                "a".repeat(64).as_str(),
                own,
                &Spec::default(),
                ("p", "r"),
                false,
            )
            .expect_err("host namespace");
        assert!(matches!(err, IsolateError::SharedNamespace(_)), "{err}");
        let ns = format!("pgiso-u{}", std::process::id());
        let run = |args: &[&str]| {
            let st = Command::new("ip").args(args).status().expect("ip");
            assert!(st.success(), "ip {args:?}");
        };
        run(&["netns", "add", &ns]);
        run(&["-n", &ns, "link", "set", "lo", "up"]);
        // A process in the namespace, whose pid names it (as a container's init would).
        let mut holder = Command::new("ip")
            .args(["netns", "exec", &ns, "sleep", "60"])
            .spawn()
            .expect("holder");
        let pid = i64::from(holder.id());
        let deadline = Instant::now() + Duration::from_secs(5);
        let target = std::fs::metadata(format!("/run/netns/{ns}"))
            .map(|m| std::os::unix::fs::MetadataExt::ino(&m))
            .expect("netns");
        while netns_inode(Path::new(&format!("/proc/{pid}/ns/net"))) != Some(target)
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(10));
        }
        let id = "b".repeat(64);
        let detail = reg
            .isolate(&id, pid, &Spec::default(), ("p", "r"), false)
            .expect("isolates");
        assert!(detail.starts_with("isolated container bbbbbbbbbbbb"));
        let listed = Command::new("ip")
            .args(["netns", "exec", &ns, "nft", "list", "table", "inet", TABLE])
            .output()
            .expect("nft list");
        assert!(listed.status.success(), "{listed:?}");
        let again = Registry::open(Path::new("/"), Some(&dir));
        assert!(again.is_isolated(&id));
        let v = again.unisolate(&id[..12]).expect("unisolates");
        assert_eq!(v["rules_removed"], true);
        let gone = Command::new("ip")
            .args(["netns", "exec", &ns, "nft", "list", "table", "inet", TABLE])
            .output()
            .expect("nft list");
        assert!(!gone.status.success(), "table still there");
        assert!(matches!(
            again.unisolate(&id),
            Err(IsolateError::NotFound(_))
        ));
        let _ = holder.kill();
        let _ = holder.wait();
        run(&["netns", "del", &ns]);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
