//! `load_plugins`, `plugins` and `HOST_ROOT`: Falco's plugin keys as far as Peregrine has a use
//! for them. Peregrine has no plugin loader; its container support is built in and plays the
//! container plugin's part, so the `container` entry's `init_config` (engines and their
//! sockets, `label_max_len`) configures it whether or not `load_plugins` lists it (Falco 0.44's
//! stock file lists none and still enriches containers). Every other plugin a configuration
//! asks to load is named in one warning, never dropped silently.
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
}

/// Engines the container plugin knows that Peregrine cannot ask.
const UNQUERIED_ENGINES: [&str; 3] = ["lxc", "libvirt_lxc", "bpm"];

/// Reads `load_plugins` and `plugins` of an expanded tree.
pub(crate) fn read(root: &Value) -> Result<PluginKeys, ConfigError> {
    let mut out = PluginKeys::default();
    let mut not_loaded = Vec::new();
    match root.get("load_plugins") {
        None | Some(Value::Null) => {}
        Some(Value::Array(names)) => {
            for (i, n) in names.iter().enumerate() {
                let name = string(&format!("load_plugins[{i}]"), n)?;
                if name != "container" {
                    not_loaded.push(printable_key(&name));
                }
            }
        }
        Some(_) => return Err(value_err("load_plugins", "expected a list of plugin names")),
    }
    if !not_loaded.is_empty() {
        out.warnings.push(format!(
            "plugins not supported by Peregrine (not loaded; container support is built in): {}",
            not_loaded.join(", ")
        ));
    }
    let entries = match root.get("plugins") {
        None | Some(Value::Null) => return Ok(out),
        Some(Value::Array(entries)) => entries,
        Some(_) => return Err(value_err("plugins", "expected a list of plugin entries")),
    };
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
                "plugins not supported by Peregrine (not loaded; container support is built in): k8saudit, json",
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
}
