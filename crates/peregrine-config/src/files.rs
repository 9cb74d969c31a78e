//! Which configuration files are read: the main file (`-c`, else `/etc/falco/falco.yaml` when
//! it exists, as Falco does) and its `config_files` drop-ins, merged as Falco 0.44 merges them
//! (`yaml_helper::include_config_file`, `falco_configuration::merge_config_files`):
//!
//! - each `config_files` entry is a path or `{path: P, strategy: S}`; a missing path is
//!   skipped; a directory stands for its regular files (every one, not only `*.yaml`, as in
//!   Falco) in lexical order of their paths;
//! - strategies apply to *top-level* keys only: `append` (the default, and what an unknown
//!   strategy means) appends a sequence to the existing one and otherwise replaces the key;
//!   `override` replaces the key; `add-only` sets it only when the main tree lacks it;
//! - a drop-in may not itself hold `config_files`, nor may an entry name the main file.
//!
//! `-o config_files…` options apply before the drop-ins are read (so they can add drop-ins);
//! every other `-o` applies after them, as in Falco.

use crate::{ConfigError, ConfigTree};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// The file read when `-c` is not given and it exists.
pub const DEFAULT_CONFIG_FILE: &str = "/etc/falco/falco.yaml";

/// Environment variable that replaces [`DEFAULT_CONFIG_FILE`] (for tests and packaging): a
/// path, or the empty string for "no default file" (the built-in defaults).
pub const DEFAULT_CONFIG_ENV: &str = "PEREGRINE_DEFAULT_CONFIG";

/// The key that lists drop-ins.
pub const CONFIG_FILES_KEY: &str = "config_files";

/// The configuration file to read when `-c` is not given: `$PEREGRINE_DEFAULT_CONFIG` (empty:
/// none) or [`DEFAULT_CONFIG_FILE`], if it exists.
pub fn default_config_file() -> Option<PathBuf> {
    let path = match std::env::var_os(DEFAULT_CONFIG_ENV) {
        Some(p) if p.is_empty() => return None,
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(DEFAULT_CONFIG_FILE),
    };
    path.exists().then_some(path)
}

/// How a drop-in's top-level keys join the tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    Append,
    Override,
    AddOnly,
}

impl Strategy {
    /// Falco's `strategy_from_string`: anything but `override` and `add-only` is `append`.
    pub fn parse(s: &str) -> Strategy {
        match s {
            "override" => Strategy::Override,
            "add-only" => Strategy::AddOnly,
            _ => Strategy::Append,
        }
    }
}

/// One `config_files` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Include {
    pub path: PathBuf,
    pub strategy: Strategy,
}

/// A configuration with its drop-ins merged, and the files that made it, in reading order.
#[derive(Clone, Debug, PartialEq)]
pub struct LoadedConfig {
    pub tree: ConfigTree,
    pub files: Vec<PathBuf>,
}

/// Reads the main file `main` (or nothing: the built-in defaults), applies the
/// `config_files` options among `options`, merges the drop-ins, then applies every option.
pub fn load(main: Option<&Path>, options: &[String]) -> Result<LoadedConfig, ConfigError> {
    let Some(main) = main else {
        let mut tree = ConfigTree::default();
        for o in options {
            tree.apply_option(o)?;
        }
        return Ok(LoadedConfig {
            tree,
            files: Vec::new(),
        });
    };
    let mut tree = ConfigTree::from_file(main)?;
    for o in options.iter().filter(|o| o.starts_with(CONFIG_FILES_KEY)) {
        tree.apply_option(o)?;
    }
    let mut files = vec![main.to_path_buf()];
    files.extend(tree.merge_config_files(main)?);
    for o in options {
        tree.apply_option(o)?;
    }
    Ok(LoadedConfig { tree, files })
}

