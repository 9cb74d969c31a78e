//! `load_plugins`, `plugins` and `HOST_ROOT`: Falco's plugin keys as far as Peregrine has a use
//! for them. Peregrine has no plugin loader; its container support is built in and plays the
//! container plugin's part, so the `container` entry's `init_config` (engines and their
//! sockets, `label_max_len`) configures it whether or not `load_plugins` lists it (Falco 0.44's
//! stock file lists none and still enriches containers). The `k8saudit` and `json` plugins
//! (recognised by name or by Falco's library file names) select the native `k8s_audit` source
//! when `load_plugins` lists them, with their `init_config` and `open_params`. Every other
//! plugin `load_plugins` lists is a shared library for the plugin host (`peregrine-plugins`):
//! its entry must then name a `library_path`.
//!
//! Key decision: an engine the configuration mentions keeps the plugin's default sockets for
//! what it leaves out, and engines it does not mention keep their defaults, so a drop-in that
//! only disables docker does not also silence podman.

use std::path::{Path, PathBuf};

use peregrine_state::runtime::{Engine, Engines};
use serde_json::Value;

use crate::{boolean, printable_key, string, ConfigError};

/// What the plugin keys say, and what they hold that Peregrine does not act on.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct PluginKeys {
    pub engines: Engines,
    /// Keys in no table (by full path, e.g. `plugins[0].init_config.foo`).
    pub unknown: Vec<String>,
    /// Keys the container plugin has and Peregrine ignores.
    pub unsupported: Vec<String>,
    /// Whole warnings (plugins not loaded, engines not queried).
    pub warnings: Vec<String>,
    /// The `k8saudit` entry, when `load_plugins` lists it.
    pub k8saudit: Option<AuditSourceConfig>,
    /// `load_plugins` lists `json`.
    pub json: bool,
    /// The other plugins `load_plugins` lists, in its order.
    pub libraries: Vec<PluginEntry>,
}

/// A plugin the host loads from a shared library: its `plugins` entry.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PluginEntry {
    pub name: String,
    /// `library_path`: absolute, or relative to Falco's `/usr/share/falco/plugins`.
    pub library_path: PathBuf,
    /// `init_config` as the plugin receives it: a string as written, a mapping as JSON.
    pub init_config: String,
    pub open_params: String,
}

/// The native `k8s_audit` source as the `k8saudit` plugin entry configures it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditSourceConfig {
    /// `open_params`: a path, or `http(s)://HOST:PORT/PATH` for the webhook.
    pub open_params: String,
    /// `init_config`: `sslCertificate`, `maxEventSize`, `webhookMaxBatchSize`.
    pub init: peregrine_k8saudit::InitConfig,
}

/// Which native plugin an entry names: by `name`, or by the file name of Falco's library.
fn native_plugin(name: &str, library_path: Option<&str>) -> Option<&'static str> {
    let file = library_path.map(|p| p.rsplit('/').next().unwrap_or(p));
    match (name, file) {
        ("k8saudit", _) | (_, Some("libk8saudit.so")) => Some("k8saudit"),
        ("json", _) | (_, Some("libjson.so")) => Some("json"),
        _ => None,
    }
}

/// Engines the container plugin knows that Peregrine cannot ask.
const UNQUERIED_ENGINES: [&str; 3] = ["lxc", "libvirt_lxc", "bpm"];

