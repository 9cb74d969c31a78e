//! The test file format, read from the rules loader's positioned YAML tree so every problem
//! names its file, line and column.
//!
//! ```yaml
//! rules: [../peregrine_rules.yaml]      # relative to this file; a test may name its own
//! config: [rule_matching=all]           # `-o` overrides, as on the command line
//! tests:
//!   - name: cat reads /etc/shadow
//!     events:                           # or `capture: file.scap`, or `command: "sh -c …"`
//!       - type: openat
//!         proc: {name: cat, cmdline: cat /etc/shadow, user: root, parents: [bash, sshd]}
//!         args: {fd: 3, dirfd: -100, name: /etc/shadow, flags: O_RDONLY}
//!     expect:                           # or `expect: nothing`
//!       - rule: Credential file opened for reading
//!         count: 1                      # or `at_least: N`, or `fires: false`
//!         output_fields: {fd.name: /etc/shadow, proc.pname: bash}
//! ```

use std::path::{Path, PathBuf};

use peregrine_rules::yaml::{self, Mark, Node, NodeKind};

use crate::{Error, Pos};

/// One test file.
#[derive(Clone, Debug)]
pub struct TestFile {
    pub path: PathBuf,
    pub tests: Vec<TestCase>,
}

/// One test: rules, input, expectations.
#[derive(Clone, Debug)]
pub struct TestCase {
    pub name: String,
    pub pos: Pos,
    /// Rules files, resolved against the test file's directory, loaded in order.
    pub rules: Vec<PathBuf>,
    pub rules_pos: Pos,
    /// `-o` style overrides of the configuration (`rule_matching=all`).
    pub config: Vec<(String, Pos)>,
    pub input: Input,
    pub expect: Expectation,
}

#[derive(Clone, Debug)]
pub enum Input {
    Events(Vec<EventSpec>),
    Capture(PathBuf),
    /// A shell command run live (`sh -c`), root only.
    Command(String),
}

#[derive(Clone, Debug, Default)]
pub struct Expectation {
    /// `expect: nothing`: no rule may fire.
    pub nothing: bool,
    pub rules: Vec<RuleExpect>,
}

#[derive(Clone, Debug)]
pub struct RuleExpect {
    pub rule: String,
    pub pos: Pos,
    pub count: Count,
    pub output_fields: Vec<FieldExpect>,
}

/// How many alerts of a rule are expected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Count {
    Exactly(u64),
    AtLeast(u64),
}

impl std::fmt::Display for Count {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Count::Exactly(n) => write!(f, "{n}"),
            Count::AtLeast(n) => write!(f, "at least {n}"),
        }
    }
}

impl Count {
    pub fn holds(self, n: u64) -> bool {
        match self {
            Count::Exactly(want) => n == want,
            Count::AtLeast(want) => n >= want,
        }
    }
}

/// One `output_fields` entry: an alert of the rule must carry this value.
#[derive(Clone, Debug)]
pub struct FieldExpect {
    pub field: String,
    pub value: String,
    pub pos: Pos,
}

/// One inline event.
#[derive(Clone, Debug)]
pub struct EventSpec {
    pub pos: Pos,
    pub evtype: String,
    pub evtype_pos: Pos,
    /// ns since the epoch; consecutive by default.
    pub time: Option<u64>,
    pub tid: Option<i64>,
    pub proc: ProcSpec,
    pub args: Vec<ArgSpec>,
    pub fds: Vec<FdSpec>,
}

