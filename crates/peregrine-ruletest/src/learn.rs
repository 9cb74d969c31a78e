//! `peregrine learn`: what a workload does while it is watched — the executables it runs, the
//! files it writes, where it connects, the ports it listens on — kept per container image
//! (`host` for processes without one), and rules in Falco's language that alert on anything
//! else.
//!
//! Key decision: the facts are gathered by rules ([`LEARN_RULES`]) run by the ordinary engine,
//! so a fact means exactly what the same condition means in the generated rules (the same
//! event types, the same success tests, the same fields). The generated rules are checked to
//! load before they are written.
//!
//! Files written are kept as directories (matched with `pmatch`, so their subdirectories are
//! covered too); when there are more than [`MAX_DIRS`], the deepest are cut back to their
//! parents until they fit. Values that the rules language would need to quote (spaces,
//! commas, quotes…) are left out and counted in the profile.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use peregrine_engine::{Engine, Settings};
use peregrine_rules::Matching;

use crate::run::Observed;
use crate::Error;

/// Most directories kept per scope for the files written.
pub const MAX_DIRS: usize = 64;

/// The rules that gather the facts; their names are what [`Profile::observe`] reads.
pub const LEARN_RULES: &str = r#"
- rule: learn executable
  desc: an executable started
  condition: evt.type in (execve, execveat) and evt.rawres = 0
  output: "%container.image.repository %proc.exepath"
  priority: DEBUG
- rule: learn file written
  desc: a regular file opened for writing
  condition: >
    evt.type in (open, openat, openat2, creat) and evt.is_open_write = true
    and fd.typechar = f and fd.num >= 0
  output: "%container.image.repository %fd.name"
  priority: DEBUG
- rule: learn outbound connection
  desc: an IP connection attempted
  condition: >
    evt.type = connect and (fd.typechar = 4 or fd.typechar = 6)
    and (evt.rawres >= 0 or evt.res = EINPROGRESS)
  output: "%container.image.repository %fd.sip %fd.sport"
  priority: DEBUG
- rule: learn listening port
  desc: a socket listening
  condition: evt.type = listen and evt.rawres = 0
  output: "%container.image.repository %fd.sport"
  priority: DEBUG
"#;

/// The engine that gathers the facts.
pub fn engine() -> Result<Engine, Error> {
    let mut l = peregrine_rules::Loader::new();
    l.load_str("learn.yaml", LEARN_RULES);
    let (rules, res) = l.finish();
    if !res.successful() {
        return Err(Error::Other(format!("internal: {}", res.as_text())));
    }
    Ok(Engine::new(
        rules,
        Settings {
            matching: Matching::All,
            latency_sample: 0,
        },
    ))
}

/// What one scope (a container image, or `host`) did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Scope {
    pub executables: BTreeSet<String>,
    /// Directories files were written in, with a trailing `/` (files below /dev and /proc).
    pub write_dirs: BTreeSet<String>,
    pub destinations: BTreeSet<String>,
    pub ports: BTreeSet<u16>,
    /// Values left out because the rules language would need them quoted.
    pub unusable: u64,
}

/// One of a scope's four lists, rendered (strings quoted), under its names in the profile
/// and in the generated rules.
struct List {
    profile_key: &'static str,
    rules_suffix: &'static str,
    items: Vec<String>,
}

impl Scope {
    /// The lists in the order both the profile and the rules write them; the rules' list
    /// names (`learned_<scope>_<suffix>`) are what their conditions refer to.
    fn lists(&self) -> [List; 4] {
        let strings = |set: &BTreeSet<String>| set.iter().map(|v| quoted(v)).collect();
        [
            List {
                profile_key: "executables",
                rules_suffix: "executables",
                items: strings(&self.executables),
            },
            List {
                profile_key: "files_written_below",
                rules_suffix: "write_dirs",
                items: strings(&self.write_dirs),
            },
            List {
                profile_key: "outbound_destinations",
                rules_suffix: "destinations",
                items: strings(&self.destinations),
            },
            List {
                profile_key: "listening_ports",
                rules_suffix: "ports",
                items: self.ports.iter().map(u16::to_string).collect(),
            },
        ]
    }
}

