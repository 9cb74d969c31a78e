//! The falco.yaml keys that configure alert output, read from the binary's untyped
//! configuration tree (a `serde_json::Value` after `-o` overrides), and the one call that
//! turns them into a running [`Dispatcher`].
//!
//! Key decision: this crate owns the meaning of its keys, so the agent's wiring is
//! `OutputsConfig::from_tree(&tree)?.build()?` and nothing else; Falco's defaults live here.
//! Peregrine extensions: every `*_output` block accepts `min_priority` and a `match` block
//! (priority range, rules, tags, sources: see [`Route`]), and
//! `syslog_output.socket` names the local syslog socket (Falco always uses `/dev/log`; a
//! host whose syslog daemon listens elsewhere, or a test with a private daemon, sets it).

use crate::file::FileOutput;
use crate::format::FormatOptions;
use crate::http::{HttpConfig, HttpOutput};
use crate::output::OutputError;
use crate::program::ProgramOutput;
use crate::queue::{Dispatcher, OutputSpec, RateLimit};
use crate::route::Route;
use crate::stdout::StdoutOutput;
use crate::syslog::{SyslogOutput, DEV_LOG, FACILITY_USER};
use peregrine_filter::priority::Priority;
use serde_json::Value;

/// Where to send alerts and how, with Falco's defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct OutputsConfig {
    pub format: FormatOptions,
    pub buffered_outputs: bool,
    /// `outputs_queue.capacity` (0 = Peregrine's bounded default).
    pub queue_capacity: usize,
    pub rate: RateLimit,
    pub stdout: SinkConfig<()>,
    pub syslog: SinkConfig<SyslogConfig>,
    pub file: SinkConfig<FileConfig>,
    pub program: SinkConfig<ProgramConfig>,
    pub http: SinkConfig<HttpConfig>,
}

