//! Container and pod metadata from the OCI runtime's on-disk state, for runtimes without a
//! Docker-compatible API: containerd (CRI or `ctr`) and CRI-O.
//!
//! Key decision: read what the low-level runtime already wrote instead of speaking CRI gRPC.
//! runc keeps `<root>/[<namespace>/]<id>/state.json` for every live container, with the OCI
//! bundle's path among its labels (`bundle=…`) and the creation time; the bundle's
//! `config.json` carries the OCI annotations in which containerd's CRI plugin and CRI-O record
//! the container name, image, pod name/namespace/uid and sandbox id. Both files exist before the
//! container's first process runs, so the first lookup of a container already finds them:
//! there is no window in which the runtime knows a container that this reader cannot see.
//! Pod labels come from the sandbox's own bundle (CRI-O records them there as JSON); containerd
//! keeps pod labels only in its metadata database, which the resolver asks through containerd's
//! API ([`crate::containerd`]).

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value as Json};

use crate::runtime::{parse_rfc3339, ContainerInfo, Mount};

/// runc state roots tried by default: containerd's shim (one directory per namespace), then
/// runc's own default (CRI-O, podman with runc, plain runc).
pub fn default_state_roots() -> Vec<PathBuf> {
    ["/run/containerd/runc", "/run/runc"]
        .iter()
        .map(PathBuf::from)
        .collect()
}

/// Largest state or config file read (a config.json is a few KiB; this bounds a hostile one).
const MAX_FILE: u64 = 4 << 20;

fn read_json(path: &Path) -> Option<Json> {
    use std::io::Read;
    let f = fs::File::open(path).ok()?;
    let mut buf = Vec::new();
    f.take(MAX_FILE).read_to_end(&mut buf).ok()?;
    serde_json::from_slice(&buf).ok()
}

/// The runc `state.json` of container `id` under any of `roots` (directly or one namespace
/// level down), if the container is alive.
fn find_state(roots: &[PathBuf], id: &str) -> Option<Json> {
    locate_state(roots, id).map(|(_, _, s)| s)
}

/// Like [`find_state`], with where it was: the runtime's root (the directory that holds
/// `<id>/`) and, when found one level down, that level's name (containerd's namespace).
fn locate_state(roots: &[PathBuf], id: &str) -> Option<(PathBuf, Option<String>, Json)> {
    if !is_safe_id(id) {
        return None;
    }
    for root in roots {
        if let Some(s) = read_json(&root.join(id).join("state.json")) {
            return Some((root.clone(), None, s));
        }
        let Ok(namespaces) = fs::read_dir(root) else {
            continue;
        };
        for ns in namespaces.flatten() {
            let dir = ns.path();
            if let Some(s) = read_json(&dir.join(id).join("state.json")) {
                let name = ns.file_name().to_str().map(str::to_string);
                return Some((dir, name, s));
            }
        }
    }
    None
}

/// What acting on a container through its OCI runtime needs, from runc's `state.json`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuntimeState {
    /// The runtime's `--root`: the directory that holds `<id>/state.json`.
    pub root: PathBuf,
    /// The level between a state root and the container: containerd's namespace
    /// (`/run/containerd/runc/<namespace>/<id>`); `None` for a container directly below a
    /// root (CRI-O, plain runc).
    pub namespace: Option<String>,
    /// The container's init, in the host's pid numbers.
    pub init_pid: i64,
    /// The init's start time, clock ticks after boot (`/proc/PID/stat` field 22), so a pid
    /// reused since the runtime wrote the state is recognised.
    pub init_start_ticks: u64,
    /// The cgroup v2 (unified) directory, as the host names it.
    pub cgroup_unified: Option<PathBuf>,
    /// The cgroup v1 freezer directory, as the host names it (hybrid or v1 hosts).
    pub cgroup_freezer: Option<PathBuf>,
}

/// The runtime state of live container `id` under `roots`. `None`: no container by that id,
/// or its state has no init.
pub fn runtime_state(roots: &[PathBuf], id: &str) -> Option<RuntimeState> {
    let (root, namespace, state) = locate_state(roots, id)?;
    let init_pid = state.get("init_process_pid")?.as_i64().filter(|p| *p > 0)?;
    let init_start_ticks = state.get("init_process_start")?.as_u64()?;
    let cgroup = |key: &str| {
        state
            .pointer(&format!("/cgroup_paths/{key}"))
            .and_then(Json::as_str)
            .filter(|p| p.starts_with('/'))
            .map(PathBuf::from)
    };
    Some(RuntimeState {
        root,
        namespace,
        init_pid,
        init_start_ticks,
        cgroup_unified: cgroup(""),
        cgroup_freezer: cgroup("freezer"),
    })
}