/// The profile: scopes by image repository (`host` for none).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Profile {
    pub scopes: BTreeMap<String, Scope>,
    /// `--image`: only this image's scope is kept.
    pub only_image: Option<String>,
}

pub const HOST: &str = "host";

/// A value the rules language takes unquoted in a list.
fn usable(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= 4096
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._:+@=-~%".contains(&b))
}

impl Profile {
    /// Takes one alert of [`LEARN_RULES`].
    pub fn observe(&mut self, o: &Observed) {
        let image = match o.field("container.image.repository") {
            Some(i) if !i.is_empty() && i != "<NA>" => i,
            _ => HOST,
        };
        if self.only_image.as_deref().is_some_and(|only| only != image) {
            return;
        }
        let scope = self.scopes.entry(image.to_string()).or_default();
        let value = |f: &str| o.field(f).filter(|v| !v.is_empty() && *v != "<NA>");
        let (set, v) = match o.rule.as_str() {
            "learn executable" => (&mut scope.executables, value("proc.exepath")),
            // The directory: files are many, the places a workload writes to are few. Below
            // /dev and /proc the file itself: `/dev/null` must not admit `/dev/shm/x`.
            "learn file written" => (
                &mut scope.write_dirs,
                value("fd.name").and_then(|n| {
                    if n.starts_with("/dev/") || n.starts_with("/proc/") {
                        Some(n)
                    } else {
                        n.rfind('/').map(|i| &n[..=i])
                    }
                }),
            ),
            "learn outbound connection" => (&mut scope.destinations, value("fd.sip")),
            "learn listening port" => {
                if let Some(p) = value("fd.sport").and_then(|p| p.parse().ok()) {
                    scope.ports.insert(p);
                }
                return;
            }
            _ => return,
        };
        match v {
            Some(v) if usable(v) => {
                set.insert(v.to_string());
            }
            Some(_) => scope.unusable += 1,
            None => {}
        }
    }

    /// Cuts each scope's directories back to at most [`MAX_DIRS`], deepest first.
    pub fn compact(&mut self) {
        for scope in self.scopes.values_mut() {
            while scope.write_dirs.len() > MAX_DIRS {
                let deepest = scope
                    .write_dirs
                    .iter()
                    .map(|d| d.matches('/').count())
                    .max()
                    .unwrap_or(0);
                if deepest <= 2 {
                    break;
                }
                scope.write_dirs = scope
                    .write_dirs
                    .iter()
                    .map(|d| {
                        if d.matches('/').count() == deepest {
                            let trimmed = &d[..d.len() - 1];
                            match trimmed.rfind('/') {
                                Some(i) => trimmed[..=i].to_string(),
                                None => d.clone(),
                            }
                        } else {
                            d.clone()
                        }
                    })
                    .collect();
                // A directory below another kept one adds nothing.
                let all: Vec<String> = scope.write_dirs.iter().cloned().collect();
                scope
                    .write_dirs
                    .retain(|d| !all.iter().any(|o| o != d && d.starts_with(o.as_str())));
            }
        }
    }
}

fn quoted(s: &str) -> String {
    let mut out = String::new();
    peregrine_filter::format::write_json_string(s, &mut out);
    out
}

/// The profile as YAML, for people and for diffing two runs.
pub fn render_profile(p: &Profile, watched: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Behaviour profile written by `peregrine learn` ({})",
        comment(watched)
    );
    for (name, s) in &p.scopes {
        let _ = writeln!(out, "{}:", quoted(name));
        for list in s.lists() {
            let _ = writeln!(out, "  {}:", list.profile_key);
            for i in list.items {
                let _ = writeln!(out, "    - {i}");
            }
        }
        if s.unusable > 0 {
            let _ = writeln!(out, "  values_left_out: {}", s.unusable);
        }
    }
    out
}

