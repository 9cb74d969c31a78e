//! The table of falco.yaml keys: every key of Falco 0.44's configuration schema plus
//! Peregrine's own, each marked honoured or not supported. One table serves three uses: the
//! warnings about unknown keys (at any depth, named by full path) and about keys Peregrine does
//! not act on (all named in one line), the check that a file is a configuration file at all,
//! and `--config-schema`, the JSON schema generated from it.
//!
//! A key whose children are listed is a block: its children are checked in turn. A key whose
//! children are not listed (`static_fields`, `rules`, `plugins`) takes any content; the code
//! that interprets it checks it.

use serde_json::{json, Map, Value};

/// The JSON type of a key's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ty {
    Bool,
    Int,
    Number,
    String,
    Array,
    Object,
    /// A string or a list of strings (`rules_files`, `config_files`).
    StringOrArray,
}

/// Whether Peregrine acts on a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Support {
    Honoured,
    /// Accepted (Falco has it) and ignored; named in the one "not supported" warning.
    Unsupported,
}

/// One key of the table.
#[derive(Clone, Copy, Debug)]
pub struct Key {
    /// Dotted path from the top level.
    pub path: &'static str,
    pub ty: Ty,
    pub support: Support,
}

const fn h(path: &'static str, ty: Ty) -> Key {
    Key {
        path,
        ty,
        support: Support::Honoured,
    }
}

const fn u(path: &'static str, ty: Ty) -> Key {
    Key {
        path,
        ty,
        support: Support::Unsupported,
    }
}

use Ty::{Array, Bool, Int, Number, Object, String as Str, StringOrArray};

