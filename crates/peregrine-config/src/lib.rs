//! The falco.yaml model and Falco's `-o key=value` overrides, interpreted into a typed
//! [`Config`] made of the library crates' own types (the rules crate's [`SelectionOp`] and
//! [`Matching`], the engine's [`BaseSyscalls`] and [`AppendOutput`], the outputs crate's
//! [`OutputsConfig`], and the `webserver` block as the server takes it), so nothing converts a mirror
//! later.
//!
//! Key design decision: a configuration is first read into an untyped tree, `-o` overrides edit
//! that tree with Falco's path syntax (`a.b=v`, `list[]=v`, `list[0].x=v`), and only then is the
//! tree interpreted into the typed [`Config`]. An override therefore behaves exactly as if the
//! same edit had been made to the file, including appending to `rules:` selections, and the
//! typed layer has a single place where values are checked. The cost is that a bad value is
//! reported against its key, not against the `-o` argument that set it. Keys owned by another
//! crate (outputs, webserver) are read by that crate; this one only dispatches them.

#![forbid(unsafe_code)]

mod console;
mod files;
pub mod fleet;
mod metrics;
mod plugins;
mod response;
mod rules_path;
pub mod schema;
mod tree;
mod triage;
mod webserver;

pub use console::{AlertStoreConfig, ConsoleConfig, ConsoleUser, Role};
pub use files::{
    default_config_file, load, Include, LoadedConfig, Strategy, DEFAULT_CONFIG_ENV,
    DEFAULT_CONFIG_FILE,
};
pub use fleet::FleetConfig;
pub use metrics::{parse_duration, MetricsConfig};
pub use peregrine_state::runtime::{Engine as ContainerEngine, Engines as ContainerEngines};
pub use plugins::{host_root, AuditSourceConfig, PluginEntry};
pub use rules_path::expand_rules_path;
pub use tree::{parse_yaml, ConfigTree};

pub use peregrine_engine::extra::{AppendOutput, ExtraField};
pub use peregrine_engine::interest::BaseSyscalls;
pub use peregrine_outputs::OutputsConfig;
pub use peregrine_rules::{Matching, Selection, SelectionOp, Selector};
use serde_json::Value;
use std::path::PathBuf;
pub use webserver::WebConfig;

/// An invalid configuration file, override or value.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read configuration file {path}: {source}")]
    Read {
        path: PathBuf,
        source: peregrine_rules::input::InputError,
    },
    #[error("{origin}: invalid YAML: {message}")]
    Yaml { origin: String, message: String },
    #[error("{origin}: the top level must be a mapping")]
    NotAMapping { origin: String },
    /// None of a file's top-level keys is a configuration key: it is some other file, whose
    /// content is not echoed back.
    #[error("{origin}: not a configuration file (none of its {keys} top-level keys is a falco.yaml key)")]
    NotAConfig { origin: String, keys: usize },
    /// A `config_files` drop-in that cannot be merged.
    #[error("configuration file {path}: {reason}")]
    Include { path: PathBuf, reason: String },
    #[error("invalid option '{option}': expected KEY=VALUE")]
    OptionSyntax { option: String },
    #[error("invalid key path '{path}': {reason}")]
    Path { path: String, reason: String },
    #[error("invalid value for '{key}': {reason}")]
    Value { key: String, reason: String },
    #[error(transparent)]
    Outputs(#[from] peregrine_outputs::OutputError),
    #[error("cannot open rules path {path}: {source}")]
    RulesPath {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read rules directory {path}: {source}")]
    RulesDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("rules directory {path} holds no *.yaml file")]
    EmptyRulesDir { path: PathBuf },
}

/// Rule priorities are the rules crate's: one type, one parser for every spelling Falco accepts.
pub use peregrine_rules::Priority;

/// `engine.kind`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EngineKind {
    ModernEbpf,
    Replay {
        capture_file: Option<PathBuf>,
    },
    /// Kinds Falco knows that Peregrine does not drive (kmod, ebpf, gvisor, nodriver).
    Other(String),
}

