//! deploy/: the container image, the Kubernetes manifests and the Helm chart.
//!
//! - The chart, rendered with its default values by `helm_render` (a Go-template subset; no
//!   helm binary exists for Debian 12), must give the manifests in deploy/kubernetes, less
//!   the Namespace; non-default values must reach the output. Fast tier.
//! - The image's falco.yaml, the ConfigMap's and the chart's `falco` values are one setting.
//! - Every manifest, and the chart rendered with non-default values, validates against
//!   Kubernetes' schemas offline (`kubernetes-validate --strict`, in the venv scripts/bootstrap
//!   makes). E2e tier.
//! - The image, built by deploy/build-image on a base made from Debian's packages, runs as the
//!   DaemonSet runs it (its privileges, PID namespace, env, mounts and ConfigMaps, taken from
//!   daemonset.yaml) and detects a behaviour on the host and one in another container with
//!   that container's name and image; then `podman kube play` runs the DaemonSet's own pod
//!   template as a Pod and it detects both behaviours too. E2e tier, root.

mod common;
mod e2e_harness;
mod helm_render;

use e2e_harness::podman::{self, ApiService, Container, API_SOCKET};
use e2e_harness::{on_host, scratch, Expect, Want};
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};
use yaml_rust2::{Yaml, YamlEmitter, YamlLoader};

fn deploy() -> PathBuf {
    common::repo_root().join("deploy")
}

fn chart() -> PathBuf {
    deploy().join("helm/peregrine")
}

fn yaml_docs(text: &str) -> Vec<Yaml> {
    YamlLoader::load_from_str(text)
        .unwrap_or_else(|e| panic!("{e}\n{text}"))
        .into_iter()
        .filter(|d| !d.is_null())
        .collect()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// YAML as JSON, whose maps compare without regard to key order (YAML's do not).
fn json(y: &Yaml) -> Value {
    match y {
        Yaml::Real(r) => r.parse::<f64>().map_or(Value::Null, Value::from),
        Yaml::Integer(i) => Value::from(*i),
        Yaml::String(s) => Value::from(s.clone()),
        Yaml::Boolean(b) => Value::from(*b),
        Yaml::Array(a) => Value::Array(a.iter().map(json).collect()),
        Yaml::Hash(h) => Value::Object(
            h.iter()
                .map(|(k, v)| {
                    let key = match k {
                        Yaml::String(s) => s.clone(),
                        other => format!("{other:?}"),
                    };
                    (key, json(v))
                })
                .collect(),
        ),
        Yaml::Null | Yaml::BadValue | Yaml::Alias(_) => Value::Null,
    }
}

/// The resources of some YAML texts by `Kind/name`; a ConfigMap's `*.yaml` entries are
/// compared as the YAML the agent reads (a comment-only file as its text).
fn resources<'a>(texts: impl IntoIterator<Item = &'a str>) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for text in texts {
        for doc in yaml_docs(text) {
            let mut v = json(&doc);
            let key = format!(
                "{}/{}",
                v["kind"].as_str().unwrap_or("?"),
                v["metadata"]["name"]
            );
            if v["kind"] == "ConfigMap" {
                if let Some(data) = v["data"].as_object_mut() {
                    for (name, content) in data.iter_mut() {
                        let text = content.as_str().unwrap_or_default().to_string();
                        if name.ends_with(".yaml") {
                            if let Some(parsed) = yaml_docs(&text).first() {
                                *content = json(parsed);
                            }
                        }
                    }
                }
            }
            assert!(out.insert(key.clone(), v).is_none(), "{key} twice");
        }
    }
    out
}

fn manifest_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(deploy().join("kubernetes"))
        .expect("deploy/kubernetes")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

fn manifests() -> BTreeMap<String, Value> {
    let texts: Vec<String> = manifest_files().iter().map(|p| read(p)).collect();
    resources(texts.iter().map(String::as_str))
}

fn rendered(overrides: &str) -> BTreeMap<String, Value> {
    let over = yaml_docs(overrides).pop().unwrap_or(Yaml::Null);
    let files = helm_render::render_chart(&chart(), "peregrine", "peregrine", &over);
    resources(files.iter().map(|(_, text)| text.as_str()))
}