fn comment(s: &str) -> String {
    let short: String = s.chars().take(200).collect();
    peregrine_filter::escape::terminal_safe(&short)
}

/// A list name for a scope: letters, digits and `_` only.
fn ident(scope: &str) -> String {
    scope
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// Rules in Falco's language that alert on what the profile does not contain.
pub fn render_rules(p: &Profile, watched: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Rules generated by `peregrine learn` ({}): each alerts on behaviour outside the",
        comment(watched)
    );
    out.push_str("# profile learned. Review the lists; load this file with your rules (`-r`).\n");
    for (name, s) in &p.scopes {
        if !usable(name) {
            continue;
        }
        let id = ident(name);
        let (scope_cond, label) = if name == HOST {
            // Processes without an image: the host's, and a container's whose image is
            // unknown (the same set the profile put under `host`).
            (
                "(container.id = host or not container.image.repository exists or container.image.repository = \"\")"
                    .to_string(),
                "host".to_string(),
            )
        } else {
            (
                format!("container.image.repository = {name}"),
                format!("image {name}"),
            )
        };
        for list in s.lists() {
            let _ = writeln!(out, "\n- list: learned_{id}_{}", list.rules_suffix);
            let _ = writeln!(out, "  items: [{}]", list.items.join(", "));
        }
        let rule = |out: &mut String, what: &str, cond: &str, output: &str, priority: &str| {
            let _ = writeln!(
                out,
                "\n- rule: {}",
                quoted(&format!("Unexpected {what} ({label}, learned)"))
            );
            let _ = writeln!(
                out,
                "  desc: {}",
                quoted(&format!("{what} not seen while {label} was learned"))
            );
            let _ = writeln!(out, "  condition: >\n    {cond} and {scope_cond}");
            let _ = writeln!(
                out,
                "  output: {}",
                quoted(&format!("Unexpected {what} ({label}) ({output})"))
            );
            let _ = writeln!(out, "  priority: {priority}");
            let _ = writeln!(out, "  tags: [learned]");
        };
        rule(
            &mut out,
            "executable",
            &format!("evt.type in (execve, execveat) and evt.rawres = 0 and not proc.exepath in (learned_{id}_executables)"),
            "exe=%proc.exepath cmdline=%proc.cmdline parent=%proc.pname container_id=%container.id",
            "WARNING",
        );
        rule(
            &mut out,
            "file written",
            &format!("evt.type in (open, openat, openat2, creat) and evt.is_open_write = true and fd.typechar = f and fd.num >= 0 and not fd.name pmatch (learned_{id}_write_dirs)"),
            "file=%fd.name process=%proc.name exe=%proc.exepath container_id=%container.id",
            "WARNING",
        );
        rule(
            &mut out,
            "outbound connection",
            &format!("evt.type = connect and (fd.typechar = 4 or fd.typechar = 6) and (evt.rawres >= 0 or evt.res = EINPROGRESS) and not fd.sip in (learned_{id}_destinations)"),
            "connection=%fd.name process=%proc.name exe=%proc.exepath container_id=%container.id",
            "WARNING",
        );
        rule(
            &mut out,
            "listening port",
            &format!(
                "evt.type = listen and evt.rawres = 0 and not fd.sport in (learned_{id}_ports)"
            ),
            "port=%fd.sport process=%proc.name exe=%proc.exepath container_id=%container.id",
            "WARNING",
        );
    }
    out
}

/// The generated rules load (as `peregrine -V` would check them): `Err` with the load
/// results otherwise.
pub fn check_rules(text: &str) -> Result<(), Error> {
    let mut l = peregrine_rules::Loader::new();
    l.load_str("learned.yaml", text);
    let (_, res) = l.finish();
    if res.successful() {
        Ok(())
    } else {
        Err(Error::Other(format!(
            "internal: the generated rules do not load:\n{}",
            res.as_text()
        )))
    }
}