/// The validated configuration: only the keys Peregrine acts on.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    pub rules_files: Vec<PathBuf>,
    /// `rules:` entries, in order; see [`Config::selection`].
    pub rules: Vec<SelectionOp>,
    pub priority: Priority,
    /// Everything about alert delivery and formatting (`json_output`, `*_output`, …): the
    /// outputs crate owns those keys, so they are read there and only there.
    pub outputs: OutputsConfig,
    pub rule_matching: Matching,
    pub base_syscalls: BaseSyscalls,
    pub engine: EngineKind,
    /// The live capture's ring buffer size in bytes: Falco's
    /// `engine.modern_ebpf.buf_size_preset` (1 to 10: 1 MiB to 512 MiB; default 4, 8 MiB).
    pub ring_buffer_bytes: u32,
    /// `engine.shed` (Peregrine's own, default true): let the kernel shed opens, and the
    /// closes of their fds, whose paths no loaded rule needs, counted by cause. Off or not,
    /// nothing is shed while rule-triggered capture (`capture.enabled`) is on.
    pub shed: bool,
    /// Reload the rules when a rules file or the configuration file changes (Falco: true).
    pub watch_config_files: bool,
    /// The `webserver` block; `None` when the configuration has none (no server, as Falco's
    /// built-in default), so that runs without a falco.yaml open no port.
    pub webserver: Option<WebConfig>,
    /// The `metrics` block: `/metrics` is served only with `metrics.enabled` and
    /// `webserver.prometheus_metrics_enabled`, as in Falco.
    pub metrics: MetricsConfig,
    pub syscall_event_drops: EventDrops,
    /// Falco's rule-triggered capture (`capture`).
    pub capture: RuleCapture,
    /// `append_output` entries, in order.
    pub append_output: Vec<AppendOutput>,
    /// `static_fields`: key/value pairs every alert carries in `output_fields`.
    pub static_fields: Vec<(String, String)>,
    /// `log_level`, `log_stderr`, `log_syslog`: the agent's own log lines.
    pub logging: LogConfig,
    /// `response_files`: the response policies files, loaded and reloaded with the rules.
    pub response_files: Vec<PathBuf>,
    /// The `response` block.
    pub response: peregrine_response::Settings,
    /// The container plugin's `init_config` (`plugins` entry `container`): which engines are
    /// asked at which sockets, and `label_max_len`.
    pub containers: ContainerEngines,
    /// The native `k8s_audit` source, when `load_plugins` loads the `k8saudit` plugin.
    pub k8saudit: Option<plugins::AuditSourceConfig>,
    /// `load_plugins` loads the `json` plugin (its fields come with the native source).
    pub json_plugin: bool,
    /// The other plugins `load_plugins` lists: shared libraries for the plugin host
    /// (`peregrine-plugins`), in `load_plugins` order.
    pub plugin_libraries: Vec<plugins::PluginEntry>,
    /// The plugins the host loaded from [`Config::plugin_libraries`] (set once they are
    /// loaded): rules loading treats them as [`Config::native_plugins`] does the native ones.
    pub loaded_plugins: Vec<peregrine_rules::NativePlugin>,
    /// The loaded plugins' event sources that run (`--enable-source`/`--disable-source`).
    pub plugin_sources: Vec<String>,
    /// The event sources that run: `syscall`, and `k8s_audit` when the k8saudit plugin is
    /// loaded; `--enable-source` / `--disable-source` narrow them.
    pub sources: Sources,
    /// Falco's `HOST_ROOT` environment variable: every host path (`/proc`, `/etc`, runtime
    /// sockets, runc's state) is read below it.
    pub host_root: PathBuf,
    /// `dedup`, `silences`, `silences_api`, `state_dir` (Peregrine extensions): what happens
    /// to alerts between the engine and the outputs.
    pub triage: peregrine_triage::TriageConfig,
    /// `alert_store` (Peregrine extension): the alerts kept for the API and console.
    pub alert_store: AlertStoreConfig,
    /// `console` (Peregrine extension): who may use the API, and how.
    pub console: ConsoleConfig,
    /// `fleet` (Peregrine extension): publishing to, and serving, the fleet view.
    pub fleet: FleetConfig,
}

/// Which event sources run (Falco's `--enable-source` / `--disable-source` choose among the
/// sources the loaded plugins bring).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sources {
    pub syscall: bool,
    pub k8s_audit: bool,
}

impl Default for Sources {
    fn default() -> Self {
        Sources {
            syscall: true,
            k8s_audit: false,
        }
    }
}

impl Config {
    /// The event sources the configuration provides (enabled or not): `syscall`,
    /// `k8s_audit` when the k8saudit plugin is loaded, and the loaded plugins' sources.
    pub fn event_sources(&self) -> Vec<&str> {
        let mut out = vec![peregrine_filter::fields::SYSCALL_SOURCE];
        if self.k8saudit.is_some() {
            out.push(peregrine_k8saudit::SOURCE);
        }
        out.extend(
            self.loaded_plugins
                .iter()
                .filter_map(|p| p.source.as_deref()),
        );
        out
    }

    /// The plugins Peregrine provides natively for this configuration: what rules loading
    /// treats as loaded (their sources are known, `required_plugin_versions` is checked
    /// against their versions).
    pub fn native_plugins(&self) -> Vec<peregrine_rules::NativePlugin> {
        let v = |(a, b, c)| peregrine_rules::version::Version::new(a, b, c);
        let mut out = Vec::new();
        if self.k8saudit.is_some() {
            out.push(peregrine_rules::NativePlugin {
                name: "k8saudit".into(),
                version: v(peregrine_k8saudit::K8SAUDIT_VERSION),
                source: Some(peregrine_k8saudit::SOURCE.into()),
            });
        }
        if self.json_plugin {
            out.push(peregrine_rules::NativePlugin {
                name: "json".into(),
                version: v(peregrine_k8saudit::JSON_VERSION),
                source: None,
            });
        }
        out.extend(self.loaded_plugins.iter().cloned());
        out
    }
}

/// Where and how much the agent logs about itself (not alerts).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogConfig {
    /// `None` keeps the command line's choice (`-v`, `PEREGRINE_LOG`). Falco's log levels
    /// are its priority names, so they parse as a [`Priority`].
    pub level: Option<Priority>,
    pub stderr: bool,
    /// Falco's default is on; Peregrine logs to syslog only when asked, so that command-line
    /// uses (`-L`, `--dry-run`) never write to the system log.
    pub syslog: bool,
    /// Where syslog lines go: `syslog_output.socket` (Peregrine's extension, for tests and
    /// containers with a non-standard socket), else `/dev/log`.
    pub syslog_socket: PathBuf,
    /// `time_format_iso_8601`: stderr lines start with `2026-12-07T17:22:24+0000` instead of
    /// ctime's `Mon Dec  7 17:22:24 2026`, as Falco's do.
    pub time_format_iso_8601: bool,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: None,
            stderr: true,
            syslog: false,
            syslog_socket: PathBuf::from(peregrine_outputs::syslog::DEV_LOG),
            time_format_iso_8601: false,
        }
    }
}

impl LogConfig {
    /// Reads the `log_*` keys of an (expanded) configuration tree.
    pub fn from_root(root: &Value) -> Result<LogConfig, ConfigError> {
        let mut out = LogConfig::default();
        if let Some(v) = root.get("log_level") {
            let s = string("log_level", v)?;
            out.level = Some(Priority::parse(&s).ok_or_else(|| ConfigError::Value {
                key: "log_level".into(),
                reason: format!("unknown log level '{s}'"),
            })?);
        }
        if let Some(v) = root.get("log_stderr") {
            out.stderr = boolean("log_stderr", v)?;
        }
        if let Some(v) = root.get("log_syslog") {
            out.syslog = boolean("log_syslog", v)?;
        }
        if let Some(v) = root.get("time_format_iso_8601") {
            out.time_format_iso_8601 = boolean("time_format_iso_8601", v)?;
        }
        if let Some(v) = root.get("syslog_output").and_then(|s| s.get("socket")) {
            out.syslog_socket = PathBuf::from(string("syslog_output.socket", v)?);
        }
        Ok(out)
    }
}

