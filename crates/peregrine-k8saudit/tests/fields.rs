//! The k8saudit plugin's field semantics on hand-made events: index arguments, key
//! arguments, empty lists as absent, the documented quirks; and the per-source catalogue (a
//! field of the wrong source is Falco's "nonexistent field" error).

use peregrine_filter::fields::resolve_text;
use peregrine_filter::{Extracted, FieldSource, ValueRef};
use peregrine_k8saudit::json::Json;
use peregrine_k8saudit::{AuditEvent, AuditFields, Parsed};
use peregrine_rules::version::Version;
use peregrine_rules::{NativePlugin, RulesInput};

const POD: &str = r#"{"kind":"Event","auditID":"x","stage":"ResponseComplete","verb":"create",
 "requestURI":"/api/v1/namespaces/default/pods/p/exec?command=sh&command=-c&container=a%20b&stdin=true",
 "user":{"username":"alice","groups":["system:masters","dev"]},
 "objectRef":{"resource":"pods","namespace":"default","name":"p"},
 "responseStatus":{"code":201},
 "stageTimestamp":"2024-01-02T03:04:05.123456789Z",
 "requestObject":{"kind":"Pod","spec":{
   "containers":[
     {"name":"a","image":"registry.local:5000/team/app:1","command":["sh","-c","echo hi"],
      "ports":[{"containerPort":80},{"containerPort":81,"hostPort":8081}],
      "securityContext":{"capabilities":{"add":["NET_ADMIN","SYS_TIME"]}}},
     {"name":"b","image":"nginx@sha256:abc","securityContext":{"privileged":true}}],
   "volumes":[{"name":"v1","hostPath":{"path":"/proc/1"}},{"name":"v2","emptyDir":{}},
              {"name":"v3","hostPath":{"path":"/etc"}}],
   "hostNetwork":true}}}"#;

fn event(text: &str) -> AuditEvent {
    let mut p = Parsed::default();
    peregrine_k8saudit::parse_payload(text.as_bytes(), 1 << 20, &mut p);
    assert!(p.errors.is_empty(), "{:?}", p.errors);
    p.events.pop().unwrap()
}

fn get(ev: &AuditEvent, field: &str) -> Vec<String> {
    let req = resolve_text(field).unwrap_or_else(|e| panic!("{field}: {e}"));
    let mut out = Extracted::default();
    AuditFields {
        event: ev,
        num: 7,
        hostname: "h",
    }
    .extract(&req, &mut out);
    out.iter()
        .map(|v| match v {
            ValueRef::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
            ValueRef::UInt(u) => u.to_string(),
            other => format!("{other:?}"),
        })
        .collect()
}

