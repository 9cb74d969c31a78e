//! Container ids from cgroup paths.
//!
//! Key decision: the id comes from the cgroup path alone, with no runtime round trip, so every
//! event of a containerised process has `container.id` the moment its thread is known; name,
//! image and labels arrive later from the runtime (asynchronously) and are keyed by this id.
//!
//! Recognised layouts (cgroup v1 and v2 paths alike, the last matching component wins):
//! docker (`/docker/<64 hex>`, `docker-<64 hex>.scope`), containerd/CRI (`cri-containerd-<id>.scope`,
//! `/kubepods/…/<64 hex>`, `/default/<id>` from `ctr`), CRI-O (`crio-<id>.scope`,
//! `crio-conmon-` excluded), podman (`libpod-<id>[.scope]`, including `…/libpod-<id>/container`),
//! systemd-nspawn (`machine-<name>.scope`, id = the machine name), and any other component that
//! is 32 or 64 hex digits (the generic rule of Falco's container engine, which is also why a
//! process in the memory cgroup `/process_api/<32 hex>` of these hosts is a container for Falco
//! and therefore for Peregrine: same id, same verdicts).

/// What a cgroup path says about the container of a process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerRef {
    /// The full id (64 hex for docker/podman, the machine name for nspawn).
    pub full_id: String,
    /// The engine the path layout belongs to (`container.type`).
    pub engine: &'static str,
}

impl ContainerRef {
    /// `container.id`: the first 12 characters of the full id.
    pub fn short_id(&self) -> &str {
        let end = self
            .full_id
            .char_indices()
            .nth(12)
            .map_or(self.full_id.len(), |(i, _)| i);
        &self.full_id[..end]
    }
}

fn is_hex_id(s: &str) -> bool {
    (s.len() == 64 || s.len() == 32) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn strip_scope(s: &str) -> &str {
    s.strip_suffix(".scope").unwrap_or(s)
}

/// The container named by one cgroup path, if any.
pub fn from_cgroup_path(path: &str) -> Option<ContainerRef> {
    let mut found = None;
    let mut prev = "";
    for comp in path.split('/') {
        let c = strip_scope(comp);
        let hit = if let Some(id) = c.strip_prefix("docker-").filter(|i| is_hex_id(i)) {
            Some((id, "docker"))
        } else if let Some(id) = c.strip_prefix("cri-containerd-").filter(|i| is_hex_id(i)) {
            Some((id, "containerd"))
        } else if let Some(id) = c.strip_prefix("crio-").filter(|i| is_hex_id(i)) {
            Some((id, "cri-o"))
        } else if let Some(id) = c.strip_prefix("libpod-").filter(|i| is_hex_id(i)) {
            Some((id, "podman"))
        } else if let Some(name) = c
            .strip_prefix("machine-")
            .filter(|_| comp.ends_with(".scope"))
        {
            Some((name, "systemd-nspawn"))
        } else if is_hex_id(c) {
            let engine = match prev {
                "docker" => "docker",
                "default" => "containerd",
                p if p.starts_with("kubepods") || p.starts_with("pod") => "containerd",
                _ => "docker",
            };
            Some((c, engine))
        } else {
            None
        };
        if let Some((id, engine)) = hit {
            found = Some(ContainerRef {
                full_id: id.to_string(),
                engine,
            });
        }
        prev = comp;
    }
    found.or_else(|| ctr_namespaced(path))
}

/// The container plugin's last resort, its containerd matcher for `ctr` containers
/// (`/<namespace>/<id>`): the first `/name/` component (letters and digits joined by single
/// `.`, `_` or `-`) is taken as a namespace and everything after its last occurrence as the
/// id, of at most 64 characters, unless the path ends like a systemd unit. So the memory
/// cgroup `/user/bencer/0` is container `bencer/0` for Falco, and therefore for Peregrine.
fn ctr_namespaced(path: &str) -> Option<ContainerRef> {
    let is_word = |w: &str| {
        !w.is_empty()
            && w.split(['.', '_', '-'])
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric()))
    };
    // The regex's first match: a component between two slashes.
    let mut comps = path.split('/');
    comps.next()?;
    let mut offset = 1 + path.split('/').next()?.len();
    let ns = loop {
        let c = comps.next()?;
        // Only a component followed by a slash is "/name/".
        if offset + c.len() < path.len() && is_word(c) {
            break &path[offset - 1..offset + c.len() + 1];
        }
        offset += c.len() + 1;
    };
    let start = path.rfind(ns)? + ns.len();
    let id = &path[start..];
    if id.is_empty()
        || id.len() > 64
        || [".service", ".slice", ".scope"]
            .iter()
            .any(|s| path.ends_with(s))
    {
        return None;
    }
    Some(ContainerRef {
        full_id: id.to_string(),
        engine: "containerd",
    })
}