fn append_output(value: &Value) -> Result<Vec<AppendOutput>, ConfigError> {
    const KEY: &str = "append_output";
    let err = |i: usize, reason: &str| ConfigError::Value {
        key: format!("{KEY}[{i}]"),
        reason: reason.to_string(),
    };
    let items = match value {
        Value::Array(items) => items,
        Value::Null => return Ok(Vec::new()),
        _ => {
            return Err(ConfigError::Value {
                key: KEY.into(),
                reason: "expected a list of entries".into(),
            })
        }
    };
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let Value::Object(entry) = item else {
            return Err(err(i, "each entry must be a mapping"));
        };
        let mut a = AppendOutput::default();
        if let Some(m) = entry.get("match").filter(|m| !m.is_null()) {
            let Value::Object(m) = m else {
                return Err(err(i, "'match' must be a mapping"));
            };
            if let Some(v) = m.get("source") {
                a.source = Some(string(&format!("{KEY}[{i}].match.source"), v)?);
            }
            if let Some(v) = m.get("rule") {
                a.rule = Some(string(&format!("{KEY}[{i}].match.rule"), v)?);
            }
            match m.get("tags") {
                None | Some(Value::Null) => {}
                Some(Value::Array(tags)) => {
                    for t in tags {
                        a.tags.insert(string(&format!("{KEY}[{i}].match.tags"), t)?);
                    }
                }
                Some(_) => return Err(err(i, "'match.tags' must be a list")),
            }
        }
        if let Some(v) = entry.get("extra_output") {
            a.extra_output = Some(string(&format!("{KEY}[{i}].extra_output"), v)?);
        }
        if let Some(v) = entry.get("suggested_output") {
            a.suggested_output = boolean(&format!("{KEY}[{i}].suggested_output"), v)?;
        }
        match entry.get("extra_fields") {
            None | Some(Value::Null) => {}
            Some(Value::Array(fields)) => {
                for f in fields {
                    let field =
                        match f {
                            Value::Object(kv) if kv.len() == 1 => {
                                let Some((k, v)) = kv.iter().next() else {
                                    continue;
                                };
                                ExtraField::Formatted {
                                    key: k.clone(),
                                    format: string(&format!("{KEY}[{i}].extra_fields.{k}"), v)?,
                                }
                            }
                            Value::String(name) => ExtraField::Field(name.clone()),
                            _ => return Err(err(
                                i,
                                "each extra field must be a field name or a single 'key: value'",
                            )),
                        };
                    let key = match &field {
                        ExtraField::Field(k) | ExtraField::Formatted { key: k, .. } => k,
                    };
                    // Falco refuses an entry that defines a key twice.
                    if a.extra_fields.iter().any(|f| match f {
                        ExtraField::Field(k) | ExtraField::Formatted { key: k, .. } => k == key,
                    }) {
                        return Err(err(i, &format!("extra field '{key}' is defined twice")));
                    }
                    a.extra_fields.push(field);
                }
            }
            Some(_) => return Err(err(i, "'extra_fields' must be a list")),
        }
        out.push(a);
    }
    Ok(out)
}

fn static_fields(value: &Value) -> Result<Vec<(String, String)>, ConfigError> {
    match value {
        Value::Null => Ok(Vec::new()),
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| Ok((k.clone(), string(&format!("static_fields.{k}"), v)?)))
            .collect(),
        _ => Err(ConfigError::Value {
            key: "static_fields".into(),
            reason: "expected a mapping of names to values".into(),
        }),
    }
}

/// Which rules start a capture (`capture.mode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CaptureMode {
    /// Only rules with `capture: true`.
    Rules,
    /// Every enabled rule.
    AllRules,
}

/// `capture`: on a matching alert, write the events around it to a scap file.
#[derive(Clone, Debug, PartialEq)]
pub struct RuleCapture {
    pub enabled: bool,
    pub mode: CaptureMode,
    /// Files are `<path_prefix>_<rule>_<event time ns>.scap`.
    pub path_prefix: String,
    /// How long to keep recording after the alert when the rule sets no
    /// `capture_duration`, in milliseconds.
    pub default_duration_ms: u64,
}

impl Default for RuleCapture {
    /// Falco's defaults.
    fn default() -> Self {
        RuleCapture {
            enabled: false,
            mode: CaptureMode::Rules,
            path_prefix: "/tmp/falco".to_string(),
            default_duration_ms: 5000,
        }
    }
}

fn rule_capture(value: &Value) -> Result<RuleCapture, ConfigError> {
    let mut out = RuleCapture::default();
    if let Some(v) = value.get("enabled") {
        out.enabled = boolean("capture.enabled", v)?;
    }
    if let Some(v) = value.get("mode") {
        out.mode = match string("capture.mode", v)?.as_str() {
            "rules" => CaptureMode::Rules,
            "all_rules" => CaptureMode::AllRules,
            other => {
                return Err(ConfigError::Value {
                    key: "capture.mode".into(),
                    reason: format!("expected 'rules' or 'all_rules', got '{other}'"),
                })
            }
        };
    }
    if let Some(v) = value.get("path_prefix") {
        out.path_prefix = string("capture.path_prefix", v)?;
    }
    if let Some(v) = value.get("default_duration") {
        let ms = number("capture.default_duration", v)?;
        if !(ms >= 0.0 && ms.is_finite()) {
            return Err(ConfigError::Value {
                key: "capture.default_duration".into(),
                reason: format!("expected a duration in milliseconds, got '{ms}'"),
            });
        }
        out.default_duration_ms = ms as u64;
    }
    Ok(out)
}