/// Every known key. Output keys are read by the outputs crate, `webserver` by this crate's
/// `webserver` module, the rest by `Config::from_tree`.
pub const KEYS: &[Key] = &[
    h("config_files", StringOrArray),
    h("watch_config_files", Bool),
    h("rules_files", StringOrArray),
    h("rules_file", StringOrArray),
    u("rule_files", StringOrArray),
    h("rules", Array),
    h("append_output", Array),
    h("static_fields", Object),
    h("priority", Str),
    h("rule_matching", Str),
    h("engine", Object),
    h("engine.kind", Str),
    u("engine.kmod", Object),
    u("engine.ebpf", Object),
    u("engine.gvisor", Object),
    u("engine.nodriver", Object),
    h("engine.modern_ebpf", Object),
    u("engine.modern_ebpf.cpus_for_each_buffer", Int),
    h("engine.modern_ebpf.buf_size_preset", Int),
    u("engine.modern_ebpf.drop_failed_exit", Bool),
    u("engine.modern_ebpf.disable_iterators", Bool),
    // Peregrine's own: in-kernel shedding of opens no rule needs (default true).
    h("engine.shed", Bool),
    h("engine.replay", Object),
    h("engine.replay.capture_file", Str),
    h("capture", Object),
    h("capture.enabled", Bool),
    h("capture.path_prefix", Str),
    h("capture.mode", Str),
    h("capture.default_duration", Int),
    u("capture.max_file_size_mb", Int),
    // Read by `plugins.rs`: the container entry's `init_config` by path, k8saudit/json as the
    // native source, other loaded plugins as libraries for the plugin host.
    h("load_plugins", Array),
    h("plugins", Array),
    u("plugins_hostinfo", Bool),
    h("time_format_iso_8601", Bool),
    u("buffer_format_base64", Bool),
    h("json_output", Bool),
    h("json_include_output_property", Bool),
    h("json_include_message_property", Bool),
    h("json_include_output_fields_property", Bool),
    h("json_include_tags_property", Bool),
    h("buffered_outputs", Bool),
    h("outputs_queue", Object),
    h("outputs_queue.capacity", Int),
    h("outputs", Object),
    h("outputs.rate", Number),
    h("outputs.max_burst", Int),
    h("stdout_output", Object),
    h("stdout_output.enabled", Bool),
    h("stdout_output.min_priority", Str),
    h("stdout_output.match", Object),
    h("stdout_output.match.min_priority", Str),
    h("stdout_output.match.max_priority", Str),
    h("stdout_output.match.rules", StringOrArray),
    h("stdout_output.match.tags", StringOrArray),
    h("stdout_output.match.sources", StringOrArray),
    h("syslog_output", Object),
    h("syslog_output.enabled", Bool),
    h("syslog_output.min_priority", Str),
    h("syslog_output.match", Object),
    h("syslog_output.match.min_priority", Str),
    h("syslog_output.match.max_priority", Str),
    h("syslog_output.match.rules", StringOrArray),
    h("syslog_output.match.tags", StringOrArray),
    h("syslog_output.match.sources", StringOrArray),
    h("syslog_output.socket", Str),
    h("file_output", Object),
    h("file_output.enabled", Bool),
    h("file_output.min_priority", Str),
    h("file_output.match", Object),
    h("file_output.match.min_priority", Str),
    h("file_output.match.max_priority", Str),
    h("file_output.match.rules", StringOrArray),
    h("file_output.match.tags", StringOrArray),
    h("file_output.match.sources", StringOrArray),
    h("file_output.keep_alive", Bool),
    h("file_output.filename", Str),
    h("http_output", Object),
    h("http_output.enabled", Bool),
    h("http_output.min_priority", Str),
    h("http_output.match", Object),
    h("http_output.match.min_priority", Str),
    h("http_output.match.max_priority", Str),
    h("http_output.match.rules", StringOrArray),
    h("http_output.match.tags", StringOrArray),
    h("http_output.match.sources", StringOrArray),
    h("http_output.url", Str),
    h("http_output.user_agent", Str),
    h("http_output.insecure", Bool),
    h("http_output.ca_cert", Str),
    h("http_output.ca_bundle", Str),
    h("http_output.ca_path", Str),
    h("http_output.mtls", Bool),
    h("http_output.client_cert", Str),
    h("http_output.client_key", Str),
    h("http_output.echo", Bool),
    h("http_output.compress_uploads", Bool),
    h("http_output.gzip_body", Bool),
    h("http_output.keep_alive", Bool),
    h("http_output.max_consecutive_timeouts", Int),
    h("http_output.spool", Object),
    h("http_output.spool.enabled", Bool),
    h("http_output.spool.dir", Str),
    h("http_output.spool.max_bytes", Int),
    h("http_output.timeout_ms", Int),
    h("http_output.retry", Object),
    h("http_output.retry.initial_backoff_ms", Int),
    h("http_output.retry.max_backoff_ms", Int),
    h("alertmanager_output", Object),
    h("alertmanager_output.enabled", Bool),
    h("alertmanager_output.min_priority", Str),
    h("alertmanager_output.url", Str),
    h("alertmanager_output.resolve_timeout", Int),
    h("alertmanager_output.extra_labels", Array),
    h("alertmanager_output.spool", Object),
    h("alertmanager_output.spool.enabled", Bool),
    h("alertmanager_output.spool.dir", Str),
    h("alertmanager_output.spool.max_bytes", Int),
    h("alertmanager_output.timeout_ms", Int),
    h("alertmanager_output.retry", Object),
    h("alertmanager_output.retry.initial_backoff_ms", Int),
    h("alertmanager_output.retry.max_backoff_ms", Int),
    h("redis_output", Object),
    h("redis_output.enabled", Bool),
    h("redis_output.min_priority", Str),
    h("redis_output.url", Str),
    h("redis_output.key", Str),
    h("redis_output.mode", Str),
    h("redis_output.maxlen", Int),
    h("redis_output.spool", Object),
    h("redis_output.spool.enabled", Bool),
    h("redis_output.spool.dir", Str),
    h("redis_output.spool.max_bytes", Int),
    h("redis_output.timeout_ms", Int),
    h("redis_output.retry", Object),
    h("redis_output.retry.initial_backoff_ms", Int),
    h("redis_output.retry.max_backoff_ms", Int),
    h("nats_output", Object),
    h("nats_output.enabled", Bool),
    h("nats_output.min_priority", Str),
    h("nats_output.url", Str),
    h("nats_output.subject", Str),
    h("nats_output.jetstream", Bool),
    h("nats_output.spool", Object),
    h("nats_output.spool.enabled", Bool),
    h("nats_output.spool.dir", Str),
    h("nats_output.spool.max_bytes", Int),
    h("nats_output.timeout_ms", Int),
    h("nats_output.retry", Object),
    h("nats_output.retry.initial_backoff_ms", Int),
    h("nats_output.retry.max_backoff_ms", Int),
    h("nats_output.user", Str),
    h("nats_output.password", Str),
    h("nats_output.token", Str),
    h("nats_output.tls", Bool),
    h("nats_output.ca_cert", Str),
    h("nats_output.client_cert", Str),
    h("nats_output.client_key", Str),
    h("mqtt_output", Object),
    h("mqtt_output.enabled", Bool),
    h("mqtt_output.min_priority", Str),
    h("mqtt_output.url", Str),
    h("mqtt_output.topic", Str),
    h("mqtt_output.client_id", Str),
    h("mqtt_output.spool", Object),
    h("mqtt_output.spool.enabled", Bool),
    h("mqtt_output.spool.dir", Str),
    h("mqtt_output.spool.max_bytes", Int),
    h("mqtt_output.timeout_ms", Int),
    h("mqtt_output.retry", Object),
    h("mqtt_output.retry.initial_backoff_ms", Int),
    h("mqtt_output.retry.max_backoff_ms", Int),
    h("webhook_output", Object),
    h("webhook_output.enabled", Bool),
    h("webhook_output.min_priority", Str),
    h("webhook_output.url", Str),
    h("webhook_output.format", Str),
    h("webhook_output.spool", Object),
    h("webhook_output.spool.enabled", Bool),
    h("webhook_output.spool.dir", Str),
    h("webhook_output.spool.max_bytes", Int),
    h("webhook_output.timeout_ms", Int),
    h("webhook_output.retry", Object),
    h("webhook_output.retry.initial_backoff_ms", Int),
    h("webhook_output.retry.max_backoff_ms", Int),
    h("remote_syslog_output", Object),
    h("remote_syslog_output.enabled", Bool),
    h("remote_syslog_output.min_priority", Str),
    h("remote_syslog_output.address", Str),
    h("remote_syslog_output.facility", Int),
    h("remote_syslog_output.tls", Bool),
    h("remote_syslog_output.ca_cert", Str),
    h("remote_syslog_output.spool", Object),
    h("remote_syslog_output.spool.enabled", Bool),
    h("remote_syslog_output.spool.dir", Str),
    h("remote_syslog_output.spool.max_bytes", Int),
    h("remote_syslog_output.timeout_ms", Int),
    h("remote_syslog_output.retry", Object),
    h("remote_syslog_output.retry.initial_backoff_ms", Int),
    h("remote_syslog_output.retry.max_backoff_ms", Int),
    h("program_output", Object),
    h("program_output.enabled", Bool),
    h("program_output.min_priority", Str),
    h("program_output.match", Object),
    h("program_output.match.min_priority", Str),
    h("program_output.match.max_priority", Str),
    h("program_output.match.rules", StringOrArray),
    h("program_output.match.tags", StringOrArray),
    h("program_output.match.sources", StringOrArray),
    h("program_output.keep_alive", Bool),
    h("program_output.program", Str),
    u("grpc", Object),
    u("grpc_output", Object),
    h("webserver", Object),
    h("webserver.enabled", Bool),
    u("webserver.threadiness", Int),
    h("webserver.listen_port", Int),
    h("webserver.listen_address", Str),
    h("webserver.k8s_healthz_endpoint", Str),
    h("webserver.prometheus_metrics_enabled", Bool),
    h("webserver.ssl_enabled", Bool),
    u("webserver.ssl_certificate", Str),
    h("log_stderr", Bool),
    h("log_syslog", Bool),
    h("log_level", Str),
    u("libs_logger", Object),
    u("output_timeout", Int),
    u("syscall_event_timeouts", Object),
    h("syscall_event_drops", Object),
    h("syscall_event_drops.threshold", Number),
    h("syscall_event_drops.actions", Array),
    h("syscall_event_drops.rate", Number),
    h("syscall_event_drops.max_burst", Int),
    h("syscall_event_drops.simulate_drops", Bool),
    // Peregrine's own: response policies (crates/peregrine-response).
    h("response_files", StringOrArray),
    h("response", Object),
    h("response.dry_run", Bool),
    h("response.budget_per_minute", Int),
    h("response.protected_executables", Array),
    h("response.audit_file", Str),
    h("response.runtime_sockets", Array),
    h("response.containerd_sockets", Array),
    h("response.runtime_state_roots", Array),
    h("response.oci_runtime", Str),
    h("metrics", Object),
    h("metrics.enabled", Bool),
    h("metrics.interval", Str),
    h("metrics.output_rule", Bool),
    u("metrics.output_file", Str),
    h("metrics.rules_counters_enabled", Bool),
    h("metrics.resource_utilization_enabled", Bool),
    h("metrics.state_counters_enabled", Bool),
    h("metrics.kernel_event_counters_enabled", Bool),
    u("metrics.kernel_event_counters_per_cpu_enabled", Bool),
    u("metrics.libbpf_stats_enabled", Bool),
    u("metrics.plugins_metrics_enabled", Bool),
    u("metrics.kernel_iter_event_counters_enabled", Bool),
    h("metrics.convert_memory_to_mb", Bool),
    h("metrics.include_empty_values", Bool),
    u("metrics.jemalloc_stats_enabled", Bool),
    h("base_syscalls", Object),
    h("base_syscalls.all", Bool),
    h("base_syscalls.custom_set", Array),
    h("base_syscalls.repair", Bool),
    // Peregrine extensions: alert triage (the triage crate; read by `triage.rs`).
    h("dedup", Object),
    h("dedup.enabled", Bool),
    h("dedup.window", Str),
    h("dedup.fields", Array),
    h("dedup.max_fingerprints", Int),
    h("dedup.overrides", Array),
    h("silences", Array),
    h("silences_api", Object),
    h("silences_api.enabled", Bool),
    h("state_dir", Str),
    // Peregrine extensions: the alert store and the console's access (read by `console.rs`).
    h("alert_store", Object),
    h("alert_store.enabled", Bool),
    h("alert_store.path", Str),
    h("alert_store.ancestry_depth", Int),
    h("alert_store.retention", Object),
    h("alert_store.retention.max_age", Str),
    h("alert_store.retention.max_bytes", Str),
    h("console", Object),
    h("console.enabled", Bool),
    h("console.token", Str),
    h("console.read_only_token", Str),
    h("console.users", Array),
    h("console.session_ttl", Str),
    h("console.allow_remote", Bool),
    // Peregrine extension: the fleet (read by `fleet.rs`): alerts, response records and a
    // heartbeat to NATS JetStream for `peregrine server`.
    h("fleet", Object),
    h("fleet.enabled", Bool),
    h("fleet.servers", StringOrArray),
    h("fleet.user", Str),
    h("fleet.password", Str),
    h("fleet.token", Str),
    h("fleet.subject_prefix", Str),
    h("fleet.host", Str),
    h("fleet.labels", Object),
    h("fleet.heartbeat_interval", Str),
    h("fleet.timeout_ms", Int),
    h("fleet.retry", Object),
    h("fleet.retry.initial_backoff_ms", Int),
    h("fleet.retry.max_backoff_ms", Int),
    h("fleet.spool", Object),
    h("fleet.spool.enabled", Bool),
    h("fleet.spool.dir", Str),
    h("fleet.spool.max_bytes", Int),
    h("fleet.stream_replicas", Int),
    h("fleet.tls", Bool),
    h("fleet.ca_cert", Str),
    h("fleet.client_cert", Str),
    h("fleet.client_key", Str),
    u("falco_libs", Object),
    u("container_engines", Object),
];

