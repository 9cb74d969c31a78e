//! The `ka.*` fields of the k8saudit plugin and the `json.*`/`jevt.*` fields of the json
//! plugin, extracted from an [`AuditEvent`] with the plugins' semantics (see the upstream
//! notes in `k8saudit/fields.md`): list fields yield one value per element, an empty list or an
//! extraction error is no value, and the known quirks (`ka.sourceips`, `eff_run_as_user`,
//! `ka.req.volume.hostpath` looking at the first volume only) are kept so that rules match
//! exactly where Falco's match.

use peregrine_event::EventType;
use peregrine_filter::fields::FieldId as F;
use peregrine_filter::{Extracted, FieldArg, FieldRequest, FieldSource, Slot};

use crate::event::AuditEvent;
use crate::json::{Elements, JsonRef};

/// The event source name.
pub const SOURCE: &str = "k8s_audit";
/// The plugin whose place the native source takes (`evt.pluginname`).
pub const PLUGIN_NAME: &str = "k8saudit";

/// The event type of plugin-source events (looked up once; the table always has it).
static PLUGIN_EVENT: std::sync::LazyLock<EventType> =
    std::sync::LazyLock::new(|| EventType::from_name("pluginevent").unwrap_or(EventType::PROCEXIT));

/// One audit event as a [`FieldSource`].
pub struct AuditFields<'a> {
    pub event: &'a AuditEvent,
    /// `evt.num`: the event's sequence number in its source.
    pub num: u64,
    pub hostname: &'a str,
}

impl FieldSource for AuditFields<'_> {
    fn event_type(&self) -> EventType {
        *PLUGIN_EVENT
    }

    fn extract(&mut self, field: &FieldRequest, out: &mut Extracted) {
        let ev = self.event;
        let j = ev.json();
        let mut s = String::new();
        match field.id {
            F::EvtNum => out.push(Slot::UInt(self.num)),
            F::EvtRawtime => out.push(Slot::UInt(ev.time_ns)),
            F::EvtRawtimeS => out.push(Slot::UInt(ev.time_ns / 1_000_000_000)),
            F::EvtRawtimeNs => out.push(Slot::UInt(ev.time_ns % 1_000_000_000)),
            id @ (F::EvtTime
            | F::EvtTimeS
            | F::EvtTimeIso8601
            | F::EvtDatetime
            | F::EvtDatetimeS) => {
                if peregrine_filter::format::format_time(id, ev.time_ns, &mut s) {
                    out.push_str(&s);
                }
            }
            F::EvtSource => out.push_str(SOURCE),
            F::EvtPluginname => out.push_str(PLUGIN_NAME),
            F::EvtHostname => out.push_str(self.hostname),
            F::EvtIsAsync => out.push(Slot::Bool(false)),
            F::JsonValue | F::JevtValue => {
                if let FieldArg::Key(k) = &field.arg {
                    if let Some(v) = j.pointer(k) {
                        push(v, out);
                    }
                }
            }
            F::JsonObj | F::JevtObj => {
                j.write_pretty(&mut s, 0);
                out.push_str(&s);
            }
            F::JsonRawtime | F::JevtRawtime => out.push_str(&ev.time_ns.to_string()),
            id => {
                // Every ka.* field is absent on an event without auditID.
                if j.get("auditID").is_none() {
                    return;
                }
                if let Some(path) = simple(id) {
                    if let Some(v) = j.path(path) {
                        push(v, out);
                    }
                    return;
                }
                if let Some(values) = ka(id, &field.arg, j) {
                    for v in values {
                        out.push_str(&v);
                    }
                }
            }
        }
    }
}

/// Pushes a value as the plugin renders it; a string goes in without a copy of its own.
fn push(v: JsonRef<'_>, out: &mut Extracted) {
    match v.as_str() {
        Some(s) => out.push_str(s),
        None => out.push_str(&v.rendered()),
    }
}

/// The index argument of a list field, if any.
fn index(arg: &FieldArg) -> Option<usize> {
    match arg {
        FieldArg::Index(i) => usize::try_from(*i).ok().or(Some(usize::MAX)),
        _ => None,
    }
}

