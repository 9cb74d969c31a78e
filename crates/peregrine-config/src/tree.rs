//! The untyped falco.yaml tree and Falco's `-o` path syntax (`a.b=v`, `list[]=v`,
//! `list[0].x=v`), with `${VAR}` expansion applied when the tree is read for interpretation.

use crate::ConfigError;
use serde_json::{Map, Value};
use std::path::Path;

/// The largest configuration file read (Falco's stock falco.yaml is about 60 KB).
pub const MAX_CONFIG_FILE: u64 = 16 << 20;

/// A falco.yaml document as an untyped tree, ready to take overrides.
#[derive(Clone, Debug, PartialEq)]
pub struct ConfigTree {
    root: Value,
    /// No configuration file was read: the tree is Peregrine's built-in defaults (plus any
    /// `-o`). Some Peregrine extensions (dedup) are on there and off under a Falco file.
    builtin: bool,
}

impl Default for ConfigTree {
    /// The built-in defaults: an empty tree that no file produced.
    fn default() -> Self {
        ConfigTree {
            root: Value::Object(Map::new()),
            builtin: true,
        }
    }
}

impl ConfigTree {
    /// True when no configuration file was read (see the field).
    pub fn is_builtin(&self) -> bool {
        self.builtin
    }

    /// Reads a falco.yaml-compatible file: a regular file of at most [`MAX_CONFIG_FILE`]
    /// bytes whose top level has at least one configuration key.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let read_error = |source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        };
        let bytes =
            peregrine_rules::input::read_regular(path, MAX_CONFIG_FILE).map_err(read_error)?;
        let text = String::from_utf8(bytes).map_err(|_| {
            read_error(peregrine_rules::input::InputError::Io(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "not UTF-8 text",
            )))
        })?;
        let origin = path.display().to_string();
        let tree = Self::from_yaml_str(&text, &origin)?;
        if let Value::Object(map) = &tree.root {
            if !map.is_empty() && !map.keys().any(|k| crate::is_known_key(k)) {
                return Err(ConfigError::NotAConfig {
                    origin,
                    keys: map.len(),
                });
            }
        }
        Ok(tree)
    }

    /// Parses YAML text; `origin` names it in errors. An empty document is an empty config.
    pub fn from_yaml_str(text: &str, origin: &str) -> Result<Self, ConfigError> {
        let value = parse_yaml(text).map_err(|message| ConfigError::Yaml {
            origin: origin.to_string(),
            message,
        })?;
        match value {
            Value::Null => Ok(ConfigTree {
                builtin: false,
                ..Self::default()
            }),
            Value::Object(_) => Ok(ConfigTree {
                root: value,
                builtin: false,
            }),
            _ => Err(ConfigError::NotAMapping {
                origin: origin.to_string(),
            }),
        }
    }

    #[cfg(test)]
    pub fn root(&self) -> &Value {
        &self.root
    }

    pub(crate) fn root_value(&self) -> &Value {
        &self.root
    }

    pub(crate) fn into_root(self) -> Value {
        self.root
    }

    /// The top-level mapping (every constructor makes the root one).
    pub(crate) fn root_mut(&mut self) -> Option<&mut Map<String, Value>> {
        self.root.as_object_mut()
    }

    /// The tree with `${VAR}` references replaced by the environment's values.
    pub fn expanded_root(&self) -> Value {
        let mut root = self.root.clone();
        expand_env(&mut root, &|name| std::env::var(name).ok());
        root
    }

    /// Applies one `-o KEY=VALUE` argument. Like Falco, the value is a plain string unless it is
    /// wrapped in `{…}`, in which case it is parsed as a YAML/JSON object; typed keys convert
    /// strings such as `true` or `5` when the tree is interpreted.
    pub fn apply_option(&mut self, option: &str) -> Result<(), ConfigError> {
        let (key, raw) = option
            .split_once('=')
            .filter(|(k, _)| !k.trim().is_empty())
            .ok_or_else(|| ConfigError::OptionSyntax {
                option: option.to_string(),
            })?;
        let value = if raw.starts_with('{') && raw.ends_with('}') {
            parse_yaml(raw).map_err(|message| ConfigError::Yaml {
                origin: format!("-o {key}"),
                message,
            })?
        } else {
            Value::String(raw.to_string())
        };
        self.set(key.trim(), value)
    }

    /// Sets the value at a Falco key path, creating what is missing on the way.
    pub fn set(&mut self, path: &str, value: Value) -> Result<(), ConfigError> {
        let steps = parse_path(path)?;
        let err = |reason: &str| ConfigError::Path {
            path: path.to_string(),
            reason: reason.to_string(),
        };
        let mut node = &mut self.root;
        for (i, step) in steps.iter().enumerate() {
            let last = i + 1 == steps.len();
            // What a step creates when the path goes on below it.
            let fresh = || match steps.get(i + 1) {
                Some(Step::Key(_)) => Value::Object(Map::new()),
                Some(_) => Value::Array(Vec::new()),
                None => Value::Null,
            };
            node = match step {
                Step::Key(k) => {
                    if node.is_null() {
                        *node = Value::Object(Map::new());
                    }
                    let Value::Object(map) = node else {
                        return Err(err(&format!(
                            "'{k}' is below a value that is not a mapping"
                        )));
                    };
                    let child = map.entry(k.clone()).or_insert_with(fresh);
                    if last {
                        *child = value;
                        return Ok(());
                    }
                    child
                }
                Step::Append | Step::Index(_) => {
                    if node.is_null() {
                        *node = Value::Array(Vec::new());
                    }
                    let Value::Array(items) = node else {
                        return Err(err("indexing a value that is not a list"));
                    };
                    let at = match *step {
                        Step::Index(n) if n < items.len() => n,
                        Step::Index(n) if n > items.len() => {
                            return Err(err(&format!(
                                "index {n} is past the end of a list of {}",
                                items.len()
                            )))
                        }
                        _ => {
                            items.push(fresh());
                            items.len() - 1
                        }
                    };
                    if last {
                        items[at] = value;
                        return Ok(());
                    }
                    &mut items[at]
                }
            };
        }
        // parse_path never yields an empty path, so the loop always returns.
        Err(err("empty key"))
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Step {
    Key(String),
    Index(usize),
    Append,
}

/// Splits `a.b[0].c[]` into steps.
fn parse_path(path: &str) -> Result<Vec<Step>, ConfigError> {
    let err = |reason: String| ConfigError::Path {
        path: path.to_string(),
        reason,
    };
    let mut steps = Vec::new();
    for segment in path.split('.') {
        let (name, mut rest) = match segment.find('[') {
            Some(i) => segment.split_at(i),
            None => (segment, ""),
        };
        if name.is_empty() {
            return Err(err("empty key name".to_string()));
        }
        steps.push(Step::Key(name.to_string()));
        while !rest.is_empty() {
            let close = rest
                .find(']')
                .filter(|_| rest.starts_with('['))
                .ok_or_else(|| err(format!("malformed index in '{segment}'")))?;
            let inside = &rest[1..close];
            steps.push(if inside.is_empty() {
                Step::Append
            } else {
                Step::Index(
                    inside
                        .parse()
                        .map_err(|_| err(format!("index '{inside}' is not a number")))?,
                )
            });
            rest = &rest[close + 1..];
        }
    }
    Ok(steps)
}

/// Parses one YAML document into a JSON tree (mapping keys become strings).
pub fn parse_yaml(text: &str) -> Result<Value, String> {
    // yaml-rust2's loader expands aliases by copying: a few KB of nested aliases become
    // gigabytes. The rules crate's bounded reader (depth and node count after expansion)
    // checks the text first; it reports the same syntax errors, so it only adds the limits.
    peregrine_rules::yaml::parse_documents(text).map_err(|e| {
        format!(
            "{} at line {} column {}",
            e.message,
            e.mark.line + 1,
            e.mark.column + 1
        )
    })?;
    let docs = yaml_rust2::YamlLoader::load_from_str(text).map_err(|e| e.to_string())?;
    match docs.first() {
        Some(doc) => yaml_to_json(doc),
        None => Ok(Value::Null),
    }
}

fn yaml_to_json(node: &yaml_rust2::Yaml) -> Result<Value, String> {
    use yaml_rust2::Yaml;
    Ok(match node {
        Yaml::Null => Value::Null,
        Yaml::Boolean(b) => Value::Bool(*b),
        Yaml::Integer(i) => Value::from(*i),
        Yaml::Real(r) => r
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map_or_else(|| Value::String(r.clone()), Value::Number),
        Yaml::String(s) => Value::String(s.clone()),
        Yaml::Array(items) => {
            Value::Array(items.iter().map(yaml_to_json).collect::<Result<_, _>>()?)
        }
        Yaml::Hash(map) => {
            let mut out = Map::new();
            for (k, v) in map {
                let key = match yaml_to_json(k)? {
                    Value::String(s) => s,
                    Value::Null => "null".to_string(),
                    other => other.to_string(),
                };
                out.insert(key, yaml_to_json(v)?);
            }
            Value::Object(out)
        }
        Yaml::Alias(_) => return Err("YAML aliases are not supported in configuration".into()),
        Yaml::BadValue => return Err("invalid YAML value".into()),
    })
}

/// Expands `${VAR}` in every string of the tree as Falco's configuration loader does (an
/// unset variable expands to nothing; `$${` stands for a literal `${`).
pub(crate) fn expand_env(value: &mut Value, env: &dyn Fn(&str) -> Option<String>) {
    match value {
        Value::String(s) if s.contains("${") => *s = expand_str(s, env),
        Value::Array(items) => items.iter_mut().for_each(|v| expand_env(v, env)),
        Value::Object(map) => map.values_mut().for_each(|v| expand_env(v, env)),
        _ => {}
    }
}

fn expand_str(s: &str, env: &dyn Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find("${") {
        if rest[..at].ends_with('$') {
            // `$${`: keep a literal `${`.
            out.push_str(&rest[..at - 1]);
            out.push_str("${");
            rest = &rest[at + 2..];
            continue;
        }
        let Some(close) = rest[at + 2..].find('}') else {
            break;
        };
        out.push_str(&rest[..at]);
        out.push_str(&env(&rest[at + 2..at + 2 + close]).unwrap_or_default());
        rest = &rest[at + 2 + close + 1..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {

    fn temp_file(name: &str, text: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("pg-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join(name);
        std::fs::write(&path, text).expect("write");
        path
    }

    #[test]
    fn an_alias_bomb_is_refused_at_once() {
        // 2 KB that a copying loader expands to 10^20 nodes.
        let mut text = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        let mut prev = "a".to_string();
        for i in 0..20 {
            let name = format!("b{i}");
            let refs = vec![format!("*{prev}"); 10].join(", ");
            text.push_str(&format!("{name}: &{name} [{refs}]\n"));
            prev = name;
        }
        let started = std::time::Instant::now();
        let err = ConfigTree::from_yaml_str(&text, "bomb.yaml").expect_err("refused");
        assert!(err.to_string().contains("document too large"), "{err}");
        // No test asserts speed; this only keeps a regression from running for minutes.
        assert!(started.elapsed() < std::time::Duration::from_secs(30));
    }

    #[test]
    fn only_regular_configuration_files_are_read() {
        for (path, reason) in [
            ("/dev/zero", "not a regular file (it is a character device)"),
            ("/", "not a regular file (it is a directory)"),
        ] {
            let err = ConfigTree::from_file(Path::new(path)).expect_err("refused");
            assert_eq!(
                err.to_string(),
                format!("cannot read configuration file {path}: {reason}")
            );
        }
    }

    #[test]
    fn a_file_with_no_configuration_key_is_not_echoed() {
        let path = temp_file(
            "shadow",
            "root:$y$j9T$secrethash:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\n",
        );
        let err = ConfigTree::from_file(&path).expect_err("refused");
        let text = err.to_string();
        assert!(
            text.ends_with(
                "not a configuration file (none of its 2 top-level keys is a falco.yaml key)"
            ),
            "{text}"
        );
        assert!(!text.contains("secret"), "{text}");
        // A real configuration with one unknown key still loads (and warns about that key).
        let path = temp_file("falco.yaml", "json_output: true\nfrobnicate: 1\n");
        assert!(ConfigTree::from_file(&path).is_ok());
    }
    use super::*;
    use serde_json::json;

    /// Applies `options` to `yaml` and compares the resulting tree.
    fn check(yaml: &str, options: &[&str], expected: Value) {
        let mut tree = ConfigTree::from_yaml_str(yaml, "test").expect("valid yaml");
        for o in options {
            tree.apply_option(o).expect("valid option");
        }
        assert_eq!(tree.root(), &expected, "yaml {yaml:?} options {options:?}");
    }

    #[test]
    fn overrides_follow_falco_path_syntax() {
        check("", &["a.b.c=v"], json!({"a": {"b": {"c": "v"}}}));
        check(
            "json_output: false",
            &["json_output=true"],
            json!({"json_output": "true"}),
        );
        check("l: [x]", &["l[]=y", "l[]=z"], json!({"l": ["x", "y", "z"]}));
        check("l: [{x: 1}]", &["l[0].x=2"], json!({"l": [{"x": "2"}]}));
        check("", &["l[0].x=2"], json!({"l": [{"x": "2"}]}));
        check(
            "",
            &["rules[].disable.rule=*", "rules[].enable.tag=network"],
            json!({"rules": [{"disable": {"rule": "*"}}, {"enable": {"tag": "network"}}]}),
        );
        check("", &["k=a=b"], json!({"k": "a=b"}));
        check(
            "",
            &["o={a: 1, b: [x]}"],
            json!({"o": {"a": 1, "b": ["x"]}}),
        );
    }

    #[test]
    fn bad_overrides_are_errors() {
        for bad in ["novalue", "=v", "a..b=v", "l[x]=v", "l[0=v", "s.x=1"] {
            let mut tree = ConfigTree::from_yaml_str("s: scalar", "t").expect("yaml");
            assert!(tree.apply_option(bad).is_err(), "{bad} should fail");
        }
        let mut tree = ConfigTree::from_yaml_str("l: []", "t").expect("yaml");
        assert!(tree.apply_option("l[3]=v").is_err());
    }

    #[test]
    fn env_references_expand_like_falco() {
        let env = |name: &str| match name {
            "HOME" => Some("/root".to_string()),
            "EMPTY" => Some(String::new()),
            _ => None,
        };
        for (text, expected) in [
            ("${HOME}", "/root"),
            ("a-${HOME}-b", "a-/root-b"),
            ("${UNSET}x", "x"),
            ("${EMPTY}", ""),
            ("$${HOME}", "${HOME}"),
            ("${HOME}${HOME}", "/root/root"),
            ("${HOME", "${HOME"),
            ("no refs $HOME", "no refs $HOME"),
        ] {
            let mut v = json!({"k": [text]});
            expand_env(&mut v, &env);
            assert_eq!(v, json!({"k": [expected]}), "{text}");
        }
    }
}
