//! Container metadata from the runtime's API (podman's and docker's Docker-compatible API on a
//! unix socket) or, for containerd and CRI-O, from the OCI runtime's state on disk
//! ([`crate::oci`]): name, image, labels, start time, privileges, IP, Kubernetes pod metadata.
//! containerd's pod labels come from its containers API ([`crate::containerd`]), once per pod.
//!
//! Key decision: lookups run on a worker thread and results come back through a channel that
//! the state drains at the start of each event, so an event is never held up: until the
//! answer arrives, the metadata fields of a container simply have no value. Every id is looked
//! up once; failures are cached too (and counted), so a broken socket costs one attempt per
//! container, not one per event. The request queue is bounded; a full queue drops the request
//! (counted) and the next event of that container asks again.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value as Json;

/// What the runtime says about one container.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContainerInfo {
    pub name: String,
    /// As the container was created from it, e.g. `docker.io/library/nginx:1.25`.
    pub image: String,
    pub image_id: String,
    pub image_repository: String,
    pub image_tag: String,
    pub image_digest: String,
    pub labels: Vec<(String, String)>,
    /// The pod sandbox's labels (`k8s.pod.labels`), sorted; empty outside Kubernetes.
    pub pod_labels: Vec<(String, String)>,
    pub privileged: bool,
    /// ns since the epoch; 0 when unknown.
    pub start_ts: u64,
    pub ip: String,
    pub host_pid: bool,
    pub host_network: bool,
    pub host_ipc: bool,
    pub mounts: Vec<Mount>,
    /// The container's init process, as the host sees it (`State.Pid`); 0 when unknown.
    pub init_pid: i64,
}

impl ContainerInfo {
    /// The container described by a capture's `container` event JSON
    /// (`{"container":{"id":…,"name":…,"image":…,…}}`), with its id. Keys the JSON lacks
    /// stay empty, as the container plugin leaves them.
    pub fn from_capture_json(text: &str) -> Option<(String, ContainerInfo)> {
        let root: Json = serde_json::from_str(text).ok()?;
        let c = root.get("container")?;
        let str_of = |k: &str| c.get(k).and_then(Json::as_str).unwrap_or("").to_string();
        let id = str_of("id");
        if id.is_empty() {
            return None;
        }
        let mut labels: Vec<(String, String)> = c
            .get("labels")
            .and_then(Json::as_object)
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                    .collect()
            })
            .unwrap_or_default();
        labels.sort();
        let info = ContainerInfo {
            name: str_of("name"),
            image: str_of("image"),
            image_id: str_of("imageid"),
            image_repository: str_of("imagerepo"),
            image_tag: str_of("imagetag"),
            image_digest: str_of("imagedigest"),
            privileged: c.get("privileged").and_then(Json::as_bool).unwrap_or(false),
            labels,
            ..ContainerInfo::default()
        };
        Some((id, info))
    }
}

/// One mount of a container (`container.mount*`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Mount {
    pub source: String,
    pub dest: String,
    pub mode: String,
    pub rw: bool,
    pub propagation: String,
}

impl Mount {
    /// `source:dest:mode:rdwr:propagation`, libsinsp's rendering of one mount.
    pub fn render(&self) -> String {
        format!(
            "{}:{}:{}:{}:{}",
            self.source, self.dest, self.mode, self.rw, self.propagation
        )
    }
}