/// Looks container `id` up in the runc state under `roots`. `None`: no live container by that id.
pub fn lookup(roots: &[PathBuf], id: &str) -> Option<ContainerInfo> {
    let state = find_state(roots, id)?;
    let bundle = bundle_of(&state)?;
    let spec = read_json(&bundle.join("config.json"))?;
    let created = state
        .get("created")
        .and_then(Json::as_str)
        .and_then(parse_rfc3339)
        .unwrap_or(0);
    let mut info = from_spec(&spec, created);
    if info.pod_labels.is_empty() {
        if let Some(sandbox) = sandbox_id(&spec).filter(|s| *s != id) {
            info.pod_labels = lookup_sandbox_labels(roots, sandbox);
        }
    }
    Some(info)
}

/// Ids become path components (and API URL paths): refuse anything that could leave them.
pub fn is_safe_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        && id != "."
        && id != ".."
}

fn bundle_of(state: &Json) -> Option<PathBuf> {
    let labels = state.get("config")?.get("labels")?.as_array()?;
    labels
        .iter()
        .filter_map(Json::as_str)
        .find_map(|l| l.strip_prefix("bundle="))
        .map(PathBuf::from)
}

fn annotations(spec: &Json) -> Option<&Map<String, Json>> {
    spec.get("annotations")?.as_object()
}

fn annotation<'a>(spec: &'a Json, key: &str) -> Option<&'a str> {
    annotations(spec)?
        .get(key)?
        .as_str()
        .filter(|s| !s.is_empty())
}

fn sandbox_id(spec: &Json) -> Option<&str> {
    annotation(spec, "io.kubernetes.cri.sandbox-id")
        .or_else(|| annotation(spec, "io.kubernetes.cri-o.SandboxID"))
}

fn lookup_sandbox_labels(roots: &[PathBuf], sandbox: &str) -> Vec<(String, String)> {
    find_state(roots, sandbox)
        .and_then(|s| bundle_of(&s))
        .and_then(|b| read_json(&b.join("config.json")))
        .map(|spec| json_labels(annotation(&spec, "io.kubernetes.cri-o.Labels")))
        .unwrap_or_default()
}

/// CRI-O stores label maps as JSON text inside an annotation.
fn json_labels(text: Option<&str>) -> Vec<(String, String)> {
    let Some(Json::Object(m)) = text.and_then(|t| serde_json::from_str(t).ok()) else {
        return Vec::new();
    };
    let mut v: Vec<(String, String)> = m
        .into_iter()
        .map(|(k, v)| match v {
            Json::String(s) => (k, s),
            other => (k, other.to_string()),
        })
        .collect();
    v.sort();
    v
}

/// Annotation prefixes that are runtime bookkeeping, not user labels.
const INTERNAL_PREFIXES: [&str; 3] = ["io.kubernetes.cri.", "io.kubernetes.cri-o.", "org.systemd."];