/// The entry for a dotted path.
pub fn key(path: &str) -> Option<&'static Key> {
    KEYS.iter().find(|k| k.path == path)
}

/// The listed children of `path` (empty: any content).
fn children(path: &str) -> impl Iterator<Item = &'static Key> + '_ {
    KEYS.iter().filter(move |k| {
        k.path
            .strip_prefix(path)
            .and_then(|rest| rest.strip_prefix('.'))
            .is_some_and(|rest| !rest.contains('.'))
    })
}

/// What a tree holds beyond the honoured keys, by full dotted path, in the tree's order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyReport {
    /// Keys in no table entry.
    pub unknown: Vec<String>,
    /// Keys Falco has and Peregrine ignores.
    pub unsupported: Vec<String>,
}

/// Checks every key of `root` against [`KEYS`].
pub fn check(root: &Value) -> KeyReport {
    let mut report = KeyReport::default();
    if let Value::Object(map) = root {
        walk(map, "", &mut report);
    }
    report
}

fn walk(map: &Map<String, Value>, prefix: &str, report: &mut KeyReport) {
    for (name, value) in map {
        let path = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}.{name}")
        };
        match key(&path) {
            None => report.unknown.push(path),
            Some(k) if k.support == Support::Unsupported => report.unsupported.push(path),
            Some(_) => {
                if let Value::Object(inner) = value {
                    if children(&path).next().is_some() {
                        walk(inner, &path, report);
                    }
                }
            }
        }
    }
}