/// An event parameter as written: a scalar or a list of scalars.
#[derive(Clone, Debug)]
pub struct ArgSpec {
    pub name: String,
    pub value: ArgValue,
    pub pos: Pos,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ArgValue {
    Scalar(String),
    List(Vec<String>),
}

/// A process: who makes the event, or one of its ancestors.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct ProcSpec {
    pub pid: Option<i64>,
    pub name: Option<String>,
    pub exe: Option<String>,
    pub exepath: Option<String>,
    /// The arguments after the name (`proc.args`).
    pub args: Vec<String>,
    pub cwd: Option<String>,
    pub env: Vec<String>,
    pub user: Option<String>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub loginuid: Option<i64>,
    pub tty: Option<u32>,
    /// `PPM_EXE_*` bits: `exe_writable`, `exe_upper_layer`, `exe_from_memfd`, `exe_lower_layer`.
    pub exe_flags: u32,
    pub parents: Vec<ProcSpec>,
    pub container: Option<ContainerSpec>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct ContainerSpec {
    pub id: String,
    pub name: String,
    pub image: String,
    pub privileged: bool,
}

/// A descriptor the process holds (from its first event on).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FdSpec {
    pub pos: Pos,
    pub num: i64,
    /// `fd.type`: file, directory, ipv4, ipv6, unix, pipe, …
    pub kind: String,
    pub name: String,
    /// IP sockets: `ip:port` of the client and the server end, and which one is local.
    pub client: Option<String>,
    pub server: Option<String>,
    pub is_server: bool,
    pub proto: String,
}

/// Reads and checks the shape of a test file (field and rule names are checked when it
/// runs, against the catalogue and the loaded rules).
pub fn parse_file(path: &Path) -> Result<TestFile, Error> {
    let bytes = peregrine_rules::input::read_regular(path, peregrine_rules::input::MAX_RULES_FILE)
        .map_err(|e| Error::Read {
            path: path.to_path_buf(),
            source: std::io::Error::other(e.to_string()),
        })?;
    let text = String::from_utf8(bytes).map_err(|_| Error::At {
        pos: Pos {
            file: path.to_path_buf(),
            line: 1,
            column: 1,
        },
        message: "the test file is not UTF-8 text".into(),
    })?;
    parse_str(path, &text)
}

/// [`parse_file`] over text already read; `path` names it and anchors relative paths.
pub fn parse_str(path: &Path, text: &str) -> Result<TestFile, Error> {
    let cx = Cx {
        file: path.to_path_buf(),
        dir: path.parent().map(Path::to_path_buf).unwrap_or_default(),
    };
    let docs = yaml::parse_documents(text).map_err(|e| Error::At {
        pos: cx.pos(e.mark),
        message: format!("not valid YAML: {}", e.message),
    })?;
    let Some(root) = docs.first() else {
        return Err(cx.err_at(Mark::default(), "the test file is empty"));
    };
    let top = cx.map(root, &["rules", "config", "tests"])?;
    let (rules, rules_pos) = match top.get("rules") {
        Some(n) => (cx.paths(n)?, cx.pos(n.mark)),
        None => (Vec::new(), cx.pos(root.mark)),
    };
    let config = match top.get("config") {
        Some(n) => cx.options(n)?,
        None => Vec::new(),
    };
    let tests_node = top
        .get("tests")
        .ok_or_else(|| cx.err(root, "missing key 'tests' (a list of tests)"))?;
    let items = tests_node
        .as_seq()
        .ok_or_else(|| cx.err(tests_node, "'tests' must be a list"))?;
    let mut tests = Vec::new();
    for item in items {
        tests.push(cx.test(item, &rules, &rules_pos, &config)?);
    }
    Ok(TestFile {
        path: path.to_path_buf(),
        tests,
    })
}

/// A map's entries by key, unknown keys refused at their position.
struct Entries<'a>(Vec<(&'a str, &'a Node)>);

impl<'a> Entries<'a> {
    fn get(&self, key: &str) -> Option<&'a Node> {
        self.0.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
    }
}

struct Cx {
    file: PathBuf,
    dir: PathBuf,
}

impl Cx {
    fn pos(&self, m: Mark) -> Pos {
        Pos {
            file: self.file.clone(),
            line: m.line + 1,
            column: m.column + 1,
        }
    }

    fn err_at(&self, m: Mark, message: impl Into<String>) -> Error {
        Error::At {
            pos: self.pos(m),
            message: message.into(),
        }
    }

