//! Renders the Helm chart in deploy/helm/peregrine without helm (no helm binary is packaged
//! for Debian 12): a Go text/template subset with Helm's functions, enough for the chart and
//! strict about the rest, so a template that uses anything else fails the test instead of
//! rendering wrongly.
//!
//! Supported: text with `{{ … }}` actions and the `{{-`/`-}}` whitespace trims; comments;
//! `if`/`with` … `else` … `end`; pipelines of `.`/`$` field paths, integer and string literals
//! and the functions `toYaml`, `nindent`, `indent`, `default` and `quote`, with Go's
//! truthiness and Helm's `toYaml` (no trailing newline). Printing a missing value or a
//! map/list is an error (Helm prints `<no value>` or Go's `map[…]`: a template bug either way).

// Each test binary uses its own subset of these helpers.
#![allow(dead_code)]

use std::path::Path;
use yaml_rust2::{Yaml, YamlEmitter, YamlLoader};

#[derive(Debug)]
enum Node {
    Text(String),
    Out(String),
    If(String, Vec<Node>, Vec<Node>),
    With(String, Vec<Node>, Vec<Node>),
}

/// One action or text run of a template, trims applied.
enum Token {
    Text(String),
    Action(String),
}

fn lex(src: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut rest = src;
    let mut trim_next = false;
    while !rest.is_empty() {
        let (text, after) = match rest.find("{{") {
            Some(i) => (&rest[..i], Some(&rest[i + 2..])),
            None => (rest, None),
        };
        let mut text = if trim_next { text.trim_start() } else { text }.to_string();
        let Some(after) = after else {
            tokens.push(Token::Text(text));
            break;
        };
        let (body, trim_left) = match after.strip_prefix("- ") {
            Some(b) => (b, true),
            None => (after, false),
        };
        if trim_left {
            text = text.trim_end().to_string();
        }
        tokens.push(Token::Text(text));
        let end = body.find("}}").ok_or("an action without }}")?;
        let mut action = &body[..end];
        trim_next = false;
        if let Some(a) = action.strip_suffix(" -") {
            action = a;
            trim_next = true;
        }
        tokens.push(Token::Action(action.trim().to_string()));
        rest = &body[end + 2..];
    }
    Ok(tokens)
}

/// Parses until `else`/`end` (returned as the terminator) or the end of input.
fn parse(tokens: &mut std::vec::IntoIter<Token>) -> Result<(Vec<Node>, Option<String>), String> {
    let mut nodes = Vec::new();
    while let Some(t) = tokens.next() {
        match t {
            Token::Text(s) if s.is_empty() => {}
            Token::Text(s) => nodes.push(Node::Text(s)),
            Token::Action(a) if a.starts_with("/*") => {}
            Token::Action(a) if a == "end" || a == "else" => return Ok((nodes, Some(a))),
            Token::Action(a) => {
                let block = ["if ", "with "]
                    .into_iter()
                    .find_map(|k| a.strip_prefix(k).map(|p| (k, p.to_string())));
                match block {
                    Some((kw, pipe)) => {
                        let (then, term) = parse(tokens)?;
                        let otherwise = match term.as_deref() {
                            Some("else") => match parse(tokens)? {
                                (e, Some(t)) if t == "end" => e,
                                _ => return Err(format!("{kw}{pipe}: else without end")),
                            },
                            Some("end") => Vec::new(),
                            _ => return Err(format!("{kw}{pipe}: no end")),
                        };
                        nodes.push(if kw == "if " {
                            Node::If(pipe, then, otherwise)
                        } else {
                            Node::With(pipe, then, otherwise)
                        });
                    }
                    None if a.split_whitespace().next().is_some_and(|w| {
                        ["range", "define", "template", "block", "include"].contains(&w)
                    }) =>
                    {
                        return Err(format!("unsupported action {{{{ {a} }}}}"));
                    }
                    None => nodes.push(Node::Out(a)),
                }
            }
        }
    }
    Ok((nodes, None))
}

/// Splits on `sep` outside double quotes.
fn split_outside_quotes(s: &str, sep: impl Fn(char) -> bool) -> Vec<String> {
    let mut parts = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in s.chars() {
        if c == '"' {
            quoted = !quoted;
        }
        if !quoted && sep(c) {
            parts.push(std::mem::take(&mut cur));
        } else {
            cur.push(c);
        }
    }
    parts.push(cur);
    parts
}

fn truthy(v: &Yaml) -> bool {
    match v {
        Yaml::Boolean(b) => *b,
        Yaml::Integer(i) => *i != 0,
        Yaml::Real(r) => r.parse::<f64>().is_ok_and(|f| f != 0.0),
        Yaml::String(s) => !s.is_empty(),
        Yaml::Array(a) => !a.is_empty(),
        Yaml::Hash(h) => !h.is_empty(),
        Yaml::Null | Yaml::BadValue | Yaml::Alias(_) => false,
    }
}