/// fnmatch-style glob without path semantics (`*` also matches `/`), as libsinsp matches
/// `container.mount.dest[/proc*]` arguments.
pub fn glob(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == b'?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

impl ContainerInfo {
    /// The mount chosen by a field argument: a number is an index, anything else a glob
    /// matched against the mount's source (or its destination when `by_dest`).
    pub fn find_mount(&self, key: &str, by_dest: bool) -> Option<&Mount> {
        if let Ok(i) = key.parse::<usize>() {
            return self.mounts.get(i);
        }
        self.mounts.iter().find(|m| {
            let what = if by_dest { &m.dest } else { &m.source };
            glob(key, what)
        })
    }

    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Sets `image` and the parts Falco shows of it: repository, tag and digest, and the image
    /// id without its `sha256:` prefix, shortened to 12 characters.
    pub fn set_image(&mut self, image: String, image_id: &str) {
        (self.image_repository, self.image_tag, self.image_digest) = split_image(&image);
        self.image = image;
        let id = image_id.strip_prefix("sha256:").unwrap_or(image_id);
        self.image_id = id.get(..12).unwrap_or(id).to_string();
    }

    pub fn pod_label(&self, key: &str) -> Option<&str> {
        self.pod_labels
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// One finished lookup.
#[derive(Debug)]
pub struct Lookup {
    pub id: String,
    pub info: Option<Arc<ContainerInfo>>,
    /// The containerd pod sandbox lookup made for it, if one was made (not cached): whether
    /// it found the sandbox.
    pub pod_lookup: Option<bool>,
    /// Why nothing was found (each source's answer), when `info` is `None`.
    pub reason: Option<String>,
}

/// The asynchronous resolver; see the module documentation.
#[derive(Debug)]
pub struct Resolver {
    requests: SyncSender<String>,
    results: Receiver<Lookup>,
}

/// Default API sockets, tried in order.
pub fn default_sockets() -> Vec<PathBuf> {
    [
        "/run/podman/podman.sock",
        "/var/run/docker.sock",
        "/run/docker.sock",
    ]
    .iter()
    .map(PathBuf::from)
    .collect()
}

/// The container plugin's default `label_max_len`.
pub const DEFAULT_LABEL_MAX_LEN: usize = 100;

/// One container engine of the container plugin's `init_config.engines`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Engine {
    pub enabled: bool,
    /// Paths as on the host; [`StateConfig::for_host`](crate::StateConfig::for_host) puts
    /// them under `HOST_ROOT`.
    pub sockets: Vec<PathBuf>,
}

impl Engine {
    fn on(sockets: &[&str]) -> Engine {
        Engine {
            enabled: true,
            sockets: sockets.iter().map(PathBuf::from).collect(),
        }
    }

    fn enabled_sockets(&self) -> &[PathBuf] {
        if self.enabled {
            &self.sockets
        } else {
            &[]
        }
    }
}

/// The engines Peregrine can ask, configured as the container plugin's `init_config` says.
/// Defaults: every engine on, at the plugin's default sockets plus those Peregrine asked
/// before it read `init_config` (`/run/docker.sock`, containerd's usual socket); rootless
/// podman's per-user sockets are not asked. docker and podman are asked through their
/// Docker-compatible API; containerd and CRI-O through runc's state on disk, plus
/// containerd's API for pod labels.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Engines {
    pub docker: Engine,
    pub podman: Engine,
    /// containerd's own API: pod labels of its Kubernetes containers, and runc's state under
    /// `/run/containerd/runc`.
    pub containerd: Engine,
    /// The CRI engines: a socket named `containerd.sock` is containerd's (its API is asked
    /// for pod labels); CRI-O's containers are read from runc's state under `/run/runc`, as
    /// Peregrine does not speak the CRI protocol.
    pub cri: Engine,
    pub label_max_len: usize,
}

impl Default for Engines {
    fn default() -> Self {
        Engines {
            docker: Engine::on(&["/var/run/docker.sock", "/run/docker.sock"]),
            podman: Engine::on(&["/run/podman/podman.sock"]),
            containerd: Engine::on(&[
                "/run/containerd/containerd.sock",
                "/run/host-containerd/containerd.sock",
            ]),
            cri: Engine::on(&[
                "/run/containerd/containerd.sock",
                "/run/crio/crio.sock",
                "/run/k3s/containerd/containerd.sock",
                "/run/host-containerd/containerd.sock",
            ]),
            label_max_len: DEFAULT_LABEL_MAX_LEN,
        }
    }
}

impl Engines {
    /// (API sockets, runc state roots, containerd sockets), each path under `host_root`.
    pub fn sources(&self, host_root: &Path) -> (Vec<PathBuf>, Vec<PathBuf>, Vec<PathBuf>) {
        let under = |p: &Path| crate::state::host_path(host_root, &p.to_string_lossy());
        let mut api = Vec::new();
        // podman first: on a host with both, podman's socket is the one that answers for
        // podman's containers, and docker's never does.
        for s in self
            .podman
            .enabled_sockets()
            .iter()
            .chain(self.docker.enabled_sockets())
        {
            push_unique(&mut api, under(s));
        }
        let mut roots = Vec::new();
        let mut containerd = Vec::new();
        for s in self.containerd.enabled_sockets() {
            push_unique(&mut containerd, under(s));
        }
        for s in self.cri.enabled_sockets() {
            if s.file_name().is_some_and(|n| n == "containerd.sock") {
                push_unique(&mut containerd, under(s));
            }
        }
        if self.containerd.enabled || self.cri.enabled {
            push_unique(&mut roots, under(Path::new("/run/containerd/runc")));
        }
        if self.cri.enabled {
            push_unique(&mut roots, under(Path::new("/run/runc")));
        }
        (api, roots, containerd)
    }
}

fn push_unique(list: &mut Vec<PathBuf>, p: PathBuf) {
    if !list.contains(&p) {
        list.push(p);
    }
}

/// Leaves out label values longer than `max`, as the container plugin does, except the pod
/// identity labels the plugin always sets.
fn drop_long_labels(labels: &mut Vec<(String, String)>, max: usize) {
    const KEPT: [&str; 4] = [
        "io.kubernetes.sandbox.id",
        "io.kubernetes.pod.uid",
        "io.kubernetes.pod.name",
        "io.kubernetes.pod.namespace",
    ];
    labels.retain(|(k, v)| v.len() <= max || KEPT.contains(&k.as_str()));
}

impl Resolver {
    /// Starts the worker thread: each id is asked of the API `sockets` in order, then looked up
    /// in the OCI runtime state under `state_roots` ([`crate::oci`]); the pod labels of a
    /// Kubernetes container found there without them are asked of containerd at
    /// `containerd_sockets` ([`PodLabels`]). Label values longer than `label_max_len` are
    /// left out. `queue` bounds pending requests.
    pub fn start(
        sockets: Vec<PathBuf>,
        state_roots: Vec<PathBuf>,
        containerd_sockets: Vec<PathBuf>,
        label_max_len: usize,
        queue: usize,
    ) -> std::io::Result<Self> {
        let (req_tx, req_rx) = mpsc::sync_channel::<String>(queue);
        let (res_tx, res_rx) = mpsc::channel::<Lookup>();
        let mut pods = PodLabels::new(containerd_sockets);
        std::thread::Builder::new()
            .name("pg-containers".into())
            .spawn(move || {
                worker(
                    &sockets,
                    &state_roots,
                    label_max_len,
                    &mut pods,
                    &req_rx,
                    &res_tx,
                )
            })?;
        Ok(Resolver {
            requests: req_tx,
            results: res_rx,
        })
    }

    /// Queues a lookup; false when the queue is full (or the worker is gone).
    pub fn request(&self, full_id: &str) -> bool {
        match self.requests.try_send(full_id.to_string()) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => false,
        }
    }

    /// Finished lookups, without waiting.
    pub fn try_results(&self) -> impl Iterator<Item = Lookup> + '_ {
        self.results.try_iter()
    }
}