/// Reads `load_plugins` and `plugins` of an expanded tree.
pub(crate) fn read(root: &Value) -> Result<PluginKeys, ConfigError> {
    let mut out = PluginKeys::default();
    let mut load = Vec::new();
    match root.get("load_plugins") {
        None | Some(Value::Null) => {}
        Some(Value::Array(names)) => {
            for (i, n) in names.iter().enumerate() {
                load.push(string(&format!("load_plugins[{i}]"), n)?);
            }
        }
        Some(_) => return Err(value_err("load_plugins", "expected a list of plugin names")),
    }
    let empty = Vec::new();
    let entries = match root.get("plugins") {
        None | Some(Value::Null) => &empty,
        Some(Value::Array(entries)) => entries,
        Some(_) => return Err(value_err("plugins", "expected a list of plugin entries")),
    };
    // The native plugins among the loaded ones: their entries name them by name or library.
    let mut native: Vec<(String, &'static str)> = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        let Value::Object(map) = entry else { continue };
        let Some(Value::String(name)) = map.get("name") else {
            continue;
        };
        let lib = map.get("library_path").and_then(Value::as_str);
        if let Some(kind) = native_plugin(name, lib) {
            if load.contains(name) {
                native.push((name.clone(), kind));
                if kind == "k8saudit" {
                    out.k8saudit = Some(audit_source(&format!("plugins[{i}]"), map)?);
                } else {
                    out.json = true;
                }
            }
        }
    }
    let mut no_entry = Vec::new();
    for n in load
        .iter()
        .filter(|n| *n != "container" && !native.iter().any(|(name, _)| name == *n))
    {
        match library(n, entries)? {
            Some(lib) => out.libraries.push(lib),
            None => no_entry.push(printable_key(n)),
        }
    }
    if !no_entry.is_empty() {
        out.warnings.push(format!(
            "plugins listed in load_plugins without a 'plugins' entry (not loaded): {}",
            no_entry.join(", ")
        ));
    }
    for (i, entry) in entries.iter().enumerate() {
        let at = format!("plugins[{i}]");
        let Value::Object(map) = entry else {
            return Err(value_err(&at, "each entry must be a mapping"));
        };
        let name = match map.get("name") {
            Some(v) => string(&format!("{at}.name"), v)?,
            None => return Err(value_err(&at, "the entry has no 'name'")),
        };
        for key in map.keys() {
            if !["name", "library_path", "init_config", "open_params"].contains(&key.as_str()) {
                out.unknown.push(format!("{at}.{key}"));
            }
        }
        if name == "container" {
            let init = init_config(&format!("{at}.init_config"), map.get("init_config"))?;
            container(&init, &format!("{at}.init_config"), &mut out)?;
        }
    }
    Ok(out)
}

/// The entry of plugin `name` (listed in `load_plugins`) for the plugin host.
fn library(name: &str, entries: &[Value]) -> Result<Option<PluginEntry>, ConfigError> {
    let found = entries
        .iter()
        .enumerate()
        .find(|(_, e)| e.get("name").and_then(Value::as_str) == Some(name));
    let Some((i, Value::Object(map))) = found else {
        return Ok(None);
    };
    let at = format!("plugins[{i}]");
    let library_path = match map.get("library_path") {
        Some(v) => string(&format!("{at}.library_path"), v)?,
        None => String::new(),
    };
    if library_path.trim().is_empty() {
        return Err(value_err(
            &format!("{at}.library_path"),
            "a plugin loaded from a library needs its library_path",
        ));
    }
    let init_config = match map.get("init_config") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
    };
    let open_params = match map.get("open_params") {
        None | Some(Value::Null) => String::new(),
        Some(v) => string(&format!("{at}.open_params"), v)?,
    };
    Ok(Some(PluginEntry {
        name: name.to_string(),
        library_path: library_path.into(),
        init_config,
        open_params,
    }))
}

/// The `k8saudit` entry at `at`: its `open_params` and `init_config`.
fn audit_source(
    at: &str,
    map: &serde_json::Map<String, Value>,
) -> Result<AuditSourceConfig, ConfigError> {
    let open_params = match map.get("open_params") {
        None | Some(Value::Null) => String::new(),
        Some(v) => string(&format!("{at}.open_params"), v)?,
    };
    if open_params.trim().is_empty() {
        return Err(value_err(
            &format!("{at}.open_params"),
            "the k8saudit plugin needs open_params (a file, a directory, - for standard input, file:///PATH to follow, or http://:PORT/PATH)",
        ));
    }
    peregrine_k8saudit::OpenParams::parse(&open_params)
        .map_err(|e| value_err(&format!("{at}.open_params"), &e.to_string()))?;
    let iat = format!("{at}.init_config");
    let init = init_config(&iat, map.get("init_config"))?;
    let Value::Object(init) = init else {
        return Err(value_err(&iat, "expected a mapping"));
    };
    let mut cfg = peregrine_k8saudit::InitConfig::default();
    for (key, value) in &init {
        let path = format!("{iat}.{key}");
        let size = |v: &Value| -> Result<usize, ConfigError> {
            let s = string(&path, v)?;
            s.trim()
                .parse::<usize>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| value_err(&path, &format!("expected a size in bytes, got '{s}'")))
        };
        match key.as_str() {
            "sslCertificate" => cfg.ssl_certificate = string(&path, value)?.into(),
            "maxEventSize" => cfg.max_event_size = size(value)?,
            "webhookMaxBatchSize" => cfg.webhook_max_batch_size = size(value)?,
            // The SDK's async extraction: a performance switch with no meaning here.
            "useAsync" => {
                boolean(&path, value)?;
            }
            _ => return Err(value_err(&path, "unknown k8saudit init_config key")),
        }
    }
    Ok(AuditSourceConfig {
        open_params,
        init: cfg,
    })
}