/// What to do when the kernel drops events (`syscall_event_drops.actions`). The order is
/// Falco's: its actions are a `std::set` of this enum, so they run in this order whatever
/// order the file lists them in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum DropAction {
    Ignore,
    Log,
    Alert,
    Exit,
}

/// `syscall_event_drops`, with Falco's defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct EventDrops {
    /// Fraction of events dropped in a second above which the actions run, in [0, 1].
    pub threshold: f64,
    /// Sorted and unique (see [`DropAction`]); never empty (`ignore` when none is given).
    pub actions: Vec<DropAction>,
    /// Actions per second (token bucket) and burst.
    pub rate: f64,
    pub max_burst: f64,
    /// Falco's test switch: one more drop at every check, and a threshold of 0.
    pub simulate_drops: bool,
}

impl Default for EventDrops {
    /// The values of Falco's shipped falco.yaml (used when no configuration file is read).
    fn default() -> Self {
        EventDrops {
            threshold: 0.1,
            actions: vec![DropAction::Log, DropAction::Alert],
            rate: 0.03333,
            max_burst: 1.0,
            simulate_drops: false,
        }
    }
}

impl Default for Config {
    /// Falco's defaults.
    fn default() -> Self {
        Config {
            rules_files: Vec::new(),
            rules: Vec::new(),
            priority: Priority::Debug,
            outputs: OutputsConfig::default(),
            rule_matching: Matching::First,
            base_syscalls: BaseSyscalls::default(),
            engine: EngineKind::ModernEbpf,
            ring_buffer_bytes: DEFAULT_RING_BUFFER_BYTES,
            shed: true,
            watch_config_files: true,
            webserver: None,
            metrics: MetricsConfig::default(),
            syscall_event_drops: EventDrops::default(),
            capture: RuleCapture::default(),
            append_output: Vec::new(),
            static_fields: Vec::new(),
            logging: LogConfig::default(),
            response_files: Vec::new(),
            response: peregrine_response::Settings::default(),
            containers: ContainerEngines::default(),
            k8saudit: None,
            json_plugin: false,
            plugin_libraries: Vec::new(),
            loaded_plugins: Vec::new(),
            plugin_sources: Vec::new(),
            sources: Sources::default(),
            host_root: PathBuf::from("/"),
            triage: peregrine_triage::TriageConfig::default(),
            alert_store: AlertStoreConfig::default(),
            console: ConsoleConfig::default(),
            fleet: FleetConfig::default(),
        }
    }
}

/// A key as a warning quotes it: control characters escaped, at most 64 characters.
fn printable_key(key: &str) -> String {
    const MAX: usize = 64;
    let mut shown: String = key.chars().take(MAX).collect();
    if key.chars().nth(MAX).is_some() {
        shown.push('…');
    }
    peregrine_filter::escape::terminal_safe(&shown)
}

/// Whether `key` is a top-level configuration key Peregrine knows (its own or Falco's).
pub(crate) fn is_known_key(key: &str) -> bool {
    !key.contains('.') && schema::key(key).is_some()
}

impl Config {
    /// The `rules:` selections and the minimum `priority`, as the rules crate applies them.
    pub fn selection(&self) -> Selection {
        Selection {
            ops: self.rules.clone(),
            min_priority: Some(self.priority),
        }
    }

    /// Interprets a tree. Returns the configuration and warnings: one per key, at any depth,
    /// that is neither Peregrine's nor Falco's (named by its full path), and one line naming
    /// every Falco key present that Peregrine does not act on (see [`schema::KEYS`]).
    pub fn from_tree(tree: &ConfigTree) -> Result<(Config, Vec<String>), ConfigError> {
        let mut cfg = Config::default();
        let mut warnings = Vec::new();
        let root = tree.expanded_root();
        cfg.outputs = OutputsConfig::from_tree(&root)?;
        cfg.logging = LogConfig::from_root(&root)?;
        cfg.host_root = host_root(std::env::var_os("HOST_ROOT").as_deref())?;
        cfg.triage = triage::read(&root, tree.is_builtin())?;
        cfg.alert_store = console::alert_store(&root, tree.is_builtin())?;
        cfg.console = console::console(&root, std::env::var("PEREGRINE_CONSOLE_TOKEN").ok())?;
        cfg.fleet = fleet::read(&root)?;
        if cfg.fleet.enabled {
            cfg.outputs.fleet = Some(cfg.fleet.alert_sink());
        }
        let mut report = schema::check(&root);
        let plugin_keys = plugins::read(&root)?;
        cfg.containers = plugin_keys.engines;
        cfg.sources.k8s_audit = plugin_keys.k8saudit.is_some();
        cfg.k8saudit = plugin_keys.k8saudit;
        cfg.json_plugin = plugin_keys.json;
        cfg.plugin_libraries = plugin_keys.libraries;
        report.unknown.extend(plugin_keys.unknown);
        report.unsupported.extend(plugin_keys.unsupported);
        for key in &report.unknown {
            warnings.push(format!(
                "unknown configuration key '{}' (ignored)",
                printable_key(key)
            ));
        }
        if !report.unsupported.is_empty() {
            let keys: Vec<String> = report
                .unsupported
                .iter()
                .map(|k| printable_key(k))
                .collect();
            warnings.push(format!(
                "configuration keys not supported by Peregrine (ignored): {}",
                keys.join(", ")
            ));
        }
        warnings.extend(plugin_keys.warnings);
        let Value::Object(map) = &root else {
            return Ok((cfg, warnings));
        };
        for (key, value) in map {
            match key.as_str() {
                "rules_files" | "rules_file" => cfg.rules_files = path_list(key, value)?,
                "rules" => cfg.rules = rule_selections(value)?,
                "priority" => {
                    let s = string(key, value)?;
                    cfg.priority = Priority::parse(&s).ok_or_else(|| ConfigError::Value {
                        key: key.clone(),
                        reason: format!("unknown priority '{s}'"),
                    })?;
                }
                "rule_matching" => {
                    cfg.rule_matching = match string(key, value)?.as_str() {
                        "first" => Matching::First,
                        "all" => Matching::All,
                        other => {
                            return Err(ConfigError::Value {
                                key: key.clone(),
                                reason: format!("expected 'first' or 'all', got '{other}'"),
                            })
                        }
                    }
                }
                "base_syscalls" => cfg.base_syscalls = base_syscalls(value)?,
                "engine" => {
                    cfg.engine = engine(value)?;
                    if let Some(v) = value
                        .get("modern_ebpf")
                        .and_then(|m| m.get("buf_size_preset"))
                    {
                        cfg.ring_buffer_bytes = buf_size_preset(v)?;
                    }
                    if let Some(v) = value.get("shed") {
                        cfg.shed = boolean("engine.shed", v)?;
                    }
                }
                "watch_config_files" => cfg.watch_config_files = boolean(key, value)?,
                "webserver" => {
                    // Unknown `webserver.*` keys are reported by the schema check above.
                    let (web, _unknown) = WebConfig::read(Some(value))?;
                    cfg.webserver = Some(web);
                }
                "syscall_event_drops" => cfg.syscall_event_drops = event_drops(value)?,
                "capture" => cfg.capture = rule_capture(value)?,
                "append_output" => cfg.append_output = append_output(value)?,
                "static_fields" => cfg.static_fields = static_fields(value)?,
                "log_level" | "log_stderr" | "log_syslog" => {}
                "metrics" => cfg.metrics = MetricsConfig::from_value(value)?,
                "response_files" => cfg.response_files = path_list(key, value)?,
                "response" => cfg.response = response::settings(value)?,
                // Output keys (read by the outputs crate above) and keys Peregrine
                // does not act on (reported by the schema check above).
                _ => {}
            }
        }
        // The responder reads the host's /proc below HOST_ROOT and keeps its isolated
        // containers beside the API's silences.
        cfg.response.host_root.clone_from(&cfg.host_root);
        cfg.response.state_dir = Some(cfg.triage.state_dir.clone());
        Ok((cfg, warnings))
    }
}