/// Quick retries of a lookup that found nothing, inside the worker: a container's first
/// events usually come before its runtime has recorded it (runc writes its state after the init
/// process joined the cgroup), and the container may then be silent for a long time. Retrying
/// here, not on the container's next event, bounds the window in which a new container's fields
/// are `<NA>` to the runtime's own delay plus at most one retry interval (≤ 400 ms).
const RETRY_DELAYS_MS: [u64; 6] = [25, 50, 100, 200, 400, 400];

/// (due, id, retries done); a handful of entries at most, so a scan beats a heap.
type Retries = Vec<(std::time::Instant, String, usize)>;

/// Pod labels of containerd pod sandboxes, asked of containerd's containers API on the worker
/// thread and cached per sandbox: a pod's containers share one answer, and a missing socket
/// costs one failed connect per pod, counted, never logged.
#[derive(Debug)]
pub struct PodLabels {
    sockets: Vec<PathBuf>,
    /// Sandbox id → its labels (`None`: no socket knew it) and when that was learnt.
    cache: std::collections::HashMap<String, (std::time::Instant, Option<Labels>)>,
}

type Labels = Vec<(String, String)>;

/// Sandboxes remembered at most; past it the cache starts over (pods come and go, and a
/// forgotten one costs one more call).
const MAX_PODS: usize = 4096;
/// Per call: containerd answers from its local database in milliseconds.
const POD_LOOKUP_TIMEOUT: Duration = Duration::from_secs(1);
/// A sandbox no socket knew is asked again after this long: containerd may have been
/// restarting, and a container of that pod may be looked up again later.
const POD_MISS_TTL: Duration = Duration::from_secs(30);