/// The container of a process from all its cgroups (`subsystem=path` pairs); `None` = host.
pub fn from_cgroups<'a>(
    cgroups: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Option<ContainerRef> {
    cgroups
        .into_iter()
        .find_map(|(_, path)| from_cgroup_path(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "3ad7b26ded6d8e7b23da7d48fe889434573036c27ae5a74837233de441c3601e";

    fn check(path: &str, expected: Option<(&str, &str)>) {
        let got = from_cgroup_path(path);
        assert_eq!(
            got.as_ref().map(|c| (c.short_id(), c.engine)),
            expected,
            "{path}"
        );
    }

    #[test]
    fn recognises_runtimes() {
        check(&format!("/docker/{ID}"), Some(("3ad7b26ded6d", "docker")));
        check(
            &format!("/system.slice/docker-{ID}.scope"),
            Some(("3ad7b26ded6d", "docker")),
        );
        check(
            &format!("/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1.slice/cri-containerd-{ID}.scope"),
            Some(("3ad7b26ded6d", "containerd")),
        );
        check(
            &format!("/kubepods/besteffort/pod0c5e1b6f-6c09-4a6a-9a47-3e6d0d1c2b3a/{ID}"),
            Some(("3ad7b26ded6d", "containerd")),
        );
        check(
            &format!("/kubepods.slice/kubepods-pod1.slice/crio-{ID}.scope"),
            Some(("3ad7b26ded6d", "cri-o")),
        );
        check(
            &format!("/machine.slice/libpod-{ID}.scope/container"),
            Some(("3ad7b26ded6d", "podman")),
        );
        check(
            &format!("/libpod_parent/libpod-{ID}"),
            Some(("3ad7b26ded6d", "podman")),
        );
        check(
            &format!("/default/{ID}"),
            Some(("3ad7b26ded6d", "containerd")),
        );
        check(
            "/machine.slice/machine-debian12.scope",
            Some(("debian12", "systemd-nspawn")),
        );
        check(
            "/process_api/1b70673d04b87f88fe089b6f9e21e2a1",
            Some(("1b70673d04b8", "docker")),
        );
        check("/", None);
        check("/user.slice/user-1000.slice/session-2.scope", None);
        check("/system.slice/cron.service", None);
        // The plugin's containerd matcher takes any `/namespace/id` outside systemd units.
        check("/docker/notanid", Some(("notanid", "containerd")));
        check("/user/bencer/0", Some(("bencer/0", "containerd")));
        check("/user.slice/user-1000.slice/user@1000.service", None);
        check("/user.slice", None);
    }

    #[test]
    fn first_cgroup_with_a_container_wins() {
        let c = from_cgroups([
            ("cpu", "/"),
            ("memory", "/process_api/1b70673d04b87f88fe089b6f9e21e2a1"),
        ]);
        assert_eq!(c.map(|c| c.full_id.len()), Some(32));
        assert_eq!(from_cgroups([("cpu", "/"), ("", "/")]), None);
    }
}