/// `init_config` is a mapping, or a string holding JSON (or YAML), as Falco accepts it.
fn init_config(at: &str, value: Option<&Value>) -> Result<Value, ConfigError> {
    match value {
        None | Some(Value::Null) => Ok(Value::Object(Default::default())),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(Value::Object(Default::default())),
        Some(Value::String(s)) => crate::tree::parse_yaml(s)
            .map_err(|e| value_err(at, &format!("not a JSON or YAML mapping: {e}"))),
        Some(v) => Ok(v.clone()),
    }
}

fn container(init: &Value, at: &str, out: &mut PluginKeys) -> Result<(), ConfigError> {
    let Value::Object(map) = init else {
        return Err(value_err(at, "expected a mapping"));
    };
    let mut unqueried = Vec::new();
    for (key, value) in map {
        let path = format!("{at}.{key}");
        match key.as_str() {
            "label_max_len" => {
                let n = string(&path, value)?;
                out.engines.label_max_len = n
                    .trim()
                    .parse()
                    .map_err(|_| value_err(&path, &format!("expected a length, got '{n}'")))?;
            }
            // Peregrine never inspects container sizes (slow, as the plugin warns).
            "with_size" => {
                if boolean(&path, value)? {
                    out.unsupported.push(path);
                }
            }
            // Peregrine asks on a container's first event and retries within ~0.4 s; it has
            // no runtime event hooks or start-up listing to time out.
            "hooks" | "engine_timeout" | "log_level" => out.unsupported.push(path),
            "engines" => {
                let Value::Object(engines) = value else {
                    return Err(value_err(&path, "expected a mapping of engines"));
                };
                for (name, cfg) in engines {
                    let epath = format!("{path}.{name}");
                    let slot = match name.as_str() {
                        "docker" => &mut out.engines.docker,
                        "podman" => &mut out.engines.podman,
                        "containerd" => &mut out.engines.containerd,
                        "cri" => &mut out.engines.cri,
                        n if UNQUERIED_ENGINES.contains(&n) => {
                            let mut e = Engine {
                                enabled: false,
                                sockets: Vec::new(),
                            };
                            engine(cfg, &epath, &mut e, &mut out.unknown)?;
                            if e.enabled {
                                unqueried.push(n.to_string());
                            }
                            continue;
                        }
                        _ => {
                            out.unknown.push(epath);
                            continue;
                        }
                    };
                    engine(cfg, &epath, slot, &mut out.unknown)?;
                }
            }
            _ => out.unknown.push(path),
        }
    }
    if !unqueried.is_empty() {
        out.warnings.push(format!(
            "container engines Peregrine cannot query (their containers get an id, no metadata): {}",
            unqueried.join(", ")
        ));
    }
    Ok(())
}

fn engine(
    value: &Value,
    at: &str,
    slot: &mut Engine,
    unknown: &mut Vec<String>,
) -> Result<(), ConfigError> {
    let Value::Object(map) = value else {
        return Err(value_err(
            at,
            "expected a mapping with 'enabled' and 'sockets'",
        ));
    };
    for (key, v) in map {
        let path = format!("{at}.{key}");
        match key.as_str() {
            "enabled" => slot.enabled = boolean(&path, v)?,
            "sockets" => {
                let Value::Array(items) = v else {
                    return Err(value_err(&path, "expected a list of socket paths"));
                };
                slot.sockets = items
                    .iter()
                    .map(|s| string(&path, s).map(PathBuf::from))
                    .collect::<Result<_, _>>()?;
                if let Some(bad) = slot.sockets.iter().find(|s| !s.is_absolute()) {
                    let shown = printable_key(&bad.display().to_string());
                    return Err(value_err(
                        &path,
                        &format!("'{shown}' is not an absolute path"),
                    ));
                }
            }
            _ => unknown.push(path),
        }
    }
    Ok(())
}