impl PodLabels {
    pub fn new(sockets: Vec<PathBuf>) -> Self {
        PodLabels {
            sockets,
            cache: Default::default(),
        }
    }

    /// Fills `info.pod_labels` from its sandbox's containerd record when the runtime state did
    /// not have them. Returns whether a call was made and found the sandbox (`None`: no call).
    pub fn fill(&mut self, info: &mut ContainerInfo) -> Option<bool> {
        if !info.pod_labels.is_empty() || self.sockets.is_empty() {
            return None;
        }
        let sandbox = info.label("io.kubernetes.sandbox.id")?.to_string();
        let mut asked = None;
        let stale = self
            .cache
            .get(&sandbox)
            .is_none_or(|(at, found)| found.is_none() && at.elapsed() >= POD_MISS_TTL);
        if stale {
            if self.cache.len() >= MAX_PODS {
                self.cache.clear();
            }
            let found = self.sockets.iter().find_map(|s| {
                crate::containerd::get_container(
                    s,
                    crate::containerd::CRI_NAMESPACE,
                    &sandbox,
                    POD_LOOKUP_TIMEOUT,
                )
                .ok()
                .flatten()
            });
            asked = Some(found.is_some());
            self.cache.insert(
                sandbox.clone(),
                (std::time::Instant::now(), found.map(|c| c.pod_labels())),
            );
        }
        if let Some((_, Some(labels))) = self.cache.get(&sandbox) {
            info.pod_labels.clone_from(labels);
        }
        asked
    }
}