fn string(key: &str, value: &Value) -> Result<String, ConfigError> {
    match value {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        _ => Err(ConfigError::Value {
            key: key.to_string(),
            reason: "expected a scalar".to_string(),
        }),
    }
}

/// Booleans as yaml-cpp reads them, so `-o json_output=true` and `yes`/`on` work.
fn boolean(key: &str, value: &Value) -> Result<bool, ConfigError> {
    if let Value::Bool(b) = value {
        return Ok(*b);
    }
    let s = string(key, value)?;
    match s.to_ascii_lowercase().as_str() {
        "true" | "yes" | "y" | "on" => Ok(true),
        "false" | "no" | "n" | "off" => Ok(false),
        _ => Err(ConfigError::Value {
            key: key.to_string(),
            reason: format!("expected a boolean, got '{s}'"),
        }),
    }
}

fn path_list(key: &str, value: &Value) -> Result<Vec<PathBuf>, ConfigError> {
    match value {
        Value::Array(items) => items
            .iter()
            .map(|v| string(key, v).map(PathBuf::from))
            .collect(),
        Value::Null => Ok(Vec::new()),
        v => Ok(vec![PathBuf::from(string(key, v)?)]),
    }
}

fn rule_selections(value: &Value) -> Result<Vec<SelectionOp>, ConfigError> {
    let err = |reason: String| ConfigError::Value {
        key: "rules".to_string(),
        reason,
    };
    let items = match value {
        Value::Array(items) => items,
        Value::Null => return Ok(Vec::new()),
        _ => return Err(err("expected a list of enable/disable entries".into())),
    };
    let mut out = Vec::new();
    for item in items {
        let Value::Object(entry) = item else {
            return Err(err("each entry must be a mapping".into()));
        };
        for (action, what) in entry {
            let Value::Object(what) = what else {
                return Err(err(format!("'{action}' must map 'rule' or 'tag'")));
            };
            for (kind, name) in what {
                let name = string("rules", name)?;
                let selector = match kind.as_str() {
                    "rule" => Selector::Rule(name),
                    "tag" => Selector::Tag(name),
                    other => return Err(err(format!("unknown selector '{other}'"))),
                };
                out.push(match action.as_str() {
                    "enable" => SelectionOp::Enable(selector),
                    "disable" => SelectionOp::Disable(selector),
                    other => return Err(err(format!("unknown action '{other}'"))),
                });
            }
        }
    }
    Ok(out)
}

fn base_syscalls(value: &Value) -> Result<BaseSyscalls, ConfigError> {
    let mut out = BaseSyscalls::default();
    if let Some(v) = value.get("custom_set") {
        out.custom_set = match v {
            Value::Array(items) => items
                .iter()
                .map(|i| string("base_syscalls.custom_set", i))
                .collect::<Result<_, _>>()?,
            Value::Null => Vec::new(),
            _ => {
                return Err(ConfigError::Value {
                    key: "base_syscalls.custom_set".into(),
                    reason: "expected a list".into(),
                })
            }
        };
    }
    if let Some(v) = value.get("repair") {
        out.repair = boolean("base_syscalls.repair", v)?;
    }
    if let Some(v) = value.get("all") {
        out.all = boolean("base_syscalls.all", v)?;
    }
    Ok(out)
}

fn number(key: &str, value: &Value) -> Result<f64, ConfigError> {
    let s = string(key, value)?;
    s.trim().parse().map_err(|_| ConfigError::Value {
        key: key.to_string(),
        reason: format!("expected a number, got '{s}'"),
    })
}