/// Helm's `toYaml`: the YAML of a value without the document marker or a final newline.
pub fn to_yaml(v: &Yaml) -> String {
    let mut out = String::new();
    let mut emitter = YamlEmitter::new(&mut out);
    emitter.multiline_strings(true);
    emitter.dump(v).expect("emit YAML");
    let body = out
        .strip_prefix("---\n")
        .or_else(|| out.strip_prefix("--- "))
        .unwrap_or(&out);
    body.trim_end_matches('\n').to_string()
}

fn indent(n: usize, s: &str) -> String {
    let pad = " ".repeat(n);
    format!("{pad}{}", s.replace('\n', &format!("\n{pad}")))
}

struct Scope<'a> {
    root: &'a Yaml,
    dot: &'a Yaml,
}

impl Scope<'_> {
    fn operand(&self, tok: &str) -> Result<Yaml, String> {
        let path = |base: &Yaml, p: &str| {
            p.split('.')
                .filter(|k| !k.is_empty())
                .fold(base.clone(), |v, k| v[k].clone())
        };
        if tok == "." {
            Ok(self.dot.clone())
        } else if let Some(p) = tok.strip_prefix('$') {
            Ok(path(self.root, p))
        } else if tok.starts_with('.') {
            Ok(path(self.dot, tok))
        } else if let Some(s) = tok.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
            Ok(Yaml::String(s.to_string()))
        } else if let Ok(i) = tok.parse::<i64>() {
            Ok(Yaml::Integer(i))
        } else {
            Err(format!("unsupported operand {tok}"))
        }
    }

    /// One pipeline: its first command's value, then each function with the value last.
    fn pipeline(&self, src: &str) -> Result<Yaml, String> {
        let mut value: Option<Yaml> = None;
        for cmd in split_outside_quotes(src, |c| c == '|') {
            let words: Vec<String> = split_outside_quotes(cmd.trim(), char::is_whitespace)
                .into_iter()
                .filter(|w| !w.is_empty())
                .collect();
            let (head, args) = words
                .split_first()
                .ok_or(format!("empty command in {src}"))?;
            let mut args = args
                .iter()
                .map(|a| self.operand(a))
                .collect::<Result<Vec<_>, _>>()?;
            if let Some(v) = value.take() {
                args.push(v);
            }
            value = Some(if args.is_empty() && !is_function(head) {
                self.operand(head)?
            } else {
                call(head, &args)?
            });
        }
        value.ok_or(format!("empty pipeline {src}"))
    }
}

fn is_function(name: &str) -> bool {
    ["toYaml", "nindent", "indent", "default", "quote"].contains(&name)
}

fn int_arg(v: &Yaml) -> Result<usize, String> {
    v.as_i64()
        .and_then(|i| usize::try_from(i).ok())
        .ok_or(format!("not a width: {v:?}"))
}

fn call(name: &str, args: &[Yaml]) -> Result<Yaml, String> {
    let s = |v: &Yaml| print(v);
    match (name, args) {
        ("toYaml", [v]) => Ok(Yaml::String(to_yaml(v))),
        ("nindent", [n, v]) => Ok(Yaml::String(format!("\n{}", indent(int_arg(n)?, &s(v)?)))),
        ("indent", [n, v]) => Ok(Yaml::String(indent(int_arg(n)?, &s(v)?))),
        ("default", [d, v]) => Ok(if truthy(v) { v.clone() } else { d.clone() }),
        ("quote", [v]) => Ok(Yaml::String(format!("{:?}", s(v)?))),
        _ => Err(format!(
            "unsupported call {name} with {} arguments",
            args.len()
        )),
    }
}

fn print(v: &Yaml) -> Result<String, String> {
    match v {
        Yaml::String(s) | Yaml::Real(s) => Ok(s.clone()),
        Yaml::Integer(i) => Ok(i.to_string()),
        Yaml::Boolean(b) => Ok(b.to_string()),
        other => Err(format!("printing {other:?}")),
    }
}

fn exec(nodes: &[Node], scope: &Scope<'_>, out: &mut String) -> Result<(), String> {
    for n in nodes {
        match n {
            Node::Text(t) => out.push_str(t),
            Node::Out(p) => out
                .push_str(&print(&scope.pipeline(p)?).map_err(|e| format!("{{{{ {p} }}}}: {e}"))?),
            Node::If(p, then, otherwise) => {
                let branch = if truthy(&scope.pipeline(p)?) {
                    then
                } else {
                    otherwise
                };
                exec(branch, scope, out)?;
            }
            Node::With(p, then, otherwise) => {
                let v = scope.pipeline(p)?;
                if truthy(&v) {
                    let inner = Scope {
                        root: scope.root,
                        dot: &v,
                    };
                    exec(then, &inner, out)?;
                } else {
                    exec(otherwise, scope, out)?;
                }
            }
        }
    }
    Ok(())
}