#[test]
fn helm_chart_with_default_values_renders_the_manifests() {
    let mut want = manifests();
    // `helm install --create-namespace` makes it; charts do not carry their namespace.
    assert!(
        want.remove("Namespace/\"peregrine\"").is_some(),
        "{want:#?}"
    );
    let got = rendered("");
    let keys = |m: &BTreeMap<String, Value>| m.keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&got), keys(&want));
    for (k, v) in &want {
        assert!(
            &got[k] == v,
            "{k}: chart\n{}\nmanifest\n{}",
            serde_json::to_string_pretty(&got[k]).unwrap_or_default(),
            serde_json::to_string_pretty(v).unwrap_or_default()
        );
    }
}

const CUSTOM_RULE: &str = "- rule: Deploy test rule\n  desc: A rule from the chart's customRules.\n  condition: evt.type = execve and proc.name = pg-deploy-x\n  output: deploy test (proc=%proc.name)\n  priority: NOTICE\n";

const OVERRIDES: &str = r#"
image: {registry: registry.example, tag: "9.9"}
customRules:
  deploy_rules.yaml: |
    - rule: Deploy test rule
      desc: A rule from the chart's customRules.
      condition: evt.type = execve and proc.name = pg-deploy-x
      output: deploy test (proc=%proc.name)
      priority: NOTICE
serviceMonitor: {create: true, labels: {release: prom}}
tolerations: [{operator: Exists}]
nodeSelector: {kubernetes.io/os: linux}
podAnnotations: {a: b}
mounts:
  volumes: [{name: logs, hostPath: {path: /var/log}}]
  volumeMounts: [{name: logs, mountPath: /host/var/log, readOnly: true}]
extra: {args: ["-o", "log_level=debug"], env: [{name: X, value: "1"}]}
falco: {webserver: {listen_port: 9999}}
serviceAccount: {create: false, name: other}
rbac: {create: false}
"#;