    fn err(&self, n: &Node, message: impl Into<String>) -> Error {
        self.err_at(n.mark, message)
    }

    fn map<'a>(&self, n: &'a Node, allowed: &[&str]) -> Result<Entries<'a>, Error> {
        let entries = n.as_map().ok_or_else(|| {
            self.err(
                n,
                format!("expected a map with keys {}", allowed.join(", ")),
            )
        })?;
        let mut out = Vec::new();
        for (k, v) in entries {
            let key = k
                .as_scalar()
                .ok_or_else(|| self.err(k, "a key must be a plain string"))?;
            if !allowed.contains(&key) {
                return Err(self.err(
                    k,
                    format!(
                        "unknown key '{}' (expected one of: {})",
                        printable(key),
                        allowed.join(", ")
                    ),
                ));
            }
            out.push((key, v));
        }
        Ok(Entries(out))
    }

    fn scalar<'a>(&self, n: &'a Node, what: &str) -> Result<&'a str, Error> {
        n.as_scalar()
            .ok_or_else(|| self.err(n, format!("{what} must be a single value")))
    }

    fn int<T: std::str::FromStr>(&self, n: &Node, what: &str) -> Result<T, Error> {
        let s = self.scalar(n, what)?;
        s.trim().parse().map_err(|_| {
            self.err(
                n,
                format!("{what} must be a number, not '{}'", printable(s)),
            )
        })
    }

    fn boolean(&self, n: &Node, what: &str) -> Result<bool, Error> {
        match self.scalar(n, what)? {
            "true" => Ok(true),
            "false" => Ok(false),
            s => Err(self.err(
                n,
                format!("{what} must be true or false, not '{}'", printable(s)),
            )),
        }
    }

    fn strings(&self, n: &Node, what: &str) -> Result<Vec<String>, Error> {
        match &n.kind {
            NodeKind::Scalar { value, .. } => Ok(vec![value.clone()]),
            NodeKind::Seq(items) => items
                .iter()
                .map(|i| self.scalar(i, what).map(str::to_string))
                .collect(),
            NodeKind::Null => Ok(Vec::new()),
            NodeKind::Map(_) => Err(self.err(n, format!("{what} must be a list of values"))),
        }
    }

    fn paths(&self, n: &Node) -> Result<Vec<PathBuf>, Error> {
        Ok(self
            .strings(n, "'rules'")?
            .into_iter()
            .map(|p| self.dir.join(p))
            .collect())
    }

    fn options(&self, n: &Node) -> Result<Vec<(String, Pos)>, Error> {
        let items: Vec<&Node> = match &n.kind {
            NodeKind::Seq(items) => items.iter().collect(),
            _ => vec![n],
        };
        items
            .into_iter()
            .map(|i| {
                let s = self.scalar(i, "a 'config' override")?;
                if !s.contains('=') {
                    return Err(self.err(i, "a 'config' override is KEY=VALUE, as with -o"));
                }
                Ok((s.to_string(), self.pos(i.mark)))
            })
            .collect()
    }

    fn test(
        &self,
        item: &Node,
        rules: &[PathBuf],
        rules_pos: &Pos,
        config: &[(String, Pos)],
    ) -> Result<TestCase, Error> {
        let m = self.map(
            item,
            &[
                "name", "rules", "config", "events", "capture", "command", "expect",
            ],
        )?;
        let name = match m.get("name") {
            Some(n) => self.scalar(n, "'name'")?.to_string(),
            None => return Err(self.err(item, "a test needs a 'name'")),
        };
        let (rules, rules_pos) = match m.get("rules") {
            Some(n) => (self.paths(n)?, self.pos(n.mark)),
            None => (rules.to_vec(), rules_pos.clone()),
        };
        if rules.is_empty() {
            return Err(self.err(item, "no rules files: set 'rules' in the file or the test"));
        }
        let mut config = config.to_vec();
        if let Some(n) = m.get("config") {
            config.extend(self.options(n)?);
        }
        let inputs: Vec<&str> = ["events", "capture", "command"]
            .into_iter()
            .filter(|k| m.get(k).is_some())
            .collect();
        if inputs.len() != 1 {
            return Err(self.err(
                item,
                "a test needs exactly one input: 'events', 'capture' or 'command'",
            ));
        }
        let input = if let Some(n) = m.get("events") {
            let evs = n
                .as_seq()
                .ok_or_else(|| self.err(n, "'events' must be a list of events"))?;
            let mut out = Vec::new();
            for e in evs {
                out.push(self.event(e)?);
            }
            Input::Events(out)
        } else if let Some(n) = m.get("capture") {
            Input::Capture(self.dir.join(self.scalar(n, "'capture'")?))
        } else if let Some(n) = m.get("command") {
            Input::Command(self.scalar(n, "'command'")?.to_string())
        } else {
            return Err(self.err(item, "a test needs an input"));
        };
        let expect = match m.get("expect") {
            Some(n) => self.expect(n)?,
            None => return Err(self.err(item, "a test needs 'expect'")),
        };
        Ok(TestCase {
            name,
            pos: self.pos(item.mark),
            rules,
            rules_pos,
            config,
            input,
            expect,
        })
    }

    fn expect(&self, n: &Node) -> Result<Expectation, Error> {
        if let Some(s) = n.as_scalar() {
            return match s {
                "nothing" => Ok(Expectation {
                    nothing: true,
                    rules: Vec::new(),
                }),
                _ => Err(self.err(
                    n,
                    "'expect' is 'nothing' or a list of {rule, count|at_least|fires, output_fields}",
                )),
            };
        }
        let items = n
            .as_seq()
            .ok_or_else(|| self.err(n, "'expect' must be 'nothing' or a list"))?;
        let mut rules = Vec::new();
        for i in items {
            let m = self.map(i, &["rule", "count", "at_least", "fires", "output_fields"])?;
            let rule_node = m
                .get("rule")
                .ok_or_else(|| self.err(i, "an expectation needs 'rule'"))?;
            let counts = ["count", "at_least", "fires"]
                .into_iter()
                .filter(|k| m.get(k).is_some())
                .count();
            if counts > 1 {
                return Err(self.err(i, "use one of 'count', 'at_least' and 'fires'"));
            }
            let count = if let Some(c) = m.get("count") {
                Count::Exactly(self.int(c, "'count'")?)
            } else if let Some(c) = m.get("at_least") {
                Count::AtLeast(self.int(c, "'at_least'")?)
            } else if let Some(f) = m.get("fires") {
                if self.boolean(f, "'fires'")? {
                    Count::AtLeast(1)
                } else {
                    Count::Exactly(0)
                }
            } else {
                Count::AtLeast(1)
            };
            let mut output_fields = Vec::new();
            if let Some(of) = m.get("output_fields") {
                let entries = of
                    .as_map()
                    .ok_or_else(|| self.err(of, "'output_fields' must be a map field: value"))?;
                for (k, v) in entries {
                    output_fields.push(FieldExpect {
                        field: self.scalar(k, "a field name")?.to_string(),
                        value: match &v.kind {
                            NodeKind::Null => String::new(),
                            _ => self.scalar(v, "a field value")?.to_string(),
                        },
                        pos: self.pos(k.mark),
                    });
                }
            }
            if count == Count::Exactly(0) && !output_fields.is_empty() {
                return Err(self.err(i, "'output_fields' with a rule that must not fire"));
            }
            rules.push(RuleExpect {
                rule: self.scalar(rule_node, "'rule'")?.to_string(),
                pos: self.pos(rule_node.mark),
                count,
                output_fields,
            });
        }
        Ok(Expectation {
            nothing: false,
            rules,
        })
    }

    fn event(&self, n: &Node) -> Result<EventSpec, Error> {
        let m = self.map(
            n,
            &[
                "type",
                "dir",
                "time",
                "tid",
                "proc",
                "args",
                "fd",
                "fds",
                "container",
            ],
        )?;
        let ty = m
            .get("type")
            .ok_or_else(|| self.err(n, "an event needs 'type' (its evt.type)"))?;
        if let Some(d) = m.get("dir") {
            match self.scalar(d, "'dir'")? {
                "<" => {}
                ">" => {
                    return Err(self.err(
                        d,
                        "enter events ('>') are not delivered to rules: events are exit events carrying every parameter, as in Falco 0.44",
                    ))
                }
                s => return Err(self.err(d, format!("'dir' is '<' or '>', not '{}'", printable(s)))),
            }
        }
        let mut proc = match m.get("proc") {
            Some(p) => self.proc(p)?,
            None => ProcSpec::default(),
        };
        if let Some(c) = m.get("container") {
            proc.container = Some(self.container(c)?);
        }
        let mut args = Vec::new();
        if let Some(a) = m.get("args") {
            let entries = a
                .as_map()
                .ok_or_else(|| self.err(a, "'args' must be a map name: value"))?;
            for (k, v) in entries {
                let value = match &v.kind {
                    NodeKind::Seq(_) => ArgValue::List(self.strings(v, "a list argument")?),
                    NodeKind::Null => ArgValue::Scalar(String::new()),
                    _ => ArgValue::Scalar(self.scalar(v, "an argument")?.to_string()),
                };
                args.push(ArgSpec {
                    name: self.scalar(k, "an argument name")?.to_string(),
                    value,
                    pos: self.pos(k.mark),
                });
            }
        }
        let mut fds = Vec::new();
        if let Some(f) = m.get("fd") {
            fds.push(self.fd(f)?);
        }
        if let Some(fs) = m.get("fds") {
            let items = fs
                .as_seq()
                .ok_or_else(|| self.err(fs, "'fds' must be a list"))?;
            for f in items {
                fds.push(self.fd(f)?);
            }
        }
        Ok(EventSpec {
            pos: self.pos(n.mark),
            evtype: self.scalar(ty, "'type'")?.to_string(),
            evtype_pos: self.pos(ty.mark),
            time: m.get("time").map(|t| self.int(t, "'time'")).transpose()?,
            tid: m.get("tid").map(|t| self.int(t, "'tid'")).transpose()?,
            proc,
            args,
            fds,
        })
    }

    fn proc(&self, n: &Node) -> Result<ProcSpec, Error> {
        // A parent may be written as its name alone.
        if let Some(name) = n.as_scalar() {
            return Ok(ProcSpec {
                name: Some(name.to_string()),
                ..ProcSpec::default()
            });
        }
        let m = self.map(
            n,
            &[
                "name",
                "exe",
                "exepath",
                "cmdline",
                "args",
                "pid",
                "cwd",
                "env",
                "user",
                "uid",
                "gid",
                "loginuid",
                "tty",
                "exe_writable",
                "exe_upper_layer",
                "exe_from_memfd",
                "exe_lower_layer",
                "parents",
                "container",
            ],
        )?;
        let s = |k: &str| -> Result<Option<String>, Error> {
            m.get(k)
                .map(|v| self.scalar(v, &format!("'{k}'")).map(str::to_string))
                .transpose()
        };
        let mut p = ProcSpec {
            pid: m.get("pid").map(|v| self.int(v, "'pid'")).transpose()?,
            name: s("name")?,
            exe: s("exe")?,
            exepath: s("exepath")?,
            cwd: s("cwd")?,
            user: s("user")?,
            uid: m.get("uid").map(|v| self.int(v, "'uid'")).transpose()?,
            gid: m.get("gid").map(|v| self.int(v, "'gid'")).transpose()?,
            loginuid: m
                .get("loginuid")
                .map(|v| self.int(v, "'loginuid'"))
                .transpose()?,
            tty: m.get("tty").map(|v| self.int(v, "'tty'")).transpose()?,
            env: match m.get("env") {
                Some(v) => self.strings(v, "'env'")?,
                None => Vec::new(),
            },
            ..ProcSpec::default()
        };
        if m.get("cmdline").is_some() && m.get("args").is_some() {
            return Err(self.err(n, "give 'cmdline' or 'args', not both"));
        }
        if let Some(c) = m.get("cmdline") {
            // `proc.cmdline` is the name followed by the arguments.
            let line = self.scalar(c, "'cmdline'")?;
            let mut words = line.split_whitespace();
            let first = words.next().unwrap_or_default().to_string();
            if p.name.is_none() {
                p.name = Some(first.rsplit('/').next().unwrap_or(&first).to_string());
            }
            if p.exe.is_none() {
                p.exe = Some(first);
            }
            p.args = words.map(str::to_string).collect();
        }
        if let Some(a) = m.get("args") {
            p.args = self.strings(a, "'args'")?;
        }
        for (key, bit) in [
            ("exe_writable", 1),
            ("exe_upper_layer", 2),
            ("exe_from_memfd", 4),
            ("exe_lower_layer", 8),
        ] {
            if let Some(v) = m.get(key) {
                if self.boolean(v, &format!("'{key}'"))? {
                    p.exe_flags |= bit;
                }
            }
        }
        if let Some(ps) = m.get("parents") {
            let items = ps
                .as_seq()
                .ok_or_else(|| self.err(ps, "'parents' must be a list, the parent first"))?;
            for i in items {
                p.parents.push(self.proc(i)?);
            }
        }
        if let Some(c) = m.get("container") {
            p.container = Some(self.container(c)?);
        }
        Ok(p)
    }

    fn container(&self, n: &Node) -> Result<ContainerSpec, Error> {
        let m = self.map(n, &["id", "name", "image", "privileged"])?;
        let id = match m.get("id") {
            Some(v) => self.scalar(v, "'id'")?.to_string(),
            None => return Err(self.err(n, "a container needs an 'id'")),
        };
        if id.is_empty() || id == "host" {
            return Err(self.err(n, "a container 'id' is a container's id, not empty or host"));
        }
        Ok(ContainerSpec {
            id,
            name: m
                .get("name")
                .map(|v| self.scalar(v, "'name'").map(str::to_string))
                .transpose()?
                .unwrap_or_default(),
            image: m
                .get("image")
                .map(|v| self.scalar(v, "'image'").map(str::to_string))
                .transpose()?
                .unwrap_or_default(),
            privileged: m
                .get("privileged")
                .map(|v| self.boolean(v, "'privileged'"))
                .transpose()?
                .unwrap_or(false),
        })
    }

    fn fd(&self, n: &Node) -> Result<FdSpec, Error> {
        let m = self.map(
            n,
            &["num", "type", "name", "client", "server", "role", "proto"],
        )?;
        let s = |k: &str| -> Result<Option<String>, Error> {
            m.get(k)
                .map(|v| self.scalar(v, &format!("'{k}'")).map(str::to_string))
                .transpose()
        };
        let num = match m.get("num") {
            Some(v) => self.int(v, "'num'")?,
            None => return Err(self.err(n, "an fd needs its 'num'")),
        };
        let is_server = match m.get("role") {
            Some(v) => match self.scalar(v, "'role'")? {
                "server" => true,
                "client" => false,
                other => {
                    return Err(self.err(
                        v,
                        format!("'role' is client or server, not '{}'", printable(other)),
                    ))
                }
            },
            None => false,
        };
        Ok(FdSpec {
            pos: self.pos(n.mark),
            num,
            kind: s("type")?.unwrap_or_else(|| "file".to_string()),
            name: s("name")?.unwrap_or_default(),
            client: s("client")?,
            server: s("server")?,
            is_server,
            proto: s("proto")?.unwrap_or_else(|| "tcp".to_string()),
        })
    }
}

/// Text from the test file as a message quotes it (control characters escaped, bounded).
pub(crate) fn printable(s: &str) -> String {
    let short: String = s.chars().take(80).collect();
    peregrine_filter::escape::terminal_safe(&short)
}