/// Reads `syscall_event_drops` as Falco's `falco_configuration` does, with its messages.
/// A block that is present but lists no actions means `ignore`, as in Falco.
fn event_drops(value: &Value) -> Result<EventDrops, ConfigError> {
    const KEY: &str = "syscall_event_drops.actions";
    let mut out = EventDrops::default();
    if let Some(v) = value.get("threshold") {
        out.threshold = number("syscall_event_drops.threshold", v)?;
        if !(0.0..=1.0).contains(&out.threshold) {
            // Falco's wording, which its regression suite checks.
            return Err(ConfigError::Value {
                key: "syscall_event_drops.threshold".into(),
                reason: "syscall event drops threshold must be a double in the range [0, 1]".into(),
            });
        }
    }
    let items = match value.get("actions") {
        Some(Value::Array(items)) => items.clone(),
        Some(Value::Null) | None => Vec::new(),
        Some(other) => vec![other.clone()],
    };
    let mut actions = std::collections::BTreeSet::new();
    for item in &items {
        let name = string(KEY, item)?;
        let action = match name.as_str() {
            "ignore" => DropAction::Ignore,
            "log" => DropAction::Log,
            "alert" => DropAction::Alert,
            "exit" => DropAction::Exit,
            _ => {
                return Err(ConfigError::Value {
                    key: KEY.into(),
                    reason: "available actions for syscall event drops are \"ignore\", \"log\", \"alert\", and \"exit\"".into(),
                })
            }
        };
        // Falco refuses log/alert only when ignore came first in the list.
        if matches!(action, DropAction::Log | DropAction::Alert)
            && actions.contains(&DropAction::Ignore)
        {
            return Err(ConfigError::Value {
                key: KEY.into(),
                reason: format!(
                    "syscall event drop action \"{name}\" does not make sense with the \"ignore\" action"
                ),
            });
        }
        actions.insert(action);
    }
    if actions.is_empty() {
        actions.insert(DropAction::Ignore);
    }
    out.actions = actions.into_iter().collect();
    if let Some(v) = value.get("rate") {
        out.rate = number("syscall_event_drops.rate", v)?;
    }
    if let Some(v) = value.get("max_burst") {
        out.max_burst = number("syscall_event_drops.max_burst", v)?;
    }
    if let Some(v) = value.get("simulate_drops") {
        out.simulate_drops = boolean("syscall_event_drops.simulate_drops", v)?;
    }
    Ok(out)
}

/// Falco's default syscall buffer size (`buf_size_preset: 4`).
pub const DEFAULT_RING_BUFFER_BYTES: u32 = 8 << 20;

/// `engine.modern_ebpf.buf_size_preset`: Falco's table, index 1 to 10 → 1 MiB to 512 MiB.
fn buf_size_preset(value: &Value) -> Result<u32, ConfigError> {
    const KEY: &str = "engine.modern_ebpf.buf_size_preset";
    let n = number(KEY, value)?;
    if !(1.0..=10.0).contains(&n) || n.fract() != 0.0 {
        // Falco's wording.
        return Err(ConfigError::Value {
            key: KEY.into(),
            reason: "The 'buf_size_preset' value must be between '1' and '10'".into(),
        });
    }
    Ok(1u32 << (19 + n as u32))
}