/// One `*_output` block.
#[derive(Clone, Debug, PartialEq)]
pub struct SinkConfig<T> {
    pub enabled: bool,
    /// `min_priority` and the `match` block.
    pub route: Route,
    pub settings: T,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyslogConfig {
    /// The datagram socket of the syslog daemon (extension; Falco's is `/dev/log`).
    pub socket: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileConfig {
    pub filename: String,
    pub keep_alive: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProgramConfig {
    pub program: String,
    pub keep_alive: bool,
}

impl Default for OutputsConfig {
    fn default() -> Self {
        fn sink<T>(enabled: bool, settings: T) -> SinkConfig<T> {
            SinkConfig {
                enabled,
                route: Route::default(),
                settings,
            }
        }
        OutputsConfig {
            format: FormatOptions::default(),
            buffered_outputs: false,
            queue_capacity: 0,
            rate: RateLimit::default(),
            stdout: sink(true, ()),
            syslog: sink(
                true,
                SyslogConfig {
                    socket: DEV_LOG.into(),
                },
            ),
            file: sink(
                false,
                FileConfig {
                    filename: "./events.txt".into(),
                    keep_alive: false,
                },
            ),
            program: sink(
                false,
                ProgramConfig {
                    program: String::new(),
                    keep_alive: false,
                },
            ),
            http: sink(false, HttpConfig::default()),
        }
    }
}

impl OutputsConfig {
    /// Reads the output keys of a falco.yaml tree; absent keys keep Falco's defaults and
    /// keys this crate does not own are ignored.
    pub fn from_tree(root: &Value) -> Result<OutputsConfig, OutputError> {
        let mut c = OutputsConfig::default();
        let f = &mut c.format;
        read_bool(root, "json_output", &mut f.json_output)?;
        read_bool(
            root,
            "json_include_output_property",
            &mut f.json_include_output_property,
        )?;
        read_bool(
            root,
            "json_include_tags_property",
            &mut f.json_include_tags_property,
        )?;
        read_bool(
            root,
            "json_include_message_property",
            &mut f.json_include_message_property,
        )?;
        read_bool(
            root,
            "json_include_output_fields_property",
            &mut f.json_include_output_fields_property,
        )?;
        read_bool(root, "time_format_iso_8601", &mut f.time_format_iso_8601)?;
        read_bool(root, "buffered_outputs", &mut c.buffered_outputs)?;
        if let Some(n) = uint(root, "outputs_queue.capacity")? {
            c.queue_capacity = usize::try_from(n).unwrap_or(usize::MAX);
        }
        if let Some(r) = float(root, "outputs.rate")? {
            c.rate.rate = r;
        }
        if let Some(b) = uint(root, "outputs.max_burst")? {
            c.rate.max_burst = b;
        }
        sink(root, "stdout_output", &mut c.stdout)?;
        sink(root, "syslog_output", &mut c.syslog)?;
        read_string(root, "syslog_output.socket", &mut c.syslog.settings.socket)?;
        sink(root, "file_output", &mut c.file)?;
        read_string(root, "file_output.filename", &mut c.file.settings.filename)?;
        read_bool(
            root,
            "file_output.keep_alive",
            &mut c.file.settings.keep_alive,
        )?;
        sink(root, "program_output", &mut c.program)?;
        read_string(
            root,
            "program_output.program",
            &mut c.program.settings.program,
        )?;
        read_bool(
            root,
            "program_output.keep_alive",
            &mut c.program.settings.keep_alive,
        )?;
        sink(root, "http_output", &mut c.http)?;
        let h = &mut c.http.settings;
        for (key, slot) in [
            ("url", &mut h.url),
            ("user_agent", &mut h.user_agent),
            ("ca_cert", &mut h.ca_cert),
            ("ca_bundle", &mut h.ca_bundle),
            ("ca_path", &mut h.ca_path),
            ("client_cert", &mut h.client_cert),
            ("client_key", &mut h.client_key),
        ] {
            read_string(root, &format!("http_output.{key}"), slot)?;
        }
        for (key, slot) in [
            ("insecure", &mut h.insecure),
            ("mtls", &mut h.mtls),
            ("compress_uploads", &mut h.compress_uploads),
            ("gzip_body", &mut h.gzip_body),
            ("keep_alive", &mut h.keep_alive),
            ("echo", &mut h.echo),
        ] {
            read_bool(root, &format!("http_output.{key}"), slot)?;
        }
        if let Some(n) = uint(root, "http_output.max_consecutive_timeouts")? {
            h.max_retries = u32::try_from(n).unwrap_or(u32::MAX);
        }
        h.json = c.format.json_output;
        Ok(c)
    }

    /// Builds the enabled outputs and starts their workers.
    pub fn build(&self) -> Result<Dispatcher, OutputError> {
        let mut specs = Vec::new();
        let mut add = |output: Box<dyn crate::Output>, route: &Route| {
            specs.push(OutputSpec {
                output,
                route: route.clone(),
                capacity: self.queue_capacity,
            })
        };
        if self.stdout.enabled {
            add(
                Box::new(StdoutOutput::stdout(self.buffered_outputs)),
                &self.stdout.route,
            );
        }
        if self.syslog.enabled {
            // Falco's sink (LOG_USER, ident `falco`), on the configured socket.
            let sink = SyslogOutput::new(&self.syslog.settings.socket, "falco", FACILITY_USER);
            // Enabled by default, as in Falco: a host without a syslog daemon must not turn
            // every alert into a silent loss.
            if let Err(e) = sink.probe() {
                log::warn!(
                    "{}: alerts for the syslog output are lost until it can be reached \
                     (syslog_output.enabled: false turns it off)",
                    peregrine_filter::escape::terminal_safe(&e.to_string())
                );
            }
            add(Box::new(sink), &self.syslog.route);
        }
        if self.file.enabled {
            let f = &self.file.settings;
            add(
                Box::new(FileOutput::new(&f.filename, f.keep_alive)),
                &self.file.route,
            );
        }
        if self.program.enabled {
            let p = &self.program.settings;
            add(
                Box::new(ProgramOutput::new(&p.program, p.keep_alive)),
                &self.program.route,
            );
        }
        if self.http.enabled {
            let mut h = self.http.settings.clone();
            h.json = self.format.json_output;
            add(Box::new(HttpOutput::new(h)?), &self.http.route);
        }
        Dispatcher::new(self.format.clone(), specs, self.rate)
    }
}

fn get<'a>(root: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.')
        .try_fold(root, |v, k| v.get(k))
        .filter(|v| !v.is_null())
}

fn bad(key: &str, reason: impl Into<String>) -> OutputError {
    OutputError::Config {
        key: key.to_string(),
        reason: reason.into(),
    }
}

/// Booleans as yaml-cpp reads them (`-o` overrides arrive as strings).
fn read_bool(root: &Value, key: &str, slot: &mut bool) -> Result<(), OutputError> {
    match get(root, key) {
        None => Ok(()),
        Some(Value::Bool(b)) => {
            *slot = *b;
            Ok(())
        }
        Some(Value::String(s)) => {
            *slot = match s.to_ascii_lowercase().as_str() {
                "true" | "yes" | "on" | "y" => true,
                "false" | "no" | "off" | "n" => false,
                _ => return Err(bad(key, format!("expected a boolean, got '{s}'"))),
            };
            Ok(())
        }
        Some(v) => Err(bad(key, format!("expected a boolean, got {v}"))),
    }
}

fn read_string(root: &Value, key: &str, slot: &mut String) -> Result<(), OutputError> {
    match get(root, key) {
        None => Ok(()),
        Some(Value::String(s)) => {
            slot.clone_from(s);
            Ok(())
        }
        Some(v @ (Value::Number(_) | Value::Bool(_))) => {
            *slot = v.to_string();
            Ok(())
        }
        Some(v) => Err(bad(key, format!("expected a string, got {v}"))),
    }
}

fn uint(root: &Value, key: &str) -> Result<Option<u64>, OutputError> {
    match get(root, key) {
        None => Ok(None),
        Some(Value::Number(n)) => n
            .as_u64()
            .map(Some)
            .ok_or_else(|| bad(key, format!("expected a non-negative integer, got {n}"))),
        Some(Value::String(s)) => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| bad(key, format!("expected a non-negative integer, got '{s}'"))),
        Some(v) => Err(bad(
            key,
            format!("expected a non-negative integer, got {v}"),
        )),
    }
}