#[test]
fn fields_follow_the_plugin() {
    let ev = event(POD);
    let cases: &[(&str, &[&str])] = &[
        ("ka.user.name", &["alice"]),
        ("ka.user.groups", &["system:masters", "dev"]),
        ("ka.response.code", &["201"]),
        ("ka.req.pod.host_network", &["true"]),
        (
            "ka.req.pod.containers.image",
            &["registry.local:5000/team/app:1", "nginx@sha256:abc"],
        ),
        ("ka.req.pod.containers.image[1]", &["nginx@sha256:abc"]),
        ("ka.req.pod.containers.image[2]", &[]),
        // The plugin cuts at the first ':' (a registry port cuts early) then at '@'.
        (
            "ka.req.pod.containers.image.repository",
            &["registry.local", "nginx"],
        ),
        (
            "ka.req.container.image",
            &["registry.local:5000/team/app:1"],
        ),
        ("ka.req.pod.containers.command", &["sh -c echo hi"]),
        // Containers without the value are skipped; none at all is no value.
        ("ka.req.pod.containers.privileged", &["true"]),
        ("ka.req.pod.containers.read_only_fs", &[]),
        ("ka.req.container.privileged", &["true"]),
        ("ka.req.pod.containers.host_port", &["80", "8081"]),
        (
            "ka.req.pod.containers.add_capabilities",
            &[r#"["NET_ADMIN","SYS_TIME"]"#],
        ),
        ("ka.req.pod.containers.eff_run_as_user", &["0", "0"]),
        ("ka.req.pod.volumes.hostpath", &["/proc/1", "/etc"]),
        ("ka.req.pod.volumes.hostpath[2]", &["/etc"]),
        (
            "ka.req.pod.volumes.volume_type",
            &["hostPath", "emptyDir", "hostPath"],
        ),
        // Only the first volume is examined (libsinsp passes index 0 with a key).
        ("ka.req.volume.hostpath[/proc*]", &["true"]),
        ("ka.req.volume.hostpath[/etc]", &["false"]),
        ("ka.uri.param[command]", &["sh"]),
        ("ka.uri.param[container]", &["a b"]),
        ("ka.uri.param[nope]", &[]),
        ("ka.target.pod.name", &[]),
        ("ka.req.binding.subject.has_name[cluster-admin]", &["true"]),
        ("ka.sourceips", &[]),
        ("jevt.value[/user/username]", &["alice"]),
        ("jevt.value[/responseStatus]", &[r#"{"code":201}"#]),
        ("json.value[/requestObject/spec/containers/1/name]", &["b"]),
        ("jevt.rawtime", &["1704164645123456789"]),
        ("evt.rawtime", &["1704164645123456789"]),
        ("evt.num", &["7"]),
        ("evt.source", &["k8s_audit"]),
        ("evt.pluginname", &["k8saudit"]),
    ];
    for (field, want) in cases {
        assert_eq!(get(&ev, field), *want, "{field}");
    }
}

#[test]
fn no_audit_id_means_no_ka_fields() {
    let ev = event(r#"{"kind":"Event","verb":"get","stageTimestamp":"2024-01-02T03:04:05Z"}"#);
    assert!(get(&ev, "ka.verb").is_empty());
    assert_eq!(get(&ev, "jevt.value[/verb]"), ["get"]);
}

#[test]
fn json_obj_is_indented() {
    let ev = AuditEvent::new(Json::parse(br#"{"a":1}"#).unwrap(), 0);
    assert_eq!(get(&ev, "jevt.obj"), ["{\n  \"a\": 1\n}"]);
}

#[test]
fn bad_index_arguments_use_the_plugin_wording() {
    let e = resolve_text("ka.req.pod.containers.image[01]").unwrap_err();
    assert!(
        e.to_string()
            .contains("has an invalid index argument starting with 0"),
        "{e}"
    );
    let e = resolve_text("ka.uri.param").unwrap_err();
    assert!(
        e.to_string()
            .contains("requires an argument but none provided"),
        "{e}"
    );
}

fn load(yaml: &str, with_plugin: bool) -> peregrine_rules::Loaded {
    let plugins = [NativePlugin {
        name: "k8saudit".into(),
        version: Version::new(0, 18, 0),
        source: Some("k8s_audit".into()),
    }];
    let inputs = [RulesInput::Text {
        name: "r.yaml".into(),
        content: yaml.into(),
    }];
    let plugins: &[NativePlugin] = if with_plugin { &plugins } else { &[] };
    peregrine_rules::load::load_with(&inputs, plugins)
}

#[test]
fn rules_compile_against_their_source() {
    let k8s = "- rule: r\n  desc: d\n  condition: ka.verb=create\n  output: o %ka.user.name\n  priority: INFO\n  source: k8s_audit\n";
    let loaded = load(k8s, true);
    assert!(loaded.successful(), "{}", loaded.report(true));
    assert_eq!(loaded.ruleset.rules_for_source("k8s_audit").len(), 1);
    // Without the plugin the source is unknown and the rule skipped, as in Falco.
    let loaded = load(k8s, false);
    assert!(loaded
        .report(true)
        .contains("Unknown source k8s_audit, skipping"));
    assert!(loaded.ruleset.rules_for_source("k8s_audit").is_empty());

    let wrong = "- rule: r\n  desc: d\n  condition: ka.verb=create and proc.name=sh\n  output: o\n  priority: INFO\n  source: k8s_audit\n";
    let report = load(wrong, true).report(true);
    assert!(
        report.contains("filter_check called with nonexistent field proc.name"),
        "{report}"
    );
    let wrong = "- rule: r\n  desc: d\n  condition: evt.type=open and ka.verb=create\n  output: o\n  priority: INFO\n";
    let report = load(wrong, true).report(true);
    assert!(
        report.contains("filter_check called with nonexistent field ka.verb"),
        "{report}"
    );
    let wrong = "- rule: r\n  desc: d\n  condition: ka.verb=create\n  output: o %proc.name\n  priority: INFO\n  source: k8s_audit\n";
    let report = load(wrong, true).report(true);
    assert!(
        report.contains("invalid formatting token proc.name"),
        "{report}"
    );
}

#[test]
fn plugin_requirements_are_satisfied_by_the_native_source() {
    let req = "- required_plugin_versions:\n  - name: k8saudit\n    version: 0.7.0\n";
    assert!(load(req, true).successful());
    let report = load(req, false).report(true);
    assert!(
        report.contains("Plugin requirement not satisfied"),
        "{report}"
    );
    let newer = "- required_plugin_versions:\n  - name: k8saudit\n    version: 0.99.0\n";
    assert!(!load(newer, true).successful());
}

/// What the `k8saudit_payload` fuzz target does, on the hand-made pod: every audit field
/// with every kind of argument extracts without panicking.
#[test]
fn every_field_extracts_with_any_argument() {
    use peregrine_filter::fields::{ClassId, FIELDS};
    use peregrine_filter::{FieldArg, FieldRequest};
    let ev = event(POD);
    let mut src = AuditFields {
        event: &ev,
        num: 1,
        hostname: "h",
    };
    let mut out = Extracted::default();
    let mut with_values = 0;
    for f in FIELDS
        .iter()
        .filter(|f| matches!(f.class_id, ClassId::Ka | ClassId::Json | ClassId::Jevt))
    {
        for arg in [
            FieldArg::None,
            FieldArg::Index(0),
            FieldArg::Index(-1),
            FieldArg::Index(i64::MAX),
            FieldArg::Key("/requestObject/spec/containers/0".into()),
            FieldArg::Key("".into()),
            FieldArg::Key("/proc*".into()),
        ] {
            out.clear();
            src.extract(&FieldRequest { id: f.id, arg }, &mut out);
            with_values += usize::from(!out.is_empty());
        }
    }
    assert!(with_values > 100, "{with_values}");
}