/// `--config-schema`: a JSON schema (draft-06, as Falco's) of the keys in [`KEYS`]; keys
/// Peregrine ignores say so in their description.
pub fn json_schema() -> Value {
    let mut root = object_schema("");
    root.insert(
        "$schema".into(),
        json!("http://json-schema.org/draft-06/schema#"),
    );
    root.insert(
        "title".into(),
        json!("Peregrine (falco.yaml) configuration"),
    );
    Value::Object(root)
}

fn object_schema(path: &str) -> Map<String, Value> {
    let mut props = Map::new();
    let top = KEYS.iter().filter(|k| !k.path.contains('.'));
    let listed: Vec<&Key> = if path.is_empty() {
        top.collect()
    } else {
        children(path).collect()
    };
    for k in listed {
        let name = k.path.rsplit('.').next().unwrap_or(k.path);
        props.insert(name.to_string(), Value::Object(key_schema(k)));
    }
    let mut out = Map::new();
    out.insert("type".into(), json!("object"));
    out.insert("additionalProperties".into(), json!(false));
    out.insert("properties".into(), Value::Object(props));
    out
}

fn key_schema(k: &Key) -> Map<String, Value> {
    let mut out = if k.ty == Ty::Object && children(k.path).next().is_some() {
        object_schema(k.path)
    } else {
        let ty = match k.ty {
            Ty::Bool => json!("boolean"),
            Ty::Int => json!("integer"),
            Ty::Number => json!("number"),
            Ty::String => json!("string"),
            Ty::Array => json!("array"),
            Ty::Object => json!("object"),
            Ty::StringOrArray => json!(["string", "array"]),
        };
        let mut m = Map::new();
        m.insert("type".into(), ty);
        m
    };
    if k.support == Support::Unsupported {
        out.insert(
            "description".into(),
            json!("Falco key not supported by Peregrine (ignored)"),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_keys_are_checked_by_full_path() {
        let root = json!({
            "webserver": {"enabled": true, "foo": 1, "threadiness": 0},
            "http_output": {"bar": {"x": 1}},
            "engine": {"kind": "modern_ebpf", "kmod": {"buf_size_preset": 4}},
            "static_fields": {"anything": "goes"},
            "plugins": [{"name": "container"}],
            "nope": 1
        });
        let report = check(&root);
        assert_eq!(report.unknown, ["http_output.bar", "nope", "webserver.foo"]);
        assert_eq!(report.unsupported, ["engine.kmod", "webserver.threadiness"]);
    }

    #[test]
    fn the_schema_lists_every_key_once() {
        let schema = json_schema();
        let props = &schema["properties"];
        assert_eq!(props["json_output"]["type"], "boolean");
        assert_eq!(
            props["webserver"]["properties"]["listen_port"]["type"],
            "integer"
        );
        assert!(props["grpc"]["description"]
            .as_str()
            .is_some_and(|d| d.contains("not supported")));
        let mut paths: Vec<_> = KEYS.iter().map(|k| k.path).collect();
        paths.sort_unstable();
        paths.dedup();
        assert_eq!(paths.len(), KEYS.len(), "a key is listed twice");
        // Every dotted key's parent is a listed block.
        for k in KEYS {
            if let Some((parent, _)) = k.path.rsplit_once('.') {
                assert_eq!(key(parent).map(|p| p.ty), Some(Ty::Object), "{}", k.path);
            }
        }
    }
}