/// The fields Falco reports, from an OCI runtime spec (`config.json`) and the creation time.
pub fn from_spec(spec: &Json, created_ns: u64) -> ContainerInfo {
    let a = |k: &str| annotation(spec, k).unwrap_or_default().to_string();
    let crio =
        annotations(spec).is_some_and(|m| m.contains_key("io.kubernetes.cri-o.ContainerType"));

    // Container labels: CRI-O records them as JSON; containerd (CRI or `ctr --label`) passes
    // them through as plain annotations.
    let mut labels = if crio {
        json_labels(annotation(spec, "io.kubernetes.cri-o.Labels"))
    } else {
        let mut v: Vec<(String, String)> = annotations(spec)
            .map(|m| {
                m.iter()
                    .filter(|(k, _)| !INTERNAL_PREFIXES.iter().any(|p| k.starts_with(p)))
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    };
    // The kubelet's pod labels on every container (what docker-era runtimes exposed), so the
    // k8s.* fields read the same keys whichever runtime ran the pod.
    let pod: [(&str, &[&str]); 5] = [
        (
            "io.kubernetes.pod.name",
            &["io.kubernetes.cri.sandbox-name", "io.kubernetes.pod.name"],
        ),
        (
            "io.kubernetes.pod.namespace",
            &[
                "io.kubernetes.cri.sandbox-namespace",
                "io.kubernetes.pod.namespace",
            ],
        ),
        (
            "io.kubernetes.pod.uid",
            &["io.kubernetes.cri.sandbox-uid", "io.kubernetes.pod.uid"],
        ),
        (
            "io.kubernetes.sandbox.id",
            &[
                "io.kubernetes.cri.sandbox-id",
                "io.kubernetes.cri-o.SandboxID",
            ],
        ),
        (
            "io.kubernetes.container.name",
            &["io.kubernetes.cri.container-name"],
        ),
    ];
    for (label, keys) in pod {
        if labels.iter().any(|(k, _)| k == label) {
            continue;
        }
        if let Some(v) = keys.iter().find_map(|k| annotation(spec, k)) {
            labels.push((label.to_string(), v.to_string()));
        }
    }
    labels.sort();

    let name = [
        "io.kubernetes.cri.container-name",
        "io.kubernetes.container.name",
    ]
    .iter()
    .find_map(|k| annotation(spec, k))
    .map(str::to_string)
    .or_else(|| {
        labels
            .iter()
            .find(|(k, _)| k == "io.kubernetes.container.name")
            .map(|(_, v)| v.clone())
    })
    .unwrap_or_default();
    let image = if crio {
        a("io.kubernetes.cri-o.ImageName")
    } else {
        a("io.kubernetes.cri.image-name")
    };

    // A namespace the spec does not mention is shared with the host; one joined by path (a
    // pod's containers join their sandbox's) is not.
    let namespaces: Vec<&str> = spec
        .pointer("/linux/namespaces")
        .and_then(Json::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|n| n.get("type").and_then(Json::as_str))
                .collect()
        })
        .unwrap_or_default();
    let host = |ns: &str| !namespaces.contains(&ns);

    let caps: Vec<&str> = spec
        .pointer("/process/capabilities/bounding")
        .and_then(Json::as_array)
        .map(|a| a.iter().filter_map(Json::as_str).collect())
        .unwrap_or_default();
    // Privileged containers get the full bounding set; these are never in a default one.
    let privileged = ["CAP_SYS_ADMIN", "CAP_SYS_MODULE", "CAP_SYS_RAWIO"]
        .iter()
        .all(|c| caps.contains(c));

    let mut info = ContainerInfo {
        name,
        labels,
        pod_labels: if crio && a("io.kubernetes.cri-o.ContainerType") == "sandbox" {
            json_labels(annotation(spec, "io.kubernetes.cri-o.Labels"))
        } else {
            Vec::new()
        },
        privileged,
        start_ts: created_ns,
        ip: a("io.kubernetes.cri-o.IP.0"),
        host_pid: host("pid"),
        host_network: host("network"),
        host_ipc: host("ipc"),
        mounts: mounts(spec),
        ..ContainerInfo::default()
    };
    info.set_image(image, &a("io.kubernetes.cri-o.ImageRef"));
    info
}