fn include_error(path: &Path, reason: impl Into<String>) -> ConfigError {
    ConfigError::Include {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// The `config_files` entries of a (not yet expanded) root.
fn includes(root: &Value) -> Result<Vec<Include>, ConfigError> {
    let bad = |reason: &str| ConfigError::Value {
        key: CONFIG_FILES_KEY.into(),
        reason: reason.into(),
    };
    let items = match root.get(CONFIG_FILES_KEY) {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items.clone(),
        Some(other) => vec![other.clone()],
    };
    let mut expanded = Value::Array(items);
    crate::tree::expand_env(&mut expanded, &|name| std::env::var(name).ok());
    let Value::Array(items) = expanded else {
        return Ok(Vec::new());
    };
    items
        .iter()
        .map(|item| match item {
            Value::String(p) => Ok(Include {
                path: PathBuf::from(p),
                strategy: Strategy::Append,
            }),
            Value::Object(m) => {
                let path = match m.get("path") {
                    Some(Value::String(p)) => PathBuf::from(p),
                    _ => return Err(bad("each entry needs a 'path'")),
                };
                let strategy = match m.get("strategy") {
                    None | Some(Value::Null) => Strategy::Append,
                    Some(Value::String(s)) => Strategy::parse(s),
                    Some(_) => return Err(bad("'strategy' must be a string")),
                };
                Ok(Include { path, strategy })
            }
            _ => Err(bad("each entry must be a path or {path, strategy}")),
        })
        .collect()
}

impl ConfigTree {
    /// Merges the drop-ins listed under `config_files` into this tree (read from `main`);
    /// returns the files read, in order.
    pub fn merge_config_files(&mut self, main: &Path) -> Result<Vec<PathBuf>, ConfigError> {
        let mut read = Vec::new();
        for include in includes(self.root_value())? {
            if include.path == main {
                return Err(include_error(
                    &include.path,
                    "the config_files directive tried to recursively include the main configuration file",
                ));
            }
            let Ok(meta) = std::fs::metadata(&include.path) else {
                // Falco skips a missing entry, as it does for rules files.
                continue;
            };
            let files = if meta.is_dir() {
                let dir_err = |e: std::io::Error| include_error(&include.path, e.to_string());
                let mut files = Vec::new();
                for entry in std::fs::read_dir(&include.path).map_err(dir_err)? {
                    let p = entry.map_err(dir_err)?.path();
                    if p.is_file() {
                        files.push(p);
                    }
                }
                files.sort();
                files
            } else if meta.is_file() {
                vec![include.path.clone()]
            } else {
                continue;
            };
            for file in files {
                let tree = ConfigTree::from_file(&file)?;
                self.include_tree(tree, include.strategy, &file)?;
                read.push(file);
            }
        }
        Ok(read)
    }

    /// Merges one drop-in's top-level keys with `strategy`.
    pub fn include_tree(
        &mut self,
        other: ConfigTree,
        strategy: Strategy,
        origin: &Path,
    ) -> Result<(), ConfigError> {
        let Value::Object(added) = other.into_root() else {
            return Ok(());
        };
        let Some(root) = self.root_mut() else {
            return Ok(());
        };
        for (key, value) in added {
            if key == CONFIG_FILES_KEY {
                return Err(include_error(
                    origin,
                    "a config_files directive in an included configuration file",
                ));
            }
            let current = root.get_mut(&key);
            match (strategy, current, value) {
                (Strategy::AddOnly, Some(_), _) => {}
                (Strategy::Append, Some(Value::Array(items)), Value::Array(more)) => {
                    items.extend(more)
                }
                (Strategy::Append, Some(existing @ Value::Null), Value::Array(more)) => {
                    *existing = Value::Array(more)
                }
                (Strategy::Append, Some(_), Value::Array(_)) => {
                    return Err(include_error(
                        origin,
                        format!(
                            "cannot append a list to '{}', which is not a list",
                            crate::printable_key(&key)
                        ),
                    ))
                }
                (_, _, value) => {
                    root.insert(key, value);
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    struct TempDir(PathBuf);
    impl TempDir {
        fn new(name: &str) -> TempDir {
            let dir =
                std::env::temp_dir().join(format!("pg-cfg-files-{}-{name}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).expect("mkdir");
            TempDir(dir)
        }
        fn write(&self, name: &str, text: &str) -> PathBuf {
            let p = self.0.join(name);
            if let Some(parent) = p.parent() {
                std::fs::create_dir_all(parent).expect("mkdir");
            }
            std::fs::write(&p, text).expect("write");
            p
        }
    }
    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn root(loaded: &LoadedConfig) -> Value {
        loaded.tree.expanded_root()
    }

    #[test]
    fn drop_ins_merge_per_strategy_like_falco() {
        let d = TempDir::new("strategies");
        let main = d.write(
            "falco.yaml",
            &format!(
                "config_files:\n  - {dir}/config.d\n  - {{path: {dir}/over.yaml, strategy: override}}\n  - {{path: {dir}/add.yaml, strategy: add-only}}\n  - {dir}/missing.yaml\n\
                 rules_files: [/a.yaml]\nstdout_output: {{enabled: true, min_priority: debug}}\npriority: debug\n",
                dir = d.0.display()
            ),
        );
        // Read in lexical order; every regular file of the directory, as in Falco.
        d.write(
            "config.d/20-b.yaml",
            "rules_files: [/c.yaml]\npriority: error\n",
        );
        d.write(
            "config.d/10-a.yaml",
            "rules_files: [/b.yaml]\npriority: warning\n",
        );
        d.write("config.d/30-c.conf", "json_output: true\n");
        // append replaces a mapping as a whole (no recursive merge in Falco 0.44).
        d.write("config.d/40-d.yaml", "stdout_output: {enabled: false}\n");
        d.write(
            "over.yaml",
            "rules_files: [/o.yaml]\nwatch_config_files: false\n",
        );
        d.write("add.yaml", "priority: critical\nrule_matching: all\n");
        let loaded = load(Some(&main), &[]).expect("loads");
        let r = root(&loaded);
        assert_eq!(r["rules_files"], json!(["/o.yaml"]));
        assert_eq!(r["priority"], json!("error"));
        assert_eq!(r["json_output"], json!(true));
        assert_eq!(r["stdout_output"], json!({"enabled": false}));
        assert_eq!(r["watch_config_files"], json!(false));
        assert_eq!(r["rule_matching"], json!("all"));
        let names: Vec<_> = loaded
            .files
            .iter()
            .map(|f| f.strip_prefix(&d.0).expect("in dir").display().to_string())
            .collect();
        assert_eq!(
            names,
            [
                "falco.yaml",
                "config.d/10-a.yaml",
                "config.d/20-b.yaml",
                "config.d/30-c.conf",
                "config.d/40-d.yaml",
                "over.yaml",
                "add.yaml"
            ]
        );
        // Without override the appended list keeps every file's entries, in order.
        let main2 = d.write(
            "f2.yaml",
            &format!(
                "config_files: [{dir}/config.d]\nrules_files: [/a.yaml]\n",
                dir = d.0.display()
            ),
        );
        let r = root(&load(Some(&main2), &[]).expect("loads"));
        assert_eq!(r["rules_files"], json!(["/a.yaml", "/b.yaml", "/c.yaml"]));
    }

    #[test]
    fn options_apply_after_drop_ins_and_can_add_them() {
        let d = TempDir::new("options");
        let main = d.write("falco.yaml", "priority: debug\n");
        let extra = d.write("extra.yaml", "priority: warning\njson_output: true\n");
        let options = vec![
            "priority=error".to_string(),
            format!("config_files[]={}", extra.display()),
        ];
        let loaded = load(Some(&main), &options).expect("loads");
        let r = root(&loaded);
        assert_eq!(r["priority"], json!("error"));
        assert_eq!(r["json_output"], json!(true));
        assert_eq!(loaded.files, vec![main, extra]);
    }

    #[test]
    fn recursive_includes_are_errors() {
        let d = TempDir::new("recursive");
        let main = d.write("falco.yaml", "");
        std::fs::write(&main, format!("config_files: [{}]\n", main.display())).expect("write");
        let err = load(Some(&main), &[]).expect_err("self include");
        assert!(err.to_string().contains("recursively include"), "{err}");
        let inner = d.write("inner.yaml", "config_files: [/x]\n");
        let main = d.write(
            "main2.yaml",
            &format!("config_files: [{}]\n", inner.display()),
        );
        let err = load(Some(&main), &[]).expect_err("nested directive");
        assert!(err.to_string().contains("config_files directive"), "{err}");
    }

    #[test]
    fn default_file_follows_the_environment_override() {
        // Only the pure parts: the strategy names and an absent main file.
        assert_eq!(Strategy::parse("override"), Strategy::Override);
        assert_eq!(Strategy::parse("add-only"), Strategy::AddOnly);
        assert_eq!(Strategy::parse("other"), Strategy::Append);
        let loaded = load(None, &["json_output=true".into()]).expect("defaults");
        assert!(loaded.files.is_empty());
        assert_eq!(root(&loaded)["json_output"], json!("true"));
    }
}