fn float(root: &Value, key: &str) -> Result<Option<f64>, OutputError> {
    let v = match get(root, key) {
        None => return Ok(None),
        Some(Value::Number(n)) => n.as_f64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        Some(_) => None,
    };
    match v {
        Some(x) if x.is_finite() && x >= 0.0 => Ok(Some(x)),
        _ => Err(bad(key, "expected a non-negative number")),
    }
}

fn priority(root: &Value, key: &str) -> Result<Option<Priority>, OutputError> {
    let mut s = String::new();
    read_string(root, key, &mut s)?;
    if s.is_empty() {
        return Ok(None);
    }
    Priority::parse(&s)
        .map(Some)
        .ok_or_else(|| bad(key, format!("unknown priority '{s}'")))
}

/// A list of strings; a single string stands for a list of one.
fn string_list(root: &Value, key: &str) -> Result<Vec<String>, OutputError> {
    match get(root, key) {
        None => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, v)| match v {
                Value::String(s) => Ok(s.clone()),
                other => Err(bad(
                    &format!("{key}[{i}]"),
                    format!("expected a string, got {other}"),
                )),
            })
            .collect(),
        Some(v) => Err(bad(key, format!("expected a list of strings, got {v}"))),
    }
}

/// An output block's `enabled`, `min_priority` and `match` (a Peregrine extension).
pub fn sink<T>(root: &Value, key: &str, slot: &mut SinkConfig<T>) -> Result<(), OutputError> {
    read_bool(root, &format!("{key}.enabled"), &mut slot.enabled)?;
    let legacy = priority(root, &format!("{key}.min_priority"))?;
    let m = format!("{key}.match");
    if let Some(v) = get(root, &m).filter(|v| !v.is_object()) {
        return Err(bad(&m, format!("expected a mapping, got {v}")));
    }
    let min = priority(root, &format!("{m}.min_priority"))?;
    if legacy.is_some() && min.is_some() {
        return Err(bad(
            &format!("{m}.min_priority"),
            format!("{key}.min_priority is set too: set one of them"),
        ));
    }
    let route = Route {
        min_priority: min.or(legacy),
        max_priority: priority(root, &format!("{m}.max_priority"))?,
        rules: string_list(root, &format!("{m}.rules"))?,
        tags: string_list(root, &format!("{m}.tags"))?,
        sources: string_list(root, &format!("{m}.sources"))?,
    };
    if let (Some(min), Some(max)) = (route.min_priority, route.max_priority) {
        // Most severe first: the range is empty when its least severe end is more severe.
        if min < max {
            return Err(bad(
                &format!("{m}.max_priority"),
                format!(
                    "{} is less severe than min_priority {}: no alert would match",
                    max.as_str(),
                    min.as_str()
                ),
            ));
        }
    }
    slot.route = route;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn falco_defaults() {
        let c = OutputsConfig::from_tree(&json!({})).expect("empty tree");
        assert_eq!(c, OutputsConfig::default());
        assert!(c.stdout.enabled && c.syslog.enabled && !c.file.enabled && !c.http.enabled);
        assert_eq!(c.http.settings.user_agent, "falcosecurity/falco");
        assert_eq!(c.syslog.settings.socket, "/dev/log");
    }

    #[test]
    fn reads_falco_keys() {
        let c = OutputsConfig::from_tree(&json!({
            "json_output": "true",
            "json_include_tags_property": false,
            "time_format_iso_8601": true,
            "outputs_queue": {"capacity": 10},
            "outputs": {"rate": 2, "max_burst": "5"},
            "syslog_output": {"enabled": "no", "socket": "/run/x.sock"},
            "file_output": {"enabled": true, "keep_alive": true, "filename": "/tmp/x", "min_priority": "warning"},
            "program_output": {"enabled": true, "program": "cat"},
            "http_output": {"enabled": true, "url": "http://a/", "insecure": true, "max_consecutive_timeouts": 2},
        }))
        .expect("valid tree");
        assert!(c.format.json_output && !c.format.json_include_tags_property);
        assert!(c.format.time_format_iso_8601);
        assert_eq!(c.queue_capacity, 10);
        assert_eq!(
            c.rate,
            RateLimit {
                rate: 2.0,
                max_burst: 5
            }
        );
        assert!(!c.syslog.enabled);
        assert_eq!(c.syslog.settings.socket, "/run/x.sock");
        assert_eq!(c.file.route.min_priority, Some(Priority::Warning));
        assert_eq!(
            c.file.settings,
            FileConfig {
                filename: "/tmp/x".into(),
                keep_alive: true
            }
        );
        assert_eq!(c.program.settings.program, "cat");
        assert!(c.http.settings.insecure && c.http.settings.json);
        assert_eq!(c.http.settings.max_retries, 2);
    }

    #[test]
    fn reads_match_blocks() {
        let c = OutputsConfig::from_tree(&json!({
            "file_output": {"enabled": true, "match": {"min_priority": "critical"}},
            "stdout_output": {"match": {"max_priority": "error", "rules": "Write below *",
                "tags": ["host", "container"], "sources": ["syscall"]}},
        }))
        .expect("valid tree");
        assert_eq!(c.file.route.min_priority, Some(Priority::Critical));
        assert_eq!(
            c.stdout.route,
            Route {
                min_priority: None,
                max_priority: Some(Priority::Error),
                rules: vec!["Write below *".into()],
                tags: vec!["host".into(), "container".into()],
                sources: vec!["syscall".into()],
            }
        );
    }

    #[test]
    fn rejects_bad_values() {
        for (tree, key) in [
            (json!({"json_output": "maybe"}), "json_output"),
            (
                json!({"outputs_queue": {"capacity": -1}}),
                "outputs_queue.capacity",
            ),
            (json!({"outputs": {"rate": "fast"}}), "outputs.rate"),
            (
                json!({"file_output": {"min_priority": "loud"}}),
                "file_output.min_priority",
            ),
            (json!({"http_output": {"url": ["x"]}}), "http_output.url"),
            (
                json!({"file_output": {"match": {"max_priority": "loud"}}}),
                "file_output.match.max_priority",
            ),
            (
                json!({"file_output": {"min_priority": "error", "match": {"min_priority": "error"}}}),
                "file_output.match.min_priority",
            ),
            (
                json!({"file_output": {"match": {"min_priority": "emergency", "max_priority": "critical"}}}),
                "file_output.match.max_priority",
            ),
            (
                json!({"stdout_output": {"match": {"rules": ["a", 3]}}}),
                "stdout_output.match.rules[1]",
            ),
            (
                json!({"stdout_output": {"match": "all"}}),
                "stdout_output.match",
            ),
        ] {
            match OutputsConfig::from_tree(&tree) {
                Err(OutputError::Config { key: k, .. }) => assert_eq!(k, key),
                other => panic!("{tree}: expected an error for {key}, got {other:?}"),
            }
        }
    }
}