/// Picks all elements of an array, or element `[N]` (out of range: none).
fn select(arr: Elements<'_>, idx: Option<usize>) -> impl Iterator<Item = JsonRef<'_>> {
    let (skip, take) = match idx {
        None => (0, usize::MAX),
        Some(i) => (i, 1),
    };
    arr.skip(skip).take(take)
}

fn one(v: Option<JsonRef<'_>>) -> Option<Vec<String>> {
    v.map(|v| vec![v.rendered()])
}

/// A list value: every element rendered; not an array is an error (no value).
fn each(v: Option<JsonRef<'_>>) -> Option<Vec<String>> {
    Some(v?.as_array()?.map(JsonRef::rendered).collect())
}

fn req<'j>(j: JsonRef<'j>, path: &[&str]) -> Option<JsonRef<'j>> {
    j.get("requestObject")?.path(path)
}

/// Which container list of the pod spec a field reads.
#[derive(Clone, Copy)]
enum Ctr {
    Containers,
    Init,
    Ephemeral,
}

impl Ctr {
    fn key(self) -> &'static str {
        match self {
            Ctr::Containers => "containers",
            Ctr::Init => "initContainers",
            Ctr::Ephemeral => "ephemeralContainers",
        }
    }
}

/// What a per-container field computes.
#[derive(Clone, Copy)]
enum Per {
    Name,
    Image,
    Repo,
    Command,
    Args,
    Sec(&'static str),
    EffRunAs(&'static str),
    AddCaps,
    HostPort,
}

/// Container-list fields: one entry per selected container (skipping those without the
/// value, except for name/image, whose absence is an error).
fn per_container(j: JsonRef<'_>, list: Ctr, per: Per, idx: Option<usize>) -> Option<Vec<String>> {
    let spec = req(j, &["spec"])?;
    let ctrs = select(spec.get(list.key())?.as_array()?, idx);
    let mut out = Vec::new();
    for c in ctrs {
        match per {
            Per::Name => out.push(c.get("name")?.rendered()),
            Per::Image => out.push(c.get("image")?.rendered()),
            Per::Repo => out.push(repository(&c.get("image")?.rendered()).to_string()),
            Per::Command | Per::Args => {
                let key = if matches!(per, Per::Command) {
                    "command"
                } else {
                    "args"
                };
                if let Some(v) = c.get(key) {
                    let parts: Option<Vec<&str>> = v.as_array()?.map(JsonRef::as_str).collect();
                    out.push(parts?.join(" "));
                }
            }
            Per::Sec(key) => {
                if let Some(v) = c.path(&["securityContext", key]) {
                    out.push(v.rendered());
                }
            }
            // The plugin looks for runAsUser/runAsGroup on the container and on the spec
            // themselves, not under securityContext: in practice "0" per container.
            Per::EffRunAs(key) => out.push(
                c.get(key)
                    .or_else(|| spec.get(key))
                    .map_or_else(|| "0".to_string(), JsonRef::rendered),
            ),
            Per::AddCaps => {
                if let Some(v) = c.path(&["securityContext", "capabilities", "add"]) {
                    out.push(v.rendered());
                }
            }
            Per::HostPort => {
                if let Some(ports) = c.get("ports").and_then(JsonRef::as_array) {
                    for p in ports {
                        if let Some(v) = p.get("hostPort").or_else(|| p.get("containerPort")) {
                            out.push(v.rendered());
                        }
                    }
                }
            }
        }
    }
    Some(out)
}

/// The image cut at its first `:` and then its first `@` (the plugin's rule; a registry port
/// cuts early: `registry.local:5000/app` → `registry.local`).
fn repository(image: &str) -> &str {
    let s = image.split(':').next().unwrap_or(image);
    s.split('@').next().unwrap_or(s)
}

/// Values of `key` across the role's rules (or rule `[N]`), flattened.
fn role_rules(j: JsonRef<'_>, key: &str, idx: Option<usize>) -> Option<Vec<String>> {
    let rules = select(req(j, &["rules"])?.as_array()?, idx);
    let mut out = Vec::new();
    for r in rules {
        if let Some(vals) = r.get(key).and_then(JsonRef::as_array) {
            out.extend(vals.map(JsonRef::rendered));
        }
    }
    Some(out)
}

/// Subjects of a binding of `kind`, rendered by `f`.
fn subjects(j: JsonRef<'_>, kind: &str, ns: bool) -> Option<Vec<String>> {
    let subs = req(j, &["subjects"])?.as_array()?;
    let mut out = Vec::new();
    for s in subs {
        if s.get("kind").and_then(JsonRef::as_str) != Some(kind) {
            continue;
        }
        let Some(name) = s.get("name") else { continue };
        if ns {
            let namespace = s
                .get("namespace")
                .map(JsonRef::rendered)
                .unwrap_or_default();
            out.push(format!("{namespace}:{}", name.rendered()));
        } else {
            out.push(name.rendered());
        }
    }
    Some(out)
}

fn volumes(j: JsonRef<'_>, idx: Option<usize>) -> Option<impl Iterator<Item = JsonRef<'_>>> {
    Some(select(req(j, &["spec", "volumes"])?.as_array()?, idx))
}

/// `ka.uri.param[KEY]`: the first value of the query parameter, percent-decoded.
fn uri_param(uri: &str, key: &str) -> Option<String> {
    let query = uri.split_once('?')?.1;
    query.split(['&', ';']).find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (unescape(k)? == key).then(|| unescape(v)).flatten()
    })
}

fn unescape(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// The single-value `ka.*` fields that are one JSON path: extracted without building a list
/// (most rule conditions test these first, on every event).
fn simple(id: F) -> Option<&'static [&'static str]> {
    Some(match id {
        F::KaAuditid => &["auditID"],
        F::KaStage => &["stage"],
        F::KaAuthDecision => &["annotations", "authorization.k8s.io/decision"],
        F::KaAuthReason => &["annotations", "authorization.k8s.io/reason"],
        F::KaAuthOpenshiftDecision => &["annotations", "authentication.openshift.io/decision"],
        F::KaSecurityPodViolations => {
            &["annotations", "pod-security.kubernetes.io/audit-violations"]
        }
        F::KaAuthOpenshiftUsername => &["annotations", "authentication.openshift.io/username"],
        F::KaUserName => &["user", "username"],
        F::KaImpuserName => &["impersonatedUser", "username"],
        F::KaVerb => &["verb"],
        F::KaUri => &["requestURI"],
        F::KaTargetName | F::KaReqConfigmapName => &["objectRef", "name"],
        F::KaTargetNamespace => &["objectRef", "namespace"],
        F::KaTargetResource => &["objectRef", "resource"],
        F::KaTargetSubresource => &["objectRef", "subresource"],
        F::KaReqBindingRole => &["requestObject", "roleRef", "name"],
        F::KaReqConfigmapObj => &["requestObject", "data"],
        F::KaReqPodHostIpc => &["requestObject", "spec", "hostIPC"],
        F::KaReqPodHostPid => &["requestObject", "spec", "hostPID"],
        F::KaReqPodRunAsUser => &["requestObject", "spec", "securityContext", "runAsUser"],
        F::KaReqPodRunAsGroup => &["requestObject", "spec", "securityContext", "runAsGroup"],
        F::KaReqPodFsGroup => &["requestObject", "spec", "securityContext", "fsGroup"],
        F::KaReqServiceType => &["requestObject", "spec", "type"],
        F::KaReqServicePorts => &["requestObject", "spec", "ports"],
        F::KaRespName => &["responseObject", "metadata", "name"],
        F::KaResponseCode => &["responseStatus", "code"],
        F::KaResponseReason => &["responseStatus", "reason"],
        F::KaUseragent => &["userAgent"],
        F::KaClusterName => &["annotations", "cluster_name"],
        F::KaValidationsAdmissionPolicyFailure => &[
            "annotations",
            "validation.policy.admission.k8s.io/validation_failure",
        ],
        F::KaReqPodHostNetwork | F::KaReqContainerHostNetwork => {
            &["requestObject", "spec", "hostNetwork"]
        }
        _ => return None,
    })
}

/// A `ka.*` field other than the [`simple`] ones; `None` (or an empty list) is no value.
fn ka(id: F, arg: &FieldArg, j: JsonRef<'_>) -> Option<Vec<String>> {
    use Ctr::*;
    let idx = index(arg);
    let key = match arg {
        FieldArg::Key(k) => Some(&**k),
        _ => None,
    };
    let c = |list: Ctr, per: Per| per_container(j, list, per, idx);
    let v = match id {
        F::KaUserGroups => each(j.path(&["user", "groups"])),
        F::KaUriParam => {
            let uri = j.get("requestURI")?.as_str()?;
            uri_param(uri, key?).map(|v| vec![v])
        }
        F::KaTargetPodName => {
            let r = j.path(&["objectRef", "resource"])?.as_str()?;
            let sub = j.path(&["objectRef", "subresource"]).map(JsonRef::rendered);
            if r != "pods" || sub.is_some_and(|s| !s.is_empty()) {
                return None;
            }
            one(j.path(&["responseObject", "metadata", "name"]))
        }
        F::KaReqBindingSubjects => each(req(j, &["subjects"])),
        F::KaReqBindingSubjectsUserNames => subjects(j, "User", false),
        F::KaReqBindingSubjectsServiceaccountNames => subjects(j, "ServiceAccount", false),
        F::KaReqBindingSubjectsServiceaccountNsNames => subjects(j, "ServiceAccount", true),
        F::KaReqBindingSubjectsGroupNames => subjects(j, "Group", false),
        F::KaReqBindingSubjectHasName => Some(vec!["true".into()]),
        F::KaReqPodContainersArgs => c(Containers, Per::Args),
        F::KaReqPodContainersCommand => c(Containers, Per::Command),
        F::KaReqPodContainersName => c(Containers, Per::Name),
        F::KaReqPodContainersImage => c(Containers, Per::Image),
        F::KaReqContainerImage => {
            per_container(j, Containers, Per::Image, Some(0)).filter(|v| !v.is_empty())
        }
        F::KaReqPodContainersImageRepository => c(Containers, Per::Repo),
        F::KaReqContainerImageRepository => per_container(j, Containers, Per::Repo, Some(0)),
        F::KaReqPodContainersHostPort => c(Containers, Per::HostPort),
        F::KaReqPodContainersPrivileged => c(Containers, Per::Sec("privileged")),
        F::KaReqContainerPrivileged => {
            let mut ctrs = req(j, &["spec", "containers"])?.as_array()?;
            let any = ctrs.any(|c| {
                c.path(&["securityContext", "privileged"])
                    .and_then(JsonRef::as_bool)
                    == Some(true)
            });
            Some(vec![any.to_string()])
        }
        F::KaReqPodContainersAllowPrivilegeEscalation => {
            c(Containers, Per::Sec("allowPrivilegeEscalation"))
        }
        F::KaReqPodContainersReadOnlyFs => c(Containers, Per::Sec("readOnlyRootFilesystem")),
        F::KaReqPodContainersRunAsUser => c(Containers, Per::Sec("runAsUser")),
        F::KaReqPodContainersEffRunAsUser => c(Containers, Per::EffRunAs("runAsUser")),
        F::KaReqPodContainersRunAsGroup => c(Containers, Per::Sec("runAsGroup")),
        F::KaReqPodContainersEffRunAsGroup => c(Containers, Per::EffRunAs("runAsGroup")),
        F::KaReqPodContainersProcMount => c(Containers, Per::Sec("procMount")),
        F::KaReqRoleRules => each(req(j, &["rules"])),
        F::KaReqRoleRulesApiGroups => role_rules(j, "apiGroups", idx),
        F::KaReqRoleRulesNonResourceURLs => role_rules(j, "nonResourceURLs", idx),
        F::KaReqRoleRulesVerbs => role_rules(j, "verbs", idx),
        F::KaReqRoleRulesResources => role_rules(j, "resources", idx),
        // The plugin reuses the role-rules walker here (a bug Falco ships).
        F::KaSourceips => role_rules(j, "sourceIPs", idx),
        F::KaReqPodSupplementalGroups => {
            each(req(j, &["spec", "securityContext", "supplementalGroups"]))
        }
        F::KaReqPodContainersAddCapabilities => c(Containers, Per::AddCaps),
        F::KaReqPodVolumesHostpath => Some(
            volumes(j, idx)?
                .filter_map(|v| v.path(&["hostPath", "path"]).map(JsonRef::rendered))
                .collect(),
        ),
        F::KaReqVolumeHostpath => {
            // libsinsp hands a key argument index 0: only the first volume is examined.
            let path = volumes(j, Some(0))?
                .next()?
                .path(&["hostPath", "path"])?
                .rendered();
            let key = key?;
            let hit = match key.strip_suffix('*') {
                Some(prefix) => path.starts_with(prefix),
                None => path == key,
            };
            Some(vec![hit.to_string()])
        }
        F::KaReqPodVolumesFlexvolumeDriver => Some(
            volumes(j, idx)?
                .filter_map(|v| v.path(&["flexVolume", "driver"]).map(JsonRef::rendered))
                .collect(),
        ),
        F::KaReqPodVolumesVolumeType => {
            let mut out = Vec::new();
            for v in volumes(j, idx)? {
                if let Some(m) = v.members() {
                    out.extend(m.filter(|(k, _)| *k != "name").map(|(k, _)| k.to_string()));
                }
            }
            Some(out)
        }
        F::KaReqPodInitContainersName => c(Init, Per::Name),
        F::KaReqPodInitContainersImage => c(Init, Per::Image),
        F::KaReqPodInitContainersImageRepository => c(Init, Per::Repo),
        F::KaReqPodInitContainersCommand => c(Init, Per::Command),
        F::KaReqPodInitContainersArgs => c(Init, Per::Args),
        F::KaReqPodInitContainersPrivileged => c(Init, Per::Sec("privileged")),
        F::KaReqPodInitContainersAllowPrivilegeEscalation => {
            c(Init, Per::Sec("allowPrivilegeEscalation"))
        }
        F::KaReqPodInitContainersReadOnlyFs => c(Init, Per::Sec("readOnlyRootFilesystem")),
        F::KaReqPodInitContainersRunAsUser => c(Init, Per::Sec("runAsUser")),
        F::KaReqPodInitContainersEffRunAsUser => c(Init, Per::EffRunAs("runAsUser")),
        F::KaReqPodInitContainersRunAsGroup => c(Init, Per::Sec("runAsGroup")),
        F::KaReqPodInitContainersEffRunAsGroup => c(Init, Per::EffRunAs("runAsGroup")),
        F::KaReqPodInitContainersProcMount => c(Init, Per::Sec("procMount")),
        F::KaReqPodInitContainersAddCapabilities => c(Init, Per::AddCaps),
        F::KaReqPodInitContainersHostPort => c(Init, Per::HostPort),
        F::KaReqPodEphemeralContainersName => c(Ephemeral, Per::Name),
        F::KaReqPodEphemeralContainersImage => c(Ephemeral, Per::Image),
        F::KaReqPodEphemeralContainersImageRepository => c(Ephemeral, Per::Repo),
        F::KaReqPodEphemeralContainersCommand => c(Ephemeral, Per::Command),
        F::KaReqPodEphemeralContainersArgs => c(Ephemeral, Per::Args),
        F::KaReqPodEphemeralContainersPrivileged => c(Ephemeral, Per::Sec("privileged")),
        F::KaReqPodEphemeralContainersAllowPrivilegeEscalation => {
            c(Ephemeral, Per::Sec("allowPrivilegeEscalation"))
        }
        F::KaReqPodEphemeralContainersReadOnlyFs => {
            c(Ephemeral, Per::Sec("readOnlyRootFilesystem"))
        }
        F::KaReqPodEphemeralContainersRunAsUser => c(Ephemeral, Per::Sec("runAsUser")),
        F::KaReqPodEphemeralContainersEffRunAsUser => c(Ephemeral, Per::EffRunAs("runAsUser")),
        F::KaReqPodEphemeralContainersRunAsGroup => c(Ephemeral, Per::Sec("runAsGroup")),
        F::KaReqPodEphemeralContainersEffRunAsGroup => c(Ephemeral, Per::EffRunAs("runAsGroup")),
        F::KaReqPodEphemeralContainersProcMount => c(Ephemeral, Per::Sec("procMount")),
        F::KaReqPodEphemeralContainersAddCapabilities => c(Ephemeral, Per::AddCaps),
        _ => None,
    };
    v.filter(|v| !v.is_empty())
}