fn mounts(spec: &Json) -> Vec<Mount> {
    let Some(list) = spec.get("mounts").and_then(Json::as_array) else {
        return Vec::new();
    };
    list.iter()
        .filter(|m| m.get("type").and_then(Json::as_str) == Some("bind"))
        .map(|m| {
            let opts: Vec<&str> = m
                .get("options")
                .and_then(Json::as_array)
                .map(|a| a.iter().filter_map(Json::as_str).collect())
                .unwrap_or_default();
            let propagation = opts
                .iter()
                .find(|o| {
                    matches!(
                        **o,
                        "private" | "rprivate" | "shared" | "rshared" | "slave" | "rslave"
                    )
                })
                .copied()
                .unwrap_or_default();
            Mount {
                source: m
                    .get("source")
                    .and_then(Json::as_str)
                    .unwrap_or_default()
                    .to_string(),
                dest: m
                    .get("destination")
                    .and_then(Json::as_str)
                    .unwrap_or_default()
                    .to_string(),
                mode: String::new(),
                rw: !opts.contains(&"ro"),
                propagation: propagation.to_string(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ID: &str = "78c5ac6bfa54225b68af933474b2c97c57f5a586dcb1f55004aee0c90123c822";
    const SANDBOX: &str = "4f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8";

    fn label<'a>(c: &'a ContainerInfo, k: &str) -> Option<&'a str> {
        c.label(k)
    }

    #[test]
    fn containerd_cri_annotations() {
        let spec = json!({
            "annotations": {
                "io.kubernetes.cri.container-type": "container",
                "io.kubernetes.cri.container-name": "api",
                "io.kubernetes.cri.image-name": "registry.local/shop/api:1.4.2",
                "io.kubernetes.cri.sandbox-id": SANDBOX,
                "io.kubernetes.cri.sandbox-name": "checkout-7f9c",
                "io.kubernetes.cri.sandbox-namespace": "prod",
                "io.kubernetes.cri.sandbox-uid": "0c5e1b6f-6c09-4a6a-9a47-3e6d0d1c2b3a"
            },
            "linux": {"namespaces": [
                {"type": "mount"},
                {"type": "pid", "path": "/proc/9/ns/pid"},
                {"type": "ipc", "path": "/proc/9/ns/ipc"}
            ]},
            "process": {"capabilities": {"bounding": ["CAP_CHOWN", "CAP_KILL"]}},
            "mounts": [
                {"destination": "/proc", "type": "proc", "source": "proc"},
                {"destination": "/data", "type": "bind", "source": "/var/lib/data", "options": ["rbind", "rprivate", "ro"]}
            ]
        });
        let c = from_spec(&spec, 7);
        assert_eq!(c.name, "api");
        assert_eq!(
            (c.image_repository.as_str(), c.image_tag.as_str()),
            ("registry.local/shop/api", "1.4.2")
        );
        assert_eq!(label(&c, "io.kubernetes.pod.name"), Some("checkout-7f9c"));
        assert_eq!(label(&c, "io.kubernetes.pod.namespace"), Some("prod"));
        assert_eq!(
            label(&c, "io.kubernetes.pod.uid"),
            Some("0c5e1b6f-6c09-4a6a-9a47-3e6d0d1c2b3a")
        );
        assert_eq!(label(&c, "io.kubernetes.sandbox.id"), Some(SANDBOX));
        assert_eq!(label(&c, "io.kubernetes.cri.container-type"), None);
        // Joined by path: the sandbox's namespace, not the host's; absent: the host's.
        assert!(!c.privileged && !c.host_pid && !c.host_ipc && c.host_network);
        assert_eq!(c.start_ts, 7);
        assert_eq!(c.mounts.len(), 1);
        assert_eq!(c.mounts[0].render(), "/var/lib/data:/data::false:rprivate");
    }

    #[test]
    fn crio_annotations_and_privilege() {
        let spec = json!({
            "annotations": {
                "io.kubernetes.cri-o.ContainerType": "container",
                "io.kubernetes.cri-o.ImageName": "quay.io/crio/redis:alpine",
                "io.kubernetes.cri-o.ImageRef": "98bd7cfc43b8ef0ff130465e3d5427c0771002c2f35a6a9b62cb2d04602bed0a",
                "io.kubernetes.cri-o.SandboxID": SANDBOX,
                "io.kubernetes.cri-o.IP.0": "10.244.0.3",
                "io.kubernetes.cri-o.Labels": "{\"io.kubernetes.container.name\":\"redis\",\"io.kubernetes.pod.name\":\"cache-0\",\"io.kubernetes.pod.namespace\":\"data\",\"tier\":\"backend\"}",
                "io.kubernetes.pod.uid": "11111111-2222-3333-4444-555555555555"
            },
            "process": {"capabilities": {"bounding": ["CAP_SYS_ADMIN", "CAP_SYS_MODULE", "CAP_SYS_RAWIO"]}}
        });
        let c = from_spec(&spec, 0);
        assert_eq!(c.name, "redis");
        assert_eq!(c.image, "quay.io/crio/redis:alpine");
        assert_eq!(c.image_id, "98bd7cfc43b8");
        assert_eq!(c.ip, "10.244.0.3");
        assert_eq!(label(&c, "tier"), Some("backend"));
        assert_eq!(label(&c, "io.kubernetes.pod.name"), Some("cache-0"));
        assert_eq!(
            label(&c, "io.kubernetes.pod.uid"),
            Some("11111111-2222-3333-4444-555555555555")
        );
        assert_eq!(label(&c, "io.kubernetes.sandbox.id"), Some(SANDBOX));
        assert!(c.privileged);
    }

    #[test]
    fn plain_ctr_container_shares_what_it_does_not_unshare() {
        let spec = json!({
            "annotations": {"app": "web"},
            "linux": {"namespaces": [{"type": "pid"}, {"type": "mount"}]}
        });
        let c = from_spec(&spec, 0);
        assert_eq!(c.labels, [("app".to_string(), "web".to_string())]);
        assert_eq!(c.name, "");
        assert!(!c.host_pid && c.host_network && c.host_ipc);
    }

    fn write(path: &Path, v: &Json) {
        fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        fs::write(path, v.to_string()).expect("write");
    }

    #[test]
    fn finds_state_below_a_namespace_and_pod_labels_in_the_sandbox() {
        let dir = std::env::temp_dir().join(format!("pg-oci-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let root = dir.join("runc");
        for (id, kind, labels) in [
            (
                ID,
                "container",
                "{\"io.kubernetes.container.name\":\"redis\"}",
            ),
            (
                SANDBOX,
                "sandbox",
                "{\"app\":\"cache\",\"pod-template-hash\":\"7f9c\"}",
            ),
        ] {
            let bundle = dir.join("bundles").join(id);
            write(
                &root.join("k8s.io").join(id).join("state.json"),
                &json!({"created": "1970-01-01T00:00:03Z",
                        "config": {"labels": [format!("bundle={}", bundle.display())]}}),
            );
            write(
                &bundle.join("config.json"),
                &json!({"annotations": {
                    "io.kubernetes.cri-o.ContainerType": kind,
                    "io.kubernetes.cri-o.SandboxID": SANDBOX,
                    "io.kubernetes.cri-o.Labels": labels}}),
            );
        }
        let roots = [dir.join("missing"), root];
        let c = lookup(&roots, ID).expect("found");
        assert_eq!(c.name, "redis");
        assert_eq!(c.start_ts, 3_000_000_000);
        assert_eq!(
            c.pod_labels,
            [
                ("app".to_string(), "cache".to_string()),
                ("pod-template-hash".to_string(), "7f9c".to_string())
            ]
        );
        assert!(lookup(&roots, "0123456789ab").is_none());
        assert!(lookup(&roots, "../../etc").is_none());
        let _ = fs::remove_dir_all(&dir);
    }

    /// runc's own state, as runc 1.1 writes it under containerd's shim on a hybrid host.
    #[test]
    fn runtime_state_names_root_namespace_init_and_cgroups() {
        let dir = std::env::temp_dir().join(format!("pg-oci-rt-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let root = dir.join("runc");
        write(
            &root.join("default").join(ID).join("state.json"),
            &json!({"id": ID, "init_process_pid": 796, "init_process_start": 3470284,
                    "cgroup_paths": {"": "/sys/fs/cgroup/unified/default/x",
                                     "freezer": "/sys/fs/cgroup/freezer/default/x",
                                     "pids": "relative/is/ignored"},
                    "config": {"labels": ["bundle=/nowhere"]}}),
        );
        write(
            &dir.join("plain").join(SANDBOX).join("state.json"),
            &json!({"init_process_pid": 9, "init_process_start": 1}),
        );
        let roots = [root.clone(), dir.join("plain")];
        let st = runtime_state(&roots, ID).expect("found");
        assert_eq!(
            st,
            RuntimeState {
                root: root.join("default"),
                namespace: Some("default".into()),
                init_pid: 796,
                init_start_ticks: 3470284,
                cgroup_unified: Some(PathBuf::from("/sys/fs/cgroup/unified/default/x")),
                cgroup_freezer: Some(PathBuf::from("/sys/fs/cgroup/freezer/default/x")),
            }
        );
        let plain = runtime_state(&roots, SANDBOX).expect("found");
        assert_eq!(
            (plain.root, plain.namespace, plain.cgroup_unified),
            (dir.join("plain"), None, None)
        );
        assert!(runtime_state(&roots, "../runc").is_none());
        // No init: nothing to act on.
        write(
            &root.join("default").join(ID).join("state.json"),
            &json!({"init_process_pid": 0}),
        );
        assert!(runtime_state(&roots, ID).is_none());
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn malformed_files_are_no_answer() {
        let dir = std::env::temp_dir().join(format!("pg-oci-bad-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join(ID)).expect("mkdir");
        fs::write(dir.join(ID).join("state.json"), "{not json").expect("write");
        assert!(lookup(std::slice::from_ref(&dir), ID).is_none());
        write(
            &dir.join(ID).join("state.json"),
            &json!({"config": {"labels": ["bundle=/nonexistent/bundle"]}}),
        );
        assert!(lookup(std::slice::from_ref(&dir), ID).is_none());
        let _ = fs::remove_dir_all(&dir);
    }
}