fn worker(
    sockets: &[PathBuf],
    state_roots: &[PathBuf],
    label_max_len: usize,
    pods: &mut PodLabels,
    requests: &Receiver<String>,
    results: &mpsc::Sender<Lookup>,
) {
    use std::time::Instant;
    // False when the state is gone and the worker should end.
    let mut attempt = |retries: &mut Retries, id: String, done: usize| {
        // Each source's answer is kept for the reason of a failure (the console shows it).
        let mut why: Vec<String> = Vec::new();
        let mut info = sockets
            .iter()
            .find_map(|s| match inspect(s, &id) {
                Ok(Some(i)) => Some(i),
                Ok(None) => {
                    why.push(format!("{}: unknown container", s.display()));
                    None
                }
                Err(e) => {
                    why.push(format!("{}: {e}", s.display()));
                    None
                }
            })
            .or_else(|| crate::oci::lookup(state_roots, &id));
        if info.is_none() && !state_roots.is_empty() {
            why.push("not in the OCI runtime state".into());
        }
        match (info.as_mut(), RETRY_DELAYS_MS.get(done)) {
            (None, Some(ms)) => {
                retries.push((Instant::now() + Duration::from_millis(*ms), id, done + 1));
                true
            }
            (found, _) => {
                let pod_lookup = found.and_then(|i| {
                    let asked = pods.fill(i);
                    drop_long_labels(&mut i.labels, label_max_len);
                    drop_long_labels(&mut i.pod_labels, label_max_len);
                    asked
                });
                let reason = info.is_none().then(|| why.join("; ")).map(|r| {
                    if r.is_empty() {
                        "no source to ask".into()
                    } else {
                        r
                    }
                });
                let info = info.map(Arc::new);
                results
                    .send(Lookup {
                        id,
                        info,
                        pod_lookup,
                        reason,
                    })
                    .is_ok()
            }
        }
    };
    let mut retries = Retries::new();
    loop {
        let wait = retries
            .iter()
            .map(|r| r.0)
            .min()
            .map_or(Duration::from_secs(3600), |d| {
                d.saturating_duration_since(Instant::now())
            });
        match requests.recv_timeout(wait) {
            Ok(id) => {
                if !attempt(&mut retries, id, 0) {
                    return;
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        }
        let now = Instant::now();
        let (due, later): (Retries, Retries) = retries.drain(..).partition(|r| r.0 <= now);
        retries = later;
        for (_, id, done) in due {
            if !attempt(&mut retries, id, done) {
                return;
            }
        }
    }
}

/// Most bytes read from an API answer.
const MAX_ANSWER: u64 = 4 << 20;

/// `GET /containers/<id>/json` over the unix socket. `Ok(None)`: the runtime does not know it.
pub fn inspect(socket: &std::path::Path, id: &str) -> std::io::Result<Option<ContainerInfo>> {
    if !crate::oci::is_safe_id(id) {
        return Ok(None);
    }
    let (status, body) = request(socket, "GET", &format!("/containers/{id}/json"))?;
    if status != 200 {
        return Ok(None);
    }
    let Ok(json) = serde_json::from_slice::<Json>(&body) else {
        return Ok(None);
    };
    Ok(Some(parse_inspect(&json)))
}

/// One bodiless request to the Docker-compatible API on `socket` (`path` with its query):
/// the status code and the body, at most [`MAX_ANSWER`] bytes. The response crate asks
/// container operations (`POST /containers/<id>/pause`) through it. `timeout` bounds each
/// read and write; a request the runtime takes longer to answer (a stop with a grace period)
/// needs a longer one than a lookup.
pub fn request_with_timeout(
    socket: &std::path::Path,
    method: &str,
    path: &str,
    timeout: Duration,
) -> std::io::Result<(u16, Vec<u8>)> {
    let mut s = UnixStream::connect(socket)?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    // HTTP/1.0: the server closes the connection and never uses chunked encoding.
    let req = format!("{method} {path} HTTP/1.0\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n");
    s.write_all(req.as_bytes())?;
    let mut buf = Vec::new();
    s.take(MAX_ANSWER).read_to_end(&mut buf)?;
    let bad = || std::io::Error::new(std::io::ErrorKind::InvalidData, "not an HTTP answer");
    let split = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(bad)?;
    let head = String::from_utf8_lossy(&buf[..split]);
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse::<u16>().ok())
        .ok_or_else(bad)?;
    Ok((status, buf.split_off(split + 4)))
}

/// [`request_with_timeout`] with the lookups' 2 s.
pub fn request(
    socket: &std::path::Path,
    method: &str,
    path: &str,
) -> std::io::Result<(u16, Vec<u8>)> {
    request_with_timeout(socket, method, path, Duration::from_secs(2))
}

fn s(v: &Json, path: &[&str]) -> String {
    let mut cur = v;
    for p in path {
        match cur.get(p) {
            Some(n) => cur = n,
            None => return String::new(),
        }
    }
    cur.as_str().unwrap_or_default().to_string()
}

/// Splits `repo[:tag][@digest]` (a registry port's colon is not a tag separator).
pub fn split_image(image: &str) -> (String, String, String) {
    let (rest, digest) = match image.split_once('@') {
        Some((r, d)) => (r, d.to_string()),
        None => (image, String::new()),
    };
    let slash = rest.rfind('/').map_or(0, |i| i + 1);
    match rest[slash..].rfind(':') {
        Some(i) => (
            rest[..slash + i].to_string(),
            rest[slash + i + 1..].to_string(),
            digest,
        ),
        None => (rest.to_string(), String::new(), digest),
    }
}

/// The fields Falco reports, from a Docker-compatible inspect document.
pub fn parse_inspect(v: &Json) -> ContainerInfo {
    let image = {
        let cfg = s(v, &["Config", "Image"]);
        if cfg.is_empty() {
            s(v, &["ImageName"])
        } else {
            cfg
        }
    };
    let mut labels: Vec<(String, String)> = v
        .get("Config")
        .and_then(|c| c.get("Labels"))
        .and_then(Json::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default();
    labels.sort();
    let host = |mode: &str| s(v, &["HostConfig", mode]) == "host";
    let mounts = v
        .get("Mounts")
        .and_then(Json::as_array)
        .map(|a| {
            a.iter()
                .map(|m| Mount {
                    source: s(m, &["Source"]),
                    dest: s(m, &["Destination"]),
                    mode: s(m, &["Mode"]),
                    rw: m.get("RW").and_then(Json::as_bool).unwrap_or(false),
                    propagation: s(m, &["Propagation"]),
                })
                .collect()
        })
        .unwrap_or_default();
    let mut info = ContainerInfo {
        name: s(v, &["Name"]).trim_start_matches('/').to_string(),
        labels,
        privileged: v
            .get("HostConfig")
            .and_then(|h| h.get("Privileged"))
            .and_then(Json::as_bool)
            .unwrap_or(false),
        start_ts: parse_rfc3339(&s(v, &["State", "StartedAt"])).unwrap_or(0),
        ip: s(v, &["NetworkSettings", "IPAddress"]),
        host_pid: host("PidMode"),
        host_network: host("NetworkMode"),
        host_ipc: host("IpcMode"),
        mounts,
        init_pid: v
            .get("State")
            .and_then(|st| st.get("Pid"))
            .and_then(Json::as_i64)
            .unwrap_or(0),
        ..ContainerInfo::default()
    };
    info.set_image(image, &s(v, &["Image"]));
    info
}

/// `2024-05-01T12:34:56.123456789Z` or with a `+hh:mm` offset → ns since the epoch.
pub fn parse_rfc3339(t: &str) -> Option<u64> {
    let num = |a: usize, b: usize| t.get(a..b)?.parse::<i64>().ok();
    let (y, mo, d) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let (h, mi, sec) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
    let rest = t.get(19..)?;
    let (frac, zone) = match rest.strip_prefix('.') {
        Some(r) => {
            let end = r.find(|c: char| !c.is_ascii_digit()).unwrap_or(r.len());
            (&r[..end], &r[end..])
        }
        None => ("", rest),
    };
    let mut nanos: i64 = 0;
    for (i, c) in frac.bytes().take(9).enumerate() {
        nanos += i64::from(c - b'0') * 10i64.pow(8 - i as u32);
    }
    let offset = match zone.as_bytes().first() {
        Some(b'Z') | None => 0,
        Some(&sign) => {
            let oh: i64 = zone.get(1..3)?.parse().ok()?;
            let om: i64 = zone.get(4..6)?.parse().ok()?;
            let o = (oh * 60 + om) * 60;
            if sign == b'-' {
                -o
            } else {
                o
            }
        }
    };
    let days = peregrine_event::time::days_from_civil(y, mo, d);
    let secs = days * 86_400 + h * 3600 + mi * 60 + sec - offset;
    u64::try_from(secs)
        .ok()
        .map(|s| s * 1_000_000_000 + nanos as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engines_choose_the_sources_under_the_host_root() {
        let paths = |v: Vec<PathBuf>| -> Vec<String> {
            v.iter().map(|p| p.display().to_string()).collect()
        };
        let mut e = Engines::default();
        let (api, roots, ctrd) = e.sources(Path::new("/host"));
        assert_eq!(
            paths(api),
            [
                "/host/run/podman/podman.sock",
                "/host/var/run/docker.sock",
                "/host/run/docker.sock"
            ]
        );
        assert_eq!(
            paths(roots),
            ["/host/run/containerd/runc", "/host/run/runc"]
        );
        assert_eq!(
            paths(ctrd),
            [
                "/host/run/containerd/containerd.sock",
                "/host/run/host-containerd/containerd.sock",
                "/host/run/k3s/containerd/containerd.sock"
            ]
        );
        // Disabled engines give nothing; CRI alone still reads runc's state of both runtimes.
        e.docker.enabled = false;
        e.containerd.enabled = false;
        e.cri.sockets = vec![PathBuf::from("/run/crio/crio.sock")];
        let (api, roots, ctrd) = e.sources(Path::new("/"));
        assert_eq!(paths(api), ["/run/podman/podman.sock"]);
        assert_eq!(paths(roots), ["/run/containerd/runc", "/run/runc"]);
        assert!(ctrd.is_empty());
        e.cri.enabled = false;
        e.podman.enabled = false;
        assert_eq!(e.sources(Path::new("/")), (vec![], vec![], vec![]));
    }

    #[test]
    fn long_label_values_are_left_out_but_not_the_pod_identity() {
        let long = "x".repeat(11);
        let mut labels: Vec<(String, String)> = [
            ("a", "short"),
            ("b", long.as_str()),
            ("io.kubernetes.pod.name", long.as_str()),
            ("c", "exactly10!"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        drop_long_labels(&mut labels, 10);
        let keys: Vec<&str> = labels.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["a", "io.kubernetes.pod.name", "c"]);
    }

    #[test]
    fn splits_images() {
        for (img, repo, tag, digest) in [
            ("nginx", "nginx", "", ""),
            (
                "docker.io/library/nginx:1.25",
                "docker.io/library/nginx",
                "1.25",
                "",
            ),
            ("localhost:5000/app:v1", "localhost:5000/app", "v1", ""),
            ("localhost:5000/app", "localhost:5000/app", "", ""),
            ("quay.io/x/y@sha256:abc", "quay.io/x/y", "", "sha256:abc"),
            ("quay.io/x/y:t@sha256:abc", "quay.io/x/y", "t", "sha256:abc"),
        ] {
            assert_eq!(
                split_image(img),
                (repo.to_string(), tag.to_string(), digest.to_string()),
                "{img}"
            );
        }
    }

    #[test]
    fn globs_like_fnmatch() {
        for (p, t, want) in [
            ("/proc*", "/proc", true),
            ("/proc*", "/proc/sys/kernel", true),
            ("/proc*", "/pro", false),
            ("/var/run/docker.sock", "/var/run/docker.sock", true),
            ("/root*", "/home", false),
            ("/a?c", "/abc", true),
            ("*", "", true),
            ("/", "/etc", false),
        ] {
            assert_eq!(glob(p, t), want, "{p} ~ {t}");
        }
    }

    #[test]
    fn parses_times() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:01Z"), Some(1_000_000_000));
        assert_eq!(
            parse_rfc3339("2024-05-01T12:34:56.5Z"),
            Some(1_714_566_896_500_000_000)
        );
        assert_eq!(
            parse_rfc3339("2024-05-01T14:34:56.000000001+02:00"),
            Some(1_714_566_896_000_000_001)
        );
        assert_eq!(parse_rfc3339("garbage"), None);
    }

    #[test]
    fn parses_inspect_documents() {
        let doc = serde_json::json!({
            "Id": "3ad7b26ded6d8e7b",
            "Name": "/web",
            "Image": "sha256:6f7e2741b66b1234",
            "Config": {"Image": "docker.io/library/nginx:1.25", "Labels": {"b": "2", "a": "1"}},
            "State": {"StartedAt": "1970-01-01T00:00:02Z"},
            "HostConfig": {"Privileged": true, "PidMode": "host", "NetworkMode": "bridge"},
            "NetworkSettings": {"IPAddress": "10.88.0.2"},
            "Mounts": [{"Source": "/proc", "Destination": "/host/proc", "Mode": "", "RW": false, "Propagation": "rprivate"}]
        });
        let c = parse_inspect(&doc);
        assert_eq!(c.name, "web");
        assert_eq!(c.image_id, "6f7e2741b66b");
        assert_eq!(
            (c.image_repository.as_str(), c.image_tag.as_str()),
            ("docker.io/library/nginx", "1.25")
        );
        assert_eq!(
            c.labels,
            [("a".into(), "1".into()), ("b".into(), "2".into())]
        );
        assert!(c.privileged && c.host_pid && !c.host_network);
        assert_eq!((c.start_ts, c.ip.as_str()), (2_000_000_000, "10.88.0.2"));
        assert_eq!(c.label("b"), Some("2"));
        assert_eq!(c.mounts[0].render(), "/proc:/host/proc::false:rprivate");
        assert_eq!(
            c.find_mount("/pro*", false).map(|m| m.dest.as_str()),
            Some("/host/proc")
        );
        assert_eq!(
            c.find_mount("/host/*", true).map(|m| m.source.as_str()),
            Some("/proc")
        );
        assert_eq!(c.find_mount("0", false).map(|m| m.rw), Some(false));
        assert_eq!(c.find_mount("/etc", false), None);
        assert_eq!(
            parse_inspect(&serde_json::json!([])),
            ContainerInfo::default()
        );
    }
}