fn engine(value: &Value) -> Result<EngineKind, ConfigError> {
    let kind = match value.get("kind") {
        Some(v) => string("engine.kind", v)?,
        None => return Ok(EngineKind::ModernEbpf),
    };
    Ok(match kind.as_str() {
        "modern_ebpf" => EngineKind::ModernEbpf,
        "replay" => EngineKind::Replay {
            capture_file: value
                .get("replay")
                .and_then(|r| r.get("capture_file"))
                .map(|v| string("engine.replay.capture_file", v).map(PathBuf::from))
                .transpose()?,
        },
        other => EngineKind::Other(other.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_config_reads_falco_keys() {
        let yaml = "
rules_files: [/a.yaml, /b]
priority: warning
json_output: true
rule_matching: all
stdout_output: {enabled: false}
base_syscalls: {custom_set: [open, '!close'], repair: true}
engine: {kind: replay, replay: {capture_file: /tmp/x.scap}}
webserver: {enabled: true}
frobnicate: 1
";
        let tree = ConfigTree::from_yaml_str(yaml, "t").expect("yaml");
        let (cfg, warnings) = Config::from_tree(&tree).expect("valid config");
        assert_eq!(
            cfg.rules_files,
            vec![PathBuf::from("/a.yaml"), PathBuf::from("/b")]
        );
        assert_eq!(cfg.priority, Priority::Warning);
        assert!(cfg.outputs.format.json_output);
        assert_eq!(cfg.rule_matching, Matching::All);
        assert!(!cfg.outputs.stdout.enabled);
        assert_eq!(cfg.base_syscalls.custom_set, vec!["open", "!close"]);
        assert!(cfg.base_syscalls.repair && !cfg.base_syscalls.all);
        assert_eq!(
            cfg.engine,
            EngineKind::Replay {
                capture_file: Some(PathBuf::from("/tmp/x.scap"))
            }
        );
        assert_eq!(
            warnings,
            vec!["unknown configuration key 'frobnicate' (ignored)"]
        );
    }

    #[test]
    fn the_container_plugin_entry_reaches_the_config_and_its_warnings_merge() {
        let yaml = "
load_plugins: [container, json]
plugins:
  - name: container
    init_config: {label_max_len: 9, hooks: [start], engines: {docker: {enabled: false}}, x: 1}
grpc: {enabled: false}
";
        let tree = ConfigTree::from_yaml_str(yaml, "t").expect("yaml");
        let (cfg, warnings) = Config::from_tree(&tree).expect("valid config");
        assert_eq!(cfg.containers.label_max_len, 9);
        assert!(!cfg.containers.docker.enabled && cfg.containers.podman.enabled);
        assert_eq!(
            warnings,
            [
                "unknown configuration key 'plugins[0].init_config.x' (ignored)",
                "configuration keys not supported by Peregrine (ignored): grpc, plugins[0].init_config.hooks",
                "plugins listed in load_plugins without a 'plugins' entry (not loaded): json",
            ]
        );
    }

    #[test]
    fn string_overrides_convert_to_typed_values() {
        let mut tree = ConfigTree::default();
        for o in [
            "json_output=true",
            "priority=INFO",
            "rules[].disable.rule=*",
            "rules[].enable.tag=network",
            "base_syscalls.all=true",
        ] {
            tree.apply_option(o).expect("option");
        }
        let (cfg, _) = Config::from_tree(&tree).expect("config");
        assert!(cfg.outputs.format.json_output && cfg.base_syscalls.all);
        assert_eq!(cfg.priority, Priority::Informational);
        assert_eq!(
            cfg.rules,
            vec![
                SelectionOp::Disable(Selector::Rule("*".into())),
                SelectionOp::Enable(Selector::Tag("network".into())),
            ]
        );
    }

    #[test]
    fn bad_values_name_their_key() {
        for (opt, key) in [
            ("priority=loud", "priority"),
            ("rule_matching=some", "rule_matching"),
            ("rules[].explode.rule=x", "rules"),
        ] {
            let mut tree = ConfigTree::default();
            tree.apply_option(opt).expect("option");
            match Config::from_tree(&tree) {
                Err(ConfigError::Value { key: k, .. }) => assert_eq!(k, key, "{opt}"),
                other => panic!("{opt}: expected a value error, got {other:?}"),
            }
        }
    }

    #[test]
    fn output_keys_are_checked_by_the_outputs_crate() {
        let mut tree = ConfigTree::default();
        tree.apply_option("json_output=maybe").expect("option");
        let err = Config::from_tree(&tree).expect_err("bad boolean");
        assert!(matches!(err, ConfigError::Outputs(_)), "{err:?}");
        assert!(err.to_string().contains("json_output"), "{err}");
        // Output keys are known keys: no "unknown key" warning.
        let tree = ConfigTree::from_yaml_str(
            "file_output: {enabled: true}\noutputs_queue: {capacity: 3}",
            "t",
        )
        .expect("yaml");
        let (cfg, warnings) = Config::from_tree(&tree).expect("config");
        assert!(warnings.is_empty(), "{warnings:?}");
        assert!(cfg.outputs.file.enabled);
        assert_eq!(cfg.outputs.queue_capacity, 3);
    }

    #[test]
    fn event_drops_follow_falco() {
        let read = |yaml: &str| {
            let tree = ConfigTree::from_yaml_str(yaml, "t").expect("yaml");
            Config::from_tree(&tree).map(|(c, _)| c.syscall_event_drops)
        };
        assert_eq!(read("").expect("defaults"), EventDrops::default());
        let d = read(
            "syscall_event_drops: {threshold: .5, actions: [exit, log, exit], rate: 2, max_burst: 3}",
        )
        .expect("valid");
        // Falco's set order, whatever the file's order; duplicates collapse.
        assert_eq!(d.actions, vec![DropAction::Log, DropAction::Exit]);
        assert_eq!((d.threshold, d.rate, d.max_burst), (0.5, 2.0, 3.0));
        for bad in ["1.1", "-1", "x"] {
            let err = read(&format!("syscall_event_drops: {{threshold: {bad}}}"))
                .expect_err("out of range");
            assert!(
                err.to_string().contains("syscall_event_drops.threshold"),
                "{err}"
            );
        }
        let err = read("syscall_event_drops: {threshold: 1.1}").expect_err("range");
        assert!(err
            .to_string()
            .contains("syscall event drops threshold must be a double in the range [0, 1]"));
        // (actions, Ok(parsed) or Err(part of the message))
        let cases: [(&str, Result<&[DropAction], &str>); 6] = [
            ("[]", Ok(&[DropAction::Ignore])),
            ("[ignore, exit]", Ok(&[DropAction::Ignore, DropAction::Exit])),
            // Only an ignore listed first conflicts, as in Falco.
            ("[log, ignore]", Ok(&[DropAction::Ignore, DropAction::Log])),
            (
                "[ignore, alert]",
                Err("syscall event drop action \"alert\" does not make sense with the \"ignore\" action"),
            ),
            ("[explode]", Err("available actions for syscall event drops are \"ignore\", \"log\", \"alert\", and \"exit\"")),
            ("alert", Ok(&[DropAction::Alert])),
        ];
        for (actions, want) in cases {
            let got = read(&format!("syscall_event_drops: {{actions: {actions}}}"));
            match (want, got) {
                (Ok(w), Ok(d)) => assert_eq!(d.actions, w, "{actions}"),
                (Err(w), Err(e)) => assert!(e.to_string().contains(w), "{actions}: {e}"),
                (w, g) => panic!("{actions}: expected {w:?}, got {g:?}"),
            }
        }
        let sim = read("syscall_event_drops: {simulate_drops: true}").expect("valid");
        assert!(sim.simulate_drops);
    }

    #[test]
    fn rule_capture_keys_follow_falco() {
        let read = |yaml: &str| Config::from_tree(&ConfigTree::from_yaml_str(yaml, "t")?);
        let (cfg, warnings) = read(
            "capture: {enabled: true, mode: all_rules, path_prefix: /var/cap, default_duration: 250}",
        )
        .expect("capture config");
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(
            cfg.capture,
            RuleCapture {
                enabled: true,
                mode: CaptureMode::AllRules,
                path_prefix: "/var/cap".into(),
                default_duration_ms: 250,
            }
        );
        assert_eq!(read("{}").expect("empty").0.capture, RuleCapture::default());
        assert!(read("capture: {mode: some}").is_err());
        assert!(read("capture: {default_duration: -5}").is_err());
    }

    #[test]
    fn engine_shed_is_on_by_default_and_can_be_turned_off() {
        let read = |yaml: &str| {
            let tree = ConfigTree::from_yaml_str(yaml, "t").expect("yaml");
            Config::from_tree(&tree).map(|(cfg, _)| cfg)
        };
        assert!(read("{}").expect("empty").shed);
        assert!(!read("engine: {shed: false}").expect("off").shed);
        let err = read("engine: {shed: maybe}").expect_err("not a bool");
        assert!(err.to_string().contains("engine.shed"), "{err}");
    }

    #[test]
    fn buf_size_preset_sets_the_ring_size() {
        let read =
            |yaml: &str| Config::from_tree(&ConfigTree::from_yaml_str(yaml, "t")?).map(|(c, _)| c);
        assert_eq!(read("").expect("empty").ring_buffer_bytes, 8 << 20);
        for (preset, bytes) in [(1, 1u32 << 20), (4, 8 << 20), (10, 512 << 20)] {
            let cfg = read(&format!(
                "engine: {{modern_ebpf: {{buf_size_preset: {preset}}}}}"
            ))
            .expect("valid");
            assert_eq!(cfg.ring_buffer_bytes, bytes, "{preset}");
        }
        for bad in ["0", "11", "2.5", "x"] {
            let err = read(&format!(
                "engine: {{modern_ebpf: {{buf_size_preset: {bad}}}}}"
            ))
            .expect_err("out of range");
            assert!(
                err.to_string()
                    .contains("engine.modern_ebpf.buf_size_preset"),
                "{err}"
            );
        }
    }

    #[test]
    fn priorities_parse_like_falco() {
        assert_eq!(Priority::parse("Critical"), Some(Priority::Critical));
        assert_eq!(
            Priority::parse("informational"),
            Some(Priority::Informational)
        );
        assert_eq!(Priority::parse("nope"), None);
        assert!(Priority::Emergency < Priority::Debug);
    }

    #[test]
    fn append_output_entries_parse_like_falco() {
        let read = |yaml: &str| {
            Config::from_tree(&ConfigTree::from_yaml_str(yaml, "t")?).map(|(c, _)| c.append_output)
        };
        let parsed = read(
            "append_output:
  - match: {source: syscall, tags: [a, b], rule: R}
    extra_output: 'on CPU %evt.cpu'
    extra_fields: [{home: '/root'}, evt.hostname]
  - extra_output: plain
    suggested_output: true
",
        )
        .expect("valid");
        assert_eq!(
            parsed,
            vec![
                AppendOutput {
                    source: Some("syscall".into()),
                    tags: ["a", "b"].iter().map(|t| t.to_string()).collect(),
                    rule: Some("R".into()),
                    extra_output: Some("on CPU %evt.cpu".into()),
                    suggested_output: false,
                    extra_fields: vec![
                        ExtraField::Formatted {
                            key: "home".into(),
                            format: "/root".into()
                        },
                        ExtraField::Field("evt.hostname".into()),
                    ],
                },
                AppendOutput {
                    extra_output: Some("plain".into()),
                    suggested_output: true,
                    ..AppendOutput::default()
                },
            ]
        );
        assert_eq!(read("append_output:").expect("empty"), Vec::new());
        // (bad value, key named in the error)
        for (bad, key) in [
            ("append_output: x", "append_output"),
            ("append_output: [x]", "append_output[0]"),
            ("append_output: [{match: x}]", "append_output[0]"),
            (
                "append_output: [{}, {match: {tags: t}}]",
                "append_output[1]",
            ),
            ("append_output: [{extra_fields: x}]", "append_output[0]"),
            ("append_output: [{extra_fields: [[x]]}]", "append_output[0]"),
            (
                "append_output: [{extra_fields: [{a: 1, b: 2}]}]",
                "append_output[0]",
            ),
            (
                "append_output: [{extra_fields: [a, {a: x}]}]",
                "append_output[0]",
            ),
            (
                "append_output: [{extra_output: [x]}]",
                "append_output[0].extra_output",
            ),
        ] {
            match read(bad) {
                Err(ConfigError::Value { key: k, .. }) => assert_eq!(k, key, "{bad}"),
                other => panic!("{bad}: expected a value error, got {other:?}"),
            }
        }
    }

    #[test]
    fn static_fields_and_log_keys() {
        let (cfg, warnings) = Config::from_tree(
            &ConfigTree::from_yaml_str(
                "static_fields: {b: x, a: 2}\nlog_level: NOTICE\nlog_stderr: false\nlog_syslog: true\nsyslog_output: {socket: /tmp/s}\ntime_format_iso_8601: true",
                "t",
            )
            .expect("yaml"),
        )
        .expect("valid");
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(
            cfg.static_fields,
            vec![("a".into(), "2".into()), ("b".into(), "x".into())]
        );
        assert_eq!(
            cfg.logging,
            LogConfig {
                level: Some(Priority::Notice),
                stderr: false,
                syslog: true,
                syslog_socket: PathBuf::from("/tmp/s"),
                time_format_iso_8601: true,
            }
        );
        assert_eq!(Config::default().logging, LogConfig::default());
        for bad in [
            "static_fields: [a]",
            "static_fields: {a: [1]}",
            "log_level: loud",
            "log_stderr: maybe",
        ] {
            let tree = ConfigTree::from_yaml_str(bad, "t").expect("yaml");
            assert!(Config::from_tree(&tree).is_err(), "{bad}");
        }
        let names = [
            "emergency",
            "alert",
            "critical",
            "error",
            "warning",
            "notice",
            "info",
            "debug",
        ];
        let levels: Vec<_> = names.iter().filter_map(|n| Priority::parse(n)).collect();
        assert!(levels.len() == names.len() && levels.windows(2).all(|w| w[0] < w[1]));
    }
}