/// Renders one template with `root` as both `.` and `$`.
pub fn render_template(src: &str, root: &Yaml) -> Result<String, String> {
    let mut tokens = lex(src)?.into_iter();
    let (nodes, term) = parse(&mut tokens)?;
    if let Some(t) = term {
        return Err(format!("{t} without a block"));
    }
    let mut out = String::new();
    exec(&nodes, &Scope { root, dot: root }, &mut out)?;
    Ok(out)
}

/// Helm's merge of `-f` values over the chart's: maps merge key by key, the rest replaces.
pub fn merge(base: &Yaml, over: &Yaml) -> Yaml {
    match (base, over) {
        (Yaml::Hash(b), Yaml::Hash(o)) => {
            let mut m = b.clone();
            for (k, v) in o {
                let merged = match m.get(k) {
                    Some(old) => merge(old, v),
                    None => v.clone(),
                };
                m.insert(k.clone(), merged);
            }
            Yaml::Hash(m)
        }
        // No overrides (an empty `-f` file): the chart's values.
        (_, Yaml::Null | Yaml::BadValue) => base.clone(),
        _ => over.clone(),
    }
}

fn load_one(path: &Path) -> Yaml {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    YamlLoader::load_from_str(&text)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .into_iter()
        .next()
        .unwrap_or(Yaml::Null)
}

fn hash(pairs: Vec<(&str, Yaml)>) -> Yaml {
    Yaml::Hash(
        pairs
            .into_iter()
            .map(|(k, v)| (Yaml::String(k.to_string()), v))
            .collect(),
    )
}

/// `helm template NAME CHART -n NAMESPACE -f OVERRIDES`: each template's output, by file
/// name (sorted), as helm prints them (templates whose names start with `_` are helpers).
pub fn render_chart(
    chart: &Path,
    release: &str,
    namespace: &str,
    overrides: &Yaml,
) -> Vec<(String, String)> {
    let meta = load_one(&chart.join("Chart.yaml"));
    let values = merge(&load_one(&chart.join("values.yaml")), overrides);
    let root = hash(vec![
        ("Values", values),
        (
            "Release",
            hash(vec![
                ("Name", Yaml::String(release.into())),
                ("Namespace", Yaml::String(namespace.into())),
                ("Service", Yaml::String("Helm".into())),
            ]),
        ),
        (
            "Chart",
            hash(vec![
                ("Name", meta["name"].clone()),
                ("Version", meta["version"].clone()),
                ("AppVersion", meta["appVersion"].clone()),
            ]),
        ),
    ]);
    let mut files: Vec<_> = std::fs::read_dir(chart.join("templates"))
        .expect("templates dir")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| {
            p.extension().is_some_and(|e| e == "yaml")
                && !p
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('_'))
        })
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let src = std::fs::read_to_string(&p).expect("template");
            let name = p.file_name().expect("name").to_string_lossy().into_owned();
            let out = render_template(&src, &root).unwrap_or_else(|e| panic!("{name}: {e}"));
            (name, out)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(src: &str) -> Yaml {
        YamlLoader::load_from_str(src).expect("yaml").remove(0)
    }

    #[test]
    fn go_template_semantics() {
        let root = values("Values: {a: {b: x, n: 3, l: [1, 2], e: [], z: ''}}");
        let r = |src: &str| render_template(src, &root);
        assert_eq!(r("k: {{ .Values.a.b }}").unwrap(), "k: x");
        assert_eq!(r("a\n  {{- .Values.a.n }} \n{{- \"s\" }}").unwrap(), "a3s");
        assert_eq!(r("{{- with .Values.a }}{{ .b }}{{ end }}").unwrap(), "x");
        assert_eq!(r("{{ if .Values.a.e }}y{{ else }}n{{ end }}").unwrap(), "n");
        assert_eq!(r("{{ .Values.a.z | default \"d\" }}").unwrap(), "d");
        assert_eq!(
            r("l:{{ toYaml .Values.a.l | nindent 2 }}").unwrap(),
            "l:\n  - 1\n  - 2"
        );
        assert_eq!(r("{{ .Values.a.b | quote }}").unwrap(), "\"x\"");
        // Strict where Helm would print something useless.
        assert!(r("{{ .Values.missing }}").is_err());
        assert!(r("{{ .Values.a.l }}").is_err());
        assert!(r("{{ range .Values.a.l }}{{ end }}").is_err());
        assert!(r("{{ if .Values.a.b }}").is_err());
    }
}