/// Falco's `HOST_ROOT`: where the host's root is mounted when the agent runs in a container
/// (`/host`); `/` when unset or empty. It must be absolute: every host path is read below it.
pub fn host_root(var: Option<&std::ffi::OsStr>) -> Result<PathBuf, ConfigError> {
    match var {
        None => Ok(PathBuf::from("/")),
        Some(v) if v.is_empty() => Ok(PathBuf::from("/")),
        Some(v) if Path::new(v).is_absolute() => Ok(PathBuf::from(v)),
        Some(v) => Err(ConfigError::Value {
            key: "HOST_ROOT (environment variable)".into(),
            reason: format!(
                "'{}' is not an absolute path",
                printable_key(&v.to_string_lossy())
            ),
        }),
    }
}

fn value_err(key: &str, reason: &str) -> ConfigError {
    ConfigError::Value {
        key: key.to_string(),
        reason: reason.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn k8saudit_and_json_entries_select_the_native_source() {
        let root = json!({
            "load_plugins": ["k8saudit", "json"],
            "plugins": [
                {"name": "k8saudit", "library_path": "libk8saudit.so",
                 "init_config": {"maxEventSize": 1000, "webhookMaxBatchSize": "2000", "useAsync": false},
                 "open_params": "http://:9765/k8s-audit"},
                {"name": "json", "library_path": "libjson.so", "init_config": ""}
            ]
        });
        let k = read(&root).unwrap();
        assert!(k.json && k.warnings.is_empty(), "{:?}", k.warnings);
        let a = k.k8saudit.unwrap();
        assert_eq!(a.open_params, "http://:9765/k8s-audit");
        assert_eq!(
            (a.init.max_event_size, a.init.webhook_max_batch_size),
            (1000, 2000)
        );
        // Not in load_plugins: not loaded.
        let root = json!({"plugins": [{"name": "k8saudit", "open_params": "/x"}]});
        assert_eq!(read(&root).unwrap().k8saudit, None);
        // A renamed entry is recognised by Falco's library name.
        let root = json!({"load_plugins": ["ka"],
            "plugins": [{"name": "ka", "library_path": "/usr/share/falco/plugins/libk8saudit.so", "open_params": "/x"}]});
        assert!(read(&root).unwrap().k8saudit.is_some());
        let bad = |entry: serde_json::Value, key: &str| {
            let root = json!({"load_plugins": ["k8saudit"], "plugins": [entry]});
            let e = read(&root).unwrap_err().to_string();
            assert!(e.contains(key), "{e}");
        };
        bad(json!({"name": "k8saudit"}), "plugins[0].open_params");
        bad(
            json!({"name": "k8saudit", "open_params": "ftp://x"}),
            "plugins[0].open_params",
        );
        bad(
            json!({"name": "k8saudit", "open_params": "/x", "init_config": {"maxEventSize": "big"}}),
            "plugins[0].init_config.maxEventSize",
        );
    }

    #[test]
    fn the_container_entry_configures_the_engines() {
        let root = json!({
            "load_plugins": ["container", "k8saudit", "json"],
            "plugins": [
                {"name": "k8saudit", "library_path": "libk8saudit.so", "open_params": "x"},
                {"name": "container", "library_path": "libcontainer.so", "init_config": {
                    "label_max_len": 20,
                    "with_size": false,
                    "hooks": ["create"],
                    "engines": {
                        "docker": {"enabled": false},
                        "podman": {"enabled": true, "sockets": ["/run/a.sock", "/run/b.sock"]},
                        "lxc": {"enabled": true},
                        "bpm": {"enabled": false},
                        "rkt": {"enabled": true},
                        "cri": {"sockets": ["/run/crio/crio.sock"], "frob": 1}
                    },
                    "colour": "blue"
                }, "extra": 1}
            ]
        });
        let keys = read(&root).expect("valid");
        let e = &keys.engines;
        assert_eq!(e.label_max_len, 20);
        assert!(!e.docker.enabled);
        // Left out: the default sockets stay.
        assert_eq!(e.docker.sockets, Engines::default().docker.sockets);
        assert_eq!(
            e.podman.sockets,
            [PathBuf::from("/run/a.sock"), PathBuf::from("/run/b.sock")]
        );
        assert!(e.cri.enabled);
        assert_eq!(e.cri.sockets, [PathBuf::from("/run/crio/crio.sock")]);
        assert_eq!(e.containerd, Engines::default().containerd);
        assert_eq!(
            keys.unknown,
            [
                "plugins[1].extra",
                "plugins[1].init_config.colour",
                "plugins[1].init_config.engines.cri.frob",
                "plugins[1].init_config.engines.rkt"
            ]
        );
        assert_eq!(keys.unsupported, ["plugins[1].init_config.hooks"]);
        assert_eq!(
            keys.warnings,
            [
                // k8saudit is native now; json has no entry to load it from.
                "plugins listed in load_plugins without a 'plugins' entry (not loaded): json",
                "container engines Peregrine cannot query (their containers get an id, no metadata): lxc"
            ]
        );
    }

    #[test]
    fn init_config_may_be_a_json_string_and_the_stock_entry_changes_nothing() {
        let root = json!({"plugins": [{"name": "container",
            "init_config": "{\"label_max_len\": 7, \"with_size\": true}"}]});
        let keys = read(&root).expect("valid");
        assert_eq!(keys.engines.label_max_len, 7);
        assert_eq!(keys.unsupported, ["plugins[0].init_config.with_size"]);
        let stock = json!({"load_plugins": [], "plugins": [{"name": "container",
            "library_path": "libcontainer.so",
            "init_config": {"label_max_len": 100, "with_size": false}}]});
        let keys = read(&stock).expect("valid");
        assert_eq!(
            keys,
            PluginKeys {
                engines: Engines::default(),
                ..PluginKeys::default()
            }
        );
    }

    #[test]
    fn bad_values_name_their_key() {
        for (root, key) in [
            (json!({"plugins": {"name": "container"}}), "'plugins'"),
            (json!({"plugins": [{"library_path": "x"}]}), "'plugins[0]'"),
            (
                json!({"plugins": [{"name": "container", "init_config": {"label_max_len": "big"}}]}),
                "'plugins[0].init_config.label_max_len'",
            ),
            (
                json!({"plugins": [{"name": "container", "init_config":
                    {"engines": {"docker": {"sockets": ["run/docker.sock"]}}}}]}),
                "'plugins[0].init_config.engines.docker.sockets'",
            ),
            (
                json!({"plugins": [{"name": "container", "init_config":
                    {"engines": {"podman": {"enabled": "maybe"}}}}]}),
                "'plugins[0].init_config.engines.podman.enabled'",
            ),
            (json!({"load_plugins": "container"}), "'load_plugins'"),
        ] {
            let err = read(&root).expect_err("refused").to_string();
            assert!(err.contains(key), "{err} should name {key}");
        }
    }

    #[test]
    fn host_root_is_absolute_or_unset() {
        use std::ffi::OsStr;
        assert_eq!(host_root(None).expect("ok"), PathBuf::from("/"));
        assert_eq!(
            host_root(Some(OsStr::new(""))).expect("ok"),
            PathBuf::from("/")
        );
        assert_eq!(
            host_root(Some(OsStr::new("/host"))).expect("ok"),
            PathBuf::from("/host")
        );
        let err = host_root(Some(OsStr::new("host"))).expect_err("relative");
        assert!(err.to_string().contains("HOST_ROOT"), "{err}");
    }

    #[test]
    fn other_loaded_plugins_are_libraries_for_the_host() {
        let root = json!({"load_plugins": ["ticker", "cloudtrail"], "plugins": [
            {"name": "ticker", "library_path": "/opt/libticker.so",
             "init_config": {"batch": 3}, "open_params": "5"},
            {"name": "cloudtrail", "library_path": "libcloudtrail.so",
             "init_config": "{\"s3DownloadConcurrency\": 4}"},
            {"name": "unused", "library_path": "libunused.so"}]});
        let keys = read(&root).expect("valid");
        assert_eq!(
            keys.libraries,
            [
                PluginEntry {
                    name: "ticker".into(),
                    library_path: "/opt/libticker.so".into(),
                    init_config: r#"{"batch":3}"#.into(),
                    open_params: "5".into(),
                },
                PluginEntry {
                    name: "cloudtrail".into(),
                    library_path: "libcloudtrail.so".into(),
                    init_config: r#"{"s3DownloadConcurrency": 4}"#.into(),
                    open_params: String::new(),
                },
            ]
        );
        let root = json!({"load_plugins": ["ticker"], "plugins": [{"name": "ticker"}]});
        let err = read(&root).expect_err("no library");
        assert!(err.to_string().contains("plugins[0].library_path"), "{err}");
    }
}