#[test]
fn helm_chart_values_reach_the_manifests() {
    let got = rendered(OVERRIDES);
    let ds = &got["DaemonSet/\"peregrine\""]["spec"]["template"];
    let c = &ds["spec"]["containers"][0];
    assert_eq!(c["image"], "registry.example/peregrine:9.9");
    assert_eq!(
        ds["spec"]["tolerations"],
        serde_json::json!([{"operator": "Exists"}])
    );
    assert_eq!(ds["spec"]["nodeSelector"]["kubernetes.io/os"], "linux");
    assert_eq!(ds["metadata"]["annotations"]["a"], "b");
    assert_eq!(ds["spec"]["serviceAccountName"], "other");
    assert_eq!(
        c["args"],
        serde_json::json!(["-c", "/etc/falco/falco.yaml", "-o", "log_level=debug"])
    );
    assert_eq!(c["env"][1], serde_json::json!({"name": "X", "value": "1"}));
    assert_eq!(c["ports"][0]["containerPort"], 9999);
    assert_eq!(c["livenessProbe"]["httpGet"]["port"], 9999);
    assert_eq!(c["readinessProbe"]["initialDelaySeconds"], 30);
    let last = |v: &Value| v.as_array().and_then(|a| a.last()).cloned();
    assert_eq!(
        last(&c["volumeMounts"]),
        Some(serde_json::json!({"name": "logs", "mountPath": "/host/var/log", "readOnly": true}))
    );
    assert_eq!(
        last(&ds["spec"]["volumes"]).map(|v| v["name"].clone()),
        Some("logs".into())
    );
    assert_eq!(
        got["Service/\"peregrine\""]["spec"]["ports"][0]["port"],
        9999
    );
    // A nested key replaced, its siblings kept (Helm's merge).
    let config = &got["ConfigMap/\"peregrine\""]["data"]["falco.yaml"];
    assert_eq!(config["webserver"]["listen_port"], 9999);
    assert_eq!(config["webserver"]["k8s_healthz_endpoint"], "/healthz");
    assert_eq!(config["json_output"], true);
    let sm = &got["ServiceMonitor/\"peregrine\""];
    assert_eq!(sm["metadata"]["labels"]["release"], "prom");
    assert_eq!(sm["spec"]["endpoints"][0]["port"], c["ports"][0]["name"]);
    assert_eq!(
        sm["spec"]["selector"]["matchLabels"],
        got["Service/\"peregrine\""]["metadata"]["labels"]
    );
    assert!(!got.contains_key("ServiceAccount/\"peregrine\""));
    assert!(!got.contains_key("ClusterRole/\"peregrine\""));

    // The custom rules file reaches the ConfigMap as written, and the agent loads it.
    let files = helm_render::render_chart(
        &chart(),
        "peregrine",
        "peregrine",
        &yaml_docs(OVERRIDES).remove(0),
    );
    let (_, cm) = files
        .iter()
        .find(|(n, _)| n == "configmap.yaml")
        .expect("configmap.yaml");
    let rules_cm = yaml_docs(cm)
        .into_iter()
        .find(|d| d["metadata"]["name"].as_str() == Some("peregrine-rules"))
        .expect("rules ConfigMap");
    assert_eq!(
        rules_cm["data"]["deploy_rules.yaml"].as_str(),
        Some(CUSTOM_RULE)
    );
    assert!(rules_cm["data"]["local_rules.yaml"].as_str().is_some());
    let dir = scratch("deploy-rules");
    let file = dir.join("deploy_rules.yaml");
    std::fs::write(&file, CUSTOM_RULE).expect("write rules");
    let out = common::peregrine(["-r".as_ref(), file.as_os_str(), "-L".as_ref()]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    assert!(common::stdout(&out).contains("Deploy test rule"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn image_configmap_and_chart_hold_one_configuration() {
    let image = json(&yaml_docs(&read(&deploy().join("falco.yaml")))[0]);
    let cms = manifests();
    let cm = &cms["ConfigMap/\"peregrine\""]["data"]["falco.yaml"];
    let values = json(&yaml_docs(&read(&chart().join("values.yaml")))[0]);
    assert_eq!(&image, cm);
    assert_eq!(image, values["falco"]);
    assert_eq!(
        cms["ConfigMap/\"peregrine-rules\""]["data"]["local_rules.yaml"].as_str(),
        Some(read(&deploy().join("local_rules.yaml")).as_str())
    );
    // The configuration loads (its rules from the tree; the image holds them elsewhere).
    let conf = deploy().join("falco.yaml");
    let rules = common::repo_root().join("rules");
    let out = common::peregrine([
        "-c".as_ref(),
        conf.as_os_str(),
        "-r".as_ref(),
        rules.as_os_str(),
        "-r".as_ref(),
        deploy().join("local_rules.yaml").as_os_str(),
        "-L".as_ref(),
    ]);
    assert!(out.status.success(), "{}", common::stderr(&out));
}

/// The venv scripts/bootstrap makes for kubernetes-validate.
fn validator() -> Option<PathBuf> {
    let venv = std::env::var_os("PEREGRINE_VENV")
        .map_or_else(|| PathBuf::from("/opt/peregrine/venv"), PathBuf::from);
    let bin = venv.join("bin/kubernetes-validate");
    bin.exists().then_some(bin)
}

fn validate(bin: &Path, files: &[PathBuf]) -> (bool, String) {
    let out = Command::new(bin)
        .arg("--strict")
        .args(files)
        .output()
        .expect("kubernetes-validate runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn manifests_validate_against_kubernetes_schemas() {
    if !peregrine_testkit::e2e("manifests_validate_against_kubernetes_schemas") {
        return;
    }
    let Some(bin) = validator() else {
        peregrine_testkit::skip(
            "manifests_validate_against_kubernetes_schemas",
            "no kubernetes-validate venv (scripts/bootstrap makes it)",
        );
        return;
    };
    let files = manifest_files();
    let (ok, text) = validate(&bin, &files);
    assert!(ok, "{text}");
    // Every resource was checked against a schema (none skipped as unknown).
    assert_eq!(
        text.matches(" passed for resource ").count(),
        manifests().len(),
        "{text}"
    );

    // The chart with non-default values, less the ServiceMonitor (a CRD: no built-in schema).
    let dir = scratch("deploy-validate");
    let over = yaml_docs(OVERRIDES).remove(0);
    let mut rendered_files = Vec::new();
    for (name, text) in helm_render::render_chart(&chart(), "peregrine", "peregrine", &over) {
        if name != "servicemonitor.yaml" {
            let p = dir.join(&name);
            std::fs::write(&p, text).expect("write rendered");
            rendered_files.push(p);
        }
    }
    let (ok, text) = validate(&bin, &rendered_files);
    assert!(ok, "{text}");

    // The validator rejects what Kubernetes would: a misspelt field of the pod template.
    let broken = dir.join("broken.yaml");
    let ds = read(&deploy().join("kubernetes/daemonset.yaml"));
    std::fs::write(&broken, ds.replace("hostPID: true", "hostPid: true")).expect("write");
    let (ok, text) = validate(&bin, &[broken]);
    assert!(!ok && text.contains("hostPid"), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A container's output (`podman logs -f`), line by line on threads; JSON alerts on stdout.
struct Logs {
    child: Child,
    rx: Receiver<(bool, String)>,
    seen: Vec<String>,
    alerts: Vec<Value>,
}

impl Logs {
    fn follow(container: &str) -> Logs {
        let mut child = Command::new("podman")
            .args(["logs", "-f", container])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("podman logs");
        let (tx, rx) = mpsc::channel();
        let out = child.stdout.take().expect("stdout");
        let err = child.stderr.take().expect("stderr");
        for (stream, stdout) in [
            (Box::new(out) as Box<dyn Read + Send>, true),
            (Box::new(err), false),
        ] {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    let _ = tx.send((stdout, line));
                }
            });
        }
        Logs {
            child,
            rx,
            seen: Vec::new(),
            alerts: Vec::new(),
        }
    }

    /// Reads lines until one satisfies `pred` (true) or `within` passes (false).
    fn wait(&mut self, within: Duration, pred: impl Fn(bool, &str) -> bool) -> bool {
        let deadline = Instant::now() + within;
        while let Ok((stdout, line)) = self
            .rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            let hit = pred(stdout, &line);
            if stdout {
                if let Ok(v) = serde_json::from_str::<Value>(&line) {
                    self.alerts.push(v);
                }
            }
            self.seen.push(line);
            if hit {
                return true;
            }
        }
        false
    }

    fn alert(&mut self, within: Duration, want: &Expect) -> Option<Value> {
        if let Some(a) = self.alerts.iter().find(|a| want.matches(a)) {
            return Some(a.clone());
        }
        self.wait(within, |stdout, line| {
            stdout && serde_json::from_str::<Value>(line).is_ok_and(|v| want.matches(&v))
        });
        self.alerts.iter().find(|a| want.matches(a)).cloned()
    }

    fn tail(&self) -> String {
        let from = self.seen.len().saturating_sub(40);
        self.seen[from..].join("\n")
    }
}

impl Drop for Logs {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An image removed on drop.
struct Image(String);

impl Drop for Image {
    fn drop(&mut self) {
        let _ = podman::podman(&["rmi", "-f", &self.0]);
    }
}

/// A pod from `podman kube play`, removed on drop with the volumes that `kube play` made of
/// its ConfigMaps (named after them; a volume left behind would be reused, stale, next time).
struct Pod {
    name: String,
    volumes: Vec<String>,
}

impl Pod {
    fn remove(&self) {
        let _ = podman::podman(&["pod", "rm", "-f", "-t", "0", &self.name]);
        for v in &self.volumes {
            let _ = podman::podman(&["volume", "rm", "-f", v]);
        }
    }
}

impl Drop for Pod {
    fn drop(&mut self) {
        self.remove();
    }
}

/// A map's entry, for editing (yaml-rust2's `IndexMut` panics on a missing key).
fn field_mut<'a>(y: &'a mut Yaml, key: &str) -> Option<&'a mut Yaml> {
    match y {
        Yaml::Hash(h) => h.get_mut(&Yaml::String(key.into())),
        _ => None,
    }
}

/// The DaemonSet and its pod template, as users apply them.
fn daemonset() -> Yaml {
    yaml_docs(&read(&deploy().join("kubernetes/daemonset.yaml"))).remove(0)
}

/// The node's name, which the kubelet gives `fieldRef: spec.nodeName`.
fn node_name() -> String {
    read(Path::new("/proc/sys/kernel/hostname"))
        .trim()
        .to_string()
}

/// A `fieldRef` the kubelet resolves; podman's `kube play` cannot (it rejects spec.nodeName).
fn resolve_env(env: &Yaml, node: &str) -> Vec<(String, String)> {
    env.as_vec()
        .map(|v| v.as_slice())
        .unwrap_or_default()
        .iter()
        .map(|e| {
            let name = e["name"].as_str().expect("env name").to_string();
            let value = match e["value"].as_str() {
                Some(v) => v.to_string(),
                None => {
                    let path = e["valueFrom"]["fieldRef"]["fieldPath"].as_str();
                    assert_eq!(path, Some("spec.nodeName"), "unsupported env {name}");
                    node.to_string()
                }
            };
            (name, value)
        })
        .collect()
}

/// `podman run` arguments for the DaemonSet's container: privileges, PID namespace, env,
/// each mount (hostPath as a bind mount, a ConfigMap as a directory of its entries written
/// under `dir`) and its port, published on loopback.
fn run_args(ds: &Yaml, dir: &Path, node: &str) -> Vec<String> {
    let spec = &ds["spec"]["template"]["spec"];
    let c = &spec["containers"][0];
    let mut args = Vec::new();
    if c["securityContext"]["privileged"].as_bool() == Some(true) {
        args.push("--privileged".to_string());
    }
    if spec["hostPID"].as_bool() == Some(true) {
        args.push("--pid=host".to_string());
    }
    for (k, v) in resolve_env(&c["env"], node) {
        args.extend(["-e".to_string(), format!("{k}={v}")]);
    }
    let configmaps: Vec<Yaml> = yaml_docs(&read(&deploy().join("kubernetes/configmap.yaml")));
    let volumes = spec["volumes"].as_vec().expect("volumes");
    for m in c["volumeMounts"].as_vec().expect("volumeMounts") {
        let name = m["name"].as_str().expect("mount name");
        let vol = volumes
            .iter()
            .find(|v| v["name"].as_str() == Some(name))
            .unwrap_or_else(|| panic!("no volume {name}"));
        let source = if let Some(path) = vol["hostPath"]["path"].as_str() {
            PathBuf::from(path)
        } else {
            let cm_name = vol["configMap"]["name"]
                .as_str()
                .expect("hostPath or configMap");
            let cm = configmaps
                .iter()
                .find(|d| d["metadata"]["name"].as_str() == Some(cm_name))
                .unwrap_or_else(|| panic!("no ConfigMap {cm_name}"));
            let d = dir.join(cm_name);
            std::fs::create_dir_all(&d).expect("configmap dir");
            for (k, v) in cm["data"].as_hash().expect("data") {
                std::fs::write(d.join(k.as_str().expect("key")), v.as_str().expect("text"))
                    .expect("configmap entry");
            }
            d
        };
        let ro = if m["readOnly"].as_bool() == Some(true) {
            ":ro"
        } else {
            ""
        };
        let target = m["mountPath"].as_str().expect("mountPath");
        args.extend([
            "-v".to_string(),
            format!("{}:{target}{ro}", source.display()),
        ]);
    }
    for p in c["ports"].as_vec().expect("ports") {
        let port = p["containerPort"].as_i64().expect("containerPort");
        args.extend(["-p".to_string(), format!("127.0.0.1::{port}")]);
    }
    args
}

/// GET `path` on `addr`; the status line.
fn http_status(addr: &str, path: &str) -> String {
    let Ok(mut s) = std::net::TcpStream::connect(addr) else {
        return String::new();
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    );
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    text.lines().next().unwrap_or_default().to_string()
}

fn is(v: impl Into<String>) -> Want {
    Want::Is(v.into())
}

/// A symbolic link to /etc/shadow made on the host (outside any container cgroup); the
/// alert must name the host, the node and the link.
fn host_link_detected(logs: &mut Logs, dir: &Path, tag: &str, node: &str) {
    let link = dir.join(format!("{tag}-shadow-link"));
    let argv: Vec<String> = ["ln", "-s", "/etc/shadow"]
        .iter()
        .map(|s| s.to_string())
        .chain([link.display().to_string()])
        .collect();
    let want = Expect {
        rule: "Link to a sensitive file created",
        priority: "Warning",
        fields: vec![
            ("container.id", is("host")),
            ("proc.name", is("ln")),
            (
                "evt.args",
                Want::Has(format!("linkpath={}", link.display())),
            ),
        ],
    };
    let _ = on_host(&argv)
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .status();
    let alert = logs.alert(Duration::from_secs(20), &want);
    let _ = std::fs::remove_file(&link);
    let alert = alert.unwrap_or_else(|| panic!("no host alert for {tag}:\n{}", logs.tail()));
    assert_eq!(alert["hostname"], node, "{alert}");
}

const PROBE_IMAGE: &str = "localhost/pg-deploy-probe";

/// Reads /etc/shadow in `probe` until an alert names the container and its image (metadata
/// is looked up asynchronously through podman's API), at most 60 s.
fn container_read_detected(logs: &mut Logs, probe: &Container) {
    let want = Expect {
        rule: "Credential file opened for reading",
        priority: "Warning",
        fields: vec![
            ("container.name", is(probe.name.clone())),
            ("container.image.repository", is(PROBE_IMAGE)),
            ("fd.name", is("/etc/shadow")),
            ("proc.name", is("cat")),
        ],
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut n = 0;
    while Instant::now() < deadline {
        n += 1;
        // A different command line each time, so deduplication never hides a retry.
        let _ = probe.exec(&[], &["cat", "/etc/shadow", &format!("/try-{n}")]);
        if logs.alert(Duration::from_secs(3), &want).is_some() {
            return;
        }
    }
    panic!("no alert naming {}:\n{}", probe.name, logs.tail());
}

#[test]
fn image_runs_as_the_daemonset_runs_it() {
    const TEST: &str = "image_runs_as_the_daemonset_runs_it";
    if !peregrine_testkit::e2e_root(TEST) {
        return;
    }
    if !podman::require(TEST) {
        return;
    }
    let pid = std::process::id();
    let dir = scratch("deploy-image");
    let tag = format!("localhost/peregrine-e2e:{pid}");
    let out = Command::new(deploy().join("build-image"))
        .args([
            "--local-base",
            "--tag",
            &tag,
            "--binary",
            env!("CARGO_BIN_EXE_peregrine"),
        ])
        .output()
        .expect("deploy/build-image runs");
    let _image = Image(tag.clone());
    assert!(
        out.status.success(),
        "build-image: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let size = podman::podman(&["image", "inspect", "--format", "{{.Size}}", &tag]);
    println!(
        "image {tag}: {} MB",
        String::from_utf8_lossy(&size.stdout)
            .trim()
            .parse::<u64>()
            .unwrap_or(0)
            / 1_000_000
    );
    let env = podman::podman(&["image", "inspect", "--format", "{{.Config.Env}}", &tag]);
    assert!(
        String::from_utf8_lossy(&env.stdout).contains("HOST_ROOT=/host"),
        "image env: {}",
        String::from_utf8_lossy(&env.stdout)
    );
    let _api = ApiService::ensure(Path::new(API_SOCKET));
    podman::ensure_image(
        &format!("{PROBE_IMAGE}:1"),
        &dir,
        &["sh", "cat", "sleep"],
        &[("etc/shadow", "root:*:19000:0:99999:7:::\n")],
    );
    let node = node_name();
    let ds = daemonset();
    let container = &ds["spec"]["template"]["spec"]["containers"][0];
    let cmd: Vec<String> = container["args"]
        .as_vec()
        .expect("args")
        .iter()
        .map(|a| a.as_str().expect("arg").to_string())
        .collect();

    let probe = Container::run(
        &format!("pg-deploy-probe-{pid}"),
        &[],
        &format!("{PROBE_IMAGE}:1"),
        &["sleep", "600"],
    );

    // 1. podman run, as the DaemonSet runs the container.
    {
        let args = run_args(&ds, &dir, &node);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let cmd: Vec<&str> = cmd.iter().map(String::as_str).collect();
        let agent = Container::run(&format!("pg-deploy-agent-{pid}"), &args, &tag, &cmd);
        let pid_mode = podman::podman(&[
            "inspect",
            "--format",
            "{{.HostConfig.PidMode}}",
            &agent.name,
        ]);
        assert_eq!(String::from_utf8_lossy(&pid_mode.stdout).trim(), "host");
        let mut logs = Logs::follow(&agent.name);
        assert!(
            logs.wait(Duration::from_secs(60), |out, l| !out
                && l.contains("capturing")),
            "the agent did not attach:\n{}",
            logs.tail()
        );
        let web = container["ports"][0]["containerPort"]
            .as_i64()
            .expect("containerPort");
        let port = podman::podman(&["port", &agent.name, &format!("{web}/tcp")]);
        let addr = String::from_utf8_lossy(&port.stdout).trim().to_string();
        assert!(
            http_status(&addr, "/healthz").contains(" 200 "),
            "/healthz on {addr}"
        );
        host_link_detected(&mut logs, &dir, &format!("pg-deploy-run-{pid}"), &node);
        container_read_detected(&mut logs, &probe);
    }

    // 2. podman kube play: the DaemonSet's pod template as a Pod, with the ConfigMaps.
    let pod_name = format!("pg-deploy-pod-{pid}");
    let mut template = ds["spec"]["template"].clone();
    if let Some(Yaml::Hash(meta)) = field_mut(&mut template, "metadata") {
        meta.insert(Yaml::String("name".into()), Yaml::String(pod_name.clone()));
    }
    let mut spec = template["spec"].clone();
    // The ConfigMaps become named volumes in podman: named per run, so two runs never share.
    let cm_name = |name: &str| format!("{name}-{pid}");
    if let Some(Yaml::Array(volumes)) = field_mut(&mut spec, "volumes") {
        for v in volumes {
            if let Some(Yaml::Hash(cm)) = field_mut(v, "configMap") {
                let key = Yaml::String("name".into());
                let name = cm
                    .get(&key)
                    .and_then(Yaml::as_str)
                    .expect("name")
                    .to_string();
                cm.insert(key, Yaml::String(cm_name(&name)));
            }
        }
    }
    if let Some(Yaml::Array(containers)) = field_mut(&mut spec, "containers") {
        if let Yaml::Hash(c) = &mut containers[0] {
            c.insert(Yaml::String("image".into()), Yaml::String(tag.clone()));
            let env = c
                .get(&Yaml::String("env".into()))
                .cloned()
                .unwrap_or(Yaml::Null);
            let env = resolve_env(&env, &node)
                .into_iter()
                .map(|(k, v)| {
                    let mut h = yaml_rust2::yaml::Hash::new();
                    h.insert(Yaml::String("name".into()), Yaml::String(k));
                    h.insert(Yaml::String("value".into()), Yaml::String(v));
                    Yaml::Hash(h)
                })
                .collect();
            c.insert(Yaml::String("env".into()), Yaml::Array(env));
        }
    }
    let mut pod = yaml_rust2::yaml::Hash::new();
    for (k, v) in [
        ("apiVersion", Yaml::String("v1".into())),
        ("kind", Yaml::String("Pod".into())),
        ("metadata", template["metadata"].clone()),
        ("spec", spec),
    ] {
        pod.insert(Yaml::String(k.into()), v);
    }
    let mut docs = vec![Yaml::Hash(pod)];
    let mut volumes = Vec::new();
    for mut cm in yaml_docs(&read(&deploy().join("kubernetes/configmap.yaml"))) {
        if let Some(Yaml::Hash(meta)) = field_mut(&mut cm, "metadata") {
            let key = Yaml::String("name".into());
            let name = cm_name(meta.get(&key).and_then(Yaml::as_str).expect("name"));
            meta.insert(key, Yaml::String(name.clone()));
            volumes.push(name);
        }
        docs.push(cm);
    }
    let mut text = String::new();
    for d in &docs {
        YamlEmitter::new(&mut text).dump(d).expect("emit pod");
        text.push('\n');
    }
    let pod_file = dir.join("pod.yaml");
    std::fs::write(&pod_file, &text).expect("write pod");
    let pod = Pod {
        name: pod_name.clone(),
        volumes,
    };
    pod.remove();
    let out = podman::podman(&["kube", "play", &pod_file.display().to_string()]);
    assert!(
        out.status.success(),
        "kube play: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    let name = format!("{pod_name}-peregrine");
    let privileged = podman::podman(&["inspect", "--format", "{{.HostConfig.Privileged}}", &name]);
    assert_eq!(String::from_utf8_lossy(&privileged.stdout).trim(), "true");
    let mut logs = Logs::follow(&name);
    assert!(
        logs.wait(Duration::from_secs(60), |out, l| !out
            && l.contains("capturing")),
        "the pod's agent did not attach:\n{}",
        logs.tail()
    );
    host_link_detected(&mut logs, &dir, &format!("pg-deploy-pod-{pid}"), &node);
    container_read_detected(&mut logs, &probe);
    drop(logs);
    drop(probe);
    let _ = podman::podman(&["rmi", "-f", &format!("{PROBE_IMAGE}:1")]);
    let _ = std::fs::remove_dir_all(&dir);
}
