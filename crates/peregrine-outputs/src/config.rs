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
//! Network outputs take a `spool` block (`enabled`, `dir`, `max_bytes`; on by default): see
//! [`crate::spool`]; `timeout_ms`, the most one delivery attempt may take (connect, send and
//! the destination's answer); and a `retry` block (`initial_backoff_ms`, `max_backoff_ms`),
//! the spool's capped exponential backoff after a failed attempt.

use crate::alertmanager::{AlertmanagerConfig, AlertmanagerOutput};
use crate::file::FileOutput;
use crate::format::FormatOptions;
use crate::http::{HttpConfig, HttpOutput};
use crate::mqtt_output::{MqttConfig, MqttOutput};
use crate::nats_output::{NatsAuth, NatsConfig, NatsOutput, NatsTls};
use crate::output::OutputError;
use crate::program::ProgramOutput;
use crate::queue::{Backoff, Dispatcher, OutputSpec, RateLimit};
use crate::redis_output::{RedisConfig, RedisOutput};
use crate::remote_syslog::{RemoteSyslogConfig, RemoteSyslogOutput};
use crate::route::Route;
use crate::spool::{Spool, SpoolConfig};
use crate::stdout::StdoutOutput;
use crate::syslog::{SyslogOutput, DEV_LOG, FACILITY_USER};
use crate::webhook::{ChatFormat, WebhookConfig, WebhookOutput};
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
    /// Peregrine extension: Prometheus Alertmanager.
    pub alertmanager: SinkConfig<AlertmanagerConfig>,
    /// Peregrine extension: a Redis stream or channel.
    pub redis: SinkConfig<RedisConfig>,
    /// Peregrine extension: NATS (core or JetStream).
    pub nats: SinkConfig<NatsConfig>,
    /// Peregrine extension: the fleet's alert stream (`fleet` block, read by
    /// peregrine-config): a JetStream publisher like `nats_output`, with a spool of its own.
    pub fleet: Option<SinkConfig<NatsConfig>>,
    /// Peregrine extension: an MQTT broker.
    pub mqtt: SinkConfig<MqttConfig>,
    /// Peregrine extension: a chat webhook (Slack, Teams, Discord).
    pub webhook: SinkConfig<WebhookConfig>,
    /// Peregrine extension: RFC 5424 syslog over TCP to a remote collector.
    pub remote_syslog: SinkConfig<RemoteSyslogConfig>,
}

/// One `*_output` block.
#[derive(Clone, Debug, PartialEq)]
pub struct SinkConfig<T> {
    pub enabled: bool,
    /// `min_priority` and the `match` block.
    pub route: Route,
    /// The on-disk spool; `None` for sinks that have none (local ones).
    pub spool: Option<SpoolConfig>,
    /// The spool's retry backoff (`retry.initial_backoff_ms`, `retry.max_backoff_ms`).
    pub retry: Backoff,
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
                spool: None,
                retry: Backoff::default(),
                settings,
            }
        }
        /// A network output: off, spooled once enabled.
        fn network<T: Default>() -> SinkConfig<T> {
            SinkConfig {
                spool: Some(SpoolConfig::default()),
                ..sink(false, T::default())
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
            http: network(),
            alertmanager: network(),
            redis: network(),
            nats: network(),
            fleet: None,
            mqtt: network(),
            webhook: network(),
            remote_syslog: network(),
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
        read_spool(root, "http_output", &mut c.http.spool)?;
        read_delivery(
            root,
            "http_output",
            &mut c.http.settings.timeout,
            &mut c.http.retry,
        )?;
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
        h.backoff = c.http.retry.initial;
        h.json = c.format.json_output;
        sink(root, "alertmanager_output", &mut c.alertmanager)?;
        read_spool(root, "alertmanager_output", &mut c.alertmanager.spool)?;
        read_delivery(
            root,
            "alertmanager_output",
            &mut c.alertmanager.settings.timeout,
            &mut c.alertmanager.retry,
        )?;
        let am = &mut c.alertmanager.settings;
        read_string(root, "alertmanager_output.url", &mut am.url)?;
        if let Some(n) = uint(root, "alertmanager_output.resolve_timeout")? {
            am.resolve_timeout = std::time::Duration::from_secs(n);
        }
        read_string_list(
            root,
            "alertmanager_output.extra_labels",
            &mut am.extra_labels,
        )?;
        sink(root, "redis_output", &mut c.redis)?;
        read_spool(root, "redis_output", &mut c.redis.spool)?;
        read_delivery(
            root,
            "redis_output",
            &mut c.redis.settings.timeout,
            &mut c.redis.retry,
        )?;
        let r = &mut c.redis.settings;
        read_string(root, "redis_output.url", &mut r.url)?;
        read_string(root, "redis_output.key", &mut r.key)?;
        let mut mode = String::new();
        read_string(root, "redis_output.mode", &mut mode)?;
        match mode.as_str() {
            "" => {}
            "stream" => r.publish = false,
            "publish" => r.publish = true,
            other => {
                return Err(bad(
                    "redis_output.mode",
                    format!("expected 'stream' or 'publish', got '{other}'"),
                ))
            }
        }
        if let Some(n) = uint(root, "redis_output.maxlen")? {
            r.maxlen = n;
        }
        sink(root, "nats_output", &mut c.nats)?;
        read_spool(root, "nats_output", &mut c.nats.spool)?;
        read_delivery(
            root,
            "nats_output",
            &mut c.nats.settings.timeout,
            &mut c.nats.retry,
        )?;
        let n = &mut c.nats.settings;
        read_string(root, "nats_output.url", &mut n.url)?;
        read_string(root, "nats_output.subject", &mut n.subject)?;
        read_bool(root, "nats_output.jetstream", &mut n.jetstream)?;
        let (mut user, mut password, mut token) = (String::new(), String::new(), String::new());
        read_string(root, "nats_output.user", &mut user)?;
        read_string(root, "nats_output.password", &mut password)?;
        read_string(root, "nats_output.token", &mut token)?;
        n.auth = nats_auth("nats_output", user, password, token)?;
        let mut tls = false;
        read_bool(root, "nats_output.tls", &mut tls)?;
        let mut files: [String; 3] = Default::default();
        for (k, slot) in ["ca_cert", "client_cert", "client_key"]
            .iter()
            .zip(files.iter_mut())
        {
            read_string(root, &format!("nats_output.{k}"), slot)?;
        }
        let [ca, cert, key] = files;
        n.tls = nats_tls("nats_output", tls, ca, cert, key)?;
        sink(root, "mqtt_output", &mut c.mqtt)?;
        read_spool(root, "mqtt_output", &mut c.mqtt.spool)?;
        read_delivery(
            root,
            "mqtt_output",
            &mut c.mqtt.settings.timeout,
            &mut c.mqtt.retry,
        )?;
        let m = &mut c.mqtt.settings;
        read_string(root, "mqtt_output.url", &mut m.url)?;
        read_string(root, "mqtt_output.topic", &mut m.topic)?;
        read_string(root, "mqtt_output.client_id", &mut m.client_id)?;
        sink(root, "webhook_output", &mut c.webhook)?;
        read_spool(root, "webhook_output", &mut c.webhook.spool)?;
        read_delivery(
            root,
            "webhook_output",
            &mut c.webhook.settings.timeout,
            &mut c.webhook.retry,
        )?;
        read_string(root, "webhook_output.url", &mut c.webhook.settings.url)?;
        let mut format = String::new();
        read_string(root, "webhook_output.format", &mut format)?;
        if !format.is_empty() {
            c.webhook.settings.format = ChatFormat::parse(&format).ok_or_else(|| {
                bad(
                    "webhook_output.format",
                    format!("expected slack, teams or discord, got '{format}'"),
                )
            })?;
        }
        sink(root, "remote_syslog_output", &mut c.remote_syslog)?;
        read_spool(root, "remote_syslog_output", &mut c.remote_syslog.spool)?;
        read_delivery(
            root,
            "remote_syslog_output",
            &mut c.remote_syslog.settings.timeout,
            &mut c.remote_syslog.retry,
        )?;
        let rs = &mut c.remote_syslog.settings;
        read_string(root, "remote_syslog_output.address", &mut rs.address)?;
        if let Some(n) = uint(root, "remote_syslog_output.facility")? {
            rs.facility = u8::try_from(n).unwrap_or(u8::MAX);
        }
        read_bool(root, "remote_syslog_output.tls", &mut rs.tls)?;
        read_string(root, "remote_syslog_output.ca_cert", &mut rs.ca_cert)?;
        Ok(c)
    }

    /// Builds the enabled outputs and starts their workers.
    pub fn build(&self) -> Result<Dispatcher, OutputError> {
        let mut specs = Vec::new();
        let mut add = |output: Box<dyn crate::Output>, route: &Route, spool, retry| {
            specs.push(OutputSpec {
                output,
                route: route.clone(),
                capacity: self.queue_capacity,
                spool,
                retry,
            })
        };
        if self.stdout.enabled {
            add(
                Box::new(StdoutOutput::stdout(self.buffered_outputs)),
                &self.stdout.route,
                None,
                Backoff::default(),
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
            add(Box::new(sink), &self.syslog.route, None, Backoff::default());
        }
        if self.file.enabled {
            let f = &self.file.settings;
            add(
                Box::new(FileOutput::new(&f.filename, f.keep_alive)),
                &self.file.route,
                None,
                Backoff::default(),
            );
        }
        if self.program.enabled {
            let p = &self.program.settings;
            add(
                Box::new(ProgramOutput::new(&p.program, p.keep_alive)),
                &self.program.route,
                None,
                Backoff::default(),
            );
        }
        // The network outputs: each is spooled when its spool is on.
        fn boxed<O: crate::Output + 'static>(
            made: Result<O, OutputError>,
        ) -> Result<Box<dyn crate::Output>, OutputError> {
            made.map(|o| Box::new(o) as Box<dyn crate::Output>)
        }
        let mut http = self.http.clone();
        http.settings.json = self.format.json_output;
        let network = [
            network(&http, "http", |s| boxed(HttpOutput::new(s)))?,
            network(&self.alertmanager, "alertmanager", |s| {
                boxed(AlertmanagerOutput::new(s))
            })?,
            network(&self.redis, "redis", |s| boxed(RedisOutput::new(s)))?,
            network(&self.nats, "nats", |s| boxed(NatsOutput::new(s)))?,
            match &self.fleet {
                Some(f) => network(f, "fleet", |s| boxed(NatsOutput::new(s)))?,
                None => None,
            },
            network(&self.mqtt, "mqtt", |s| boxed(MqttOutput::new(s)))?,
            network(&self.webhook, "webhook", |s| boxed(WebhookOutput::new(s)))?,
            network(&self.remote_syslog, "remote_syslog", |s| {
                boxed(RemoteSyslogOutput::new(s))
            })?,
        ];
        for (output, route, spool, retry) in network.into_iter().flatten() {
            add(output, route, spool, retry);
        }
        Dispatcher::new(self.format.clone(), specs, self.rate)
    }
}

/// An enabled network output `<name>_output`, built from its settings by `make`, with its
/// route, (when on) its spool and its retry backoff; `None` when it is disabled.
#[allow(clippy::type_complexity)]
fn network<'a, T: Clone>(
    block: &'a SinkConfig<T>,
    name: &str,
    make: impl FnOnce(T) -> Result<Box<dyn crate::Output>, OutputError>,
) -> Result<Option<(Box<dyn crate::Output>, &'a Route, Option<Spool>, Backoff)>, OutputError> {
    if !block.enabled {
        return Ok(None);
    }
    let output = make(block.settings.clone())?;
    let spool = open_spool(&format!("{name}_output"), name, block.spool.as_ref())?;
    Ok(Some((output, &block.route, spool, block.retry)))
}

/// `<key>.timeout_ms` (one attempt's limit) and `<key>.retry.{initial,max}_backoff_ms`.
/// Zero is refused for each (a zero timeout fails every attempt; a zero backoff spins), and
/// the maximum backoff may not be below the initial one.
pub fn read_delivery(
    root: &Value,
    key: &str,
    timeout: &mut std::time::Duration,
    retry: &mut Backoff,
) -> Result<(), OutputError> {
    let millis = |sub: &str| -> Result<Option<std::time::Duration>, OutputError> {
        let path = format!("{key}.{sub}");
        match uint(root, &path)? {
            Some(0) => Err(bad(&path, "must be at least 1 (milliseconds)")),
            Some(n) => Ok(Some(std::time::Duration::from_millis(n))),
            None => Ok(None),
        }
    };
    if let Some(t) = millis("timeout_ms")? {
        *timeout = t;
    }
    let initial = millis("retry.initial_backoff_ms")?;
    let max = millis("retry.max_backoff_ms")?;
    if let Some(i) = initial {
        retry.initial = i;
        // Only the first wait configured: the cap is at least that.
        retry.max = retry.max.max(i);
    }
    if let Some(m) = max {
        if m < retry.initial {
            return Err(bad(
                &format!("{key}.retry.max_backoff_ms"),
                format!(
                    "{} is below retry.initial_backoff_ms ({})",
                    m.as_millis(),
                    retry.initial.as_millis()
                ),
            ));
        }
        retry.max = m;
    }
    Ok(())
}

/// The spool of an enabled sink, when it is on; an error names `<key>.spool.dir`.
fn open_spool(
    key: &str,
    name: &str,
    cfg: Option<&SpoolConfig>,
) -> Result<Option<Spool>, OutputError> {
    let Some(cfg) = cfg.filter(|c| c.enabled) else {
        return Ok(None);
    };
    Spool::open(&cfg.dir, name, cfg.max_bytes)
        .map(Some)
        .map_err(|e| bad(&format!("{key}.spool.dir"), e.to_string()))
}

/// `<key>.user` / `.password` / `.token` as one credential: a user needs its password, and
/// a token goes alone.
pub fn nats_auth(
    key: &str,
    user: String,
    password: String,
    token: String,
) -> Result<NatsAuth, OutputError> {
    match (user.is_empty(), password.is_empty(), token.is_empty()) {
        (true, true, true) => Ok(NatsAuth::None),
        (true, true, false) => Ok(NatsAuth::Token(token)),
        (false, false, true) => Ok(NatsAuth::UserPassword { user, password }),
        (_, _, false) => Err(bad(
            &format!("{key}.token"),
            "give either a token or a user and password, not both",
        )),
        (false, true, true) => Err(bad(&format!("{key}.password"), "the user has no password")),
        (true, false, true) => Err(bad(&format!("{key}.user"), "the password has no user")),
    }
}

/// `<key>.tls` with `.ca_cert`, `.client_cert` and `.client_key` (PEM file paths; empty: not
/// set) as the TLS the client requires: the files need `tls: true`, and a client certificate
/// its key (and the other way round).
pub fn nats_tls(
    key: &str,
    tls: bool,
    ca_cert: String,
    client_cert: String,
    client_key: String,
) -> Result<Option<NatsTls>, OutputError> {
    let path = |p: String| (!p.is_empty()).then(|| std::path::PathBuf::from(p));
    let (ca, cert, pem_key) = (path(ca_cert), path(client_cert), path(client_key));
    if !tls {
        if ca.is_some() || cert.is_some() || pem_key.is_some() {
            return Err(bad(
                &format!("{key}.tls"),
                "ca_cert/client_cert/client_key need tls: true",
            ));
        }
        return Ok(None);
    }
    let client = match (cert, pem_key) {
        (Some(c), Some(k)) => Some((c, k)),
        (None, None) => None,
        (Some(_), None) => {
            return Err(bad(
                &format!("{key}.client_key"),
                "client_cert needs its key",
            ))
        }
        (None, Some(_)) => {
            return Err(bad(
                &format!("{key}.client_cert"),
                "client_key needs its certificate",
            ))
        }
    };
    Ok(Some(NatsTls {
        ca_cert: ca,
        client,
    }))
}

/// `<key>.spool.{enabled,dir,max_bytes}`.
pub fn read_spool(
    root: &Value,
    key: &str,
    slot: &mut Option<SpoolConfig>,
) -> Result<(), OutputError> {
    let Some(sp) = slot.as_mut() else {
        return Ok(());
    };
    read_bool(root, &format!("{key}.spool.enabled"), &mut sp.enabled)?;
    let mut dir = String::new();
    let dir_key = format!("{key}.spool.dir");
    read_string(root, &dir_key, &mut dir)?;
    if get(root, &dir_key).is_some() {
        if dir.is_empty() {
            return Err(bad(&dir_key, "the directory is empty"));
        }
        sp.dir = dir.into();
    }
    let max_key = format!("{key}.spool.max_bytes");
    if let Some(n) = uint(root, &max_key)? {
        if n == 0 {
            return Err(bad(&max_key, "must be at least 1"));
        }
        sp.max_bytes = n;
    }
    Ok(())
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

/// A list of strings (a single string counts as a list of one).
fn read_string_list(root: &Value, key: &str, slot: &mut Vec<String>) -> Result<(), OutputError> {
    match get(root, key) {
        None => Ok(()),
        Some(Value::String(s)) => {
            *slot = vec![s.clone()];
            Ok(())
        }
        Some(Value::Array(items)) => {
            *slot = items
                .iter()
                .enumerate()
                .map(|(i, v)| match v {
                    Value::String(s) => Ok(s.clone()),
                    other => Err(bad(
                        &format!("{key}[{i}]"),
                        format!("expected a string, got {other}"),
                    )),
                })
                .collect::<Result<_, _>>()?;
            Ok(())
        }
        Some(v) => Err(bad(key, format!("expected a list of strings, got {v}"))),
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
    fn nats_output_tls_keys() {
        let c = OutputsConfig::from_tree(&json!({"nats_output": {"tls": true,
            "ca_cert": "/ca.pem", "client_cert": "/c.pem", "client_key": "/k.pem"}}))
        .expect("tls");
        assert_eq!(
            c.nats.settings.tls,
            Some(NatsTls {
                ca_cert: Some("/ca.pem".into()),
                client: Some(("/c.pem".into(), "/k.pem".into())),
            })
        );
        let plain = OutputsConfig::from_tree(&json!({"nats_output": {"tls": "false"}}));
        assert_eq!(plain.expect("plain").nats.settings.tls, None);
        for (tree, key) in [
            (json!({"ca_cert": "/ca.pem"}), "nats_output.tls"),
            (
                json!({"tls": true, "client_cert": "/c.pem"}),
                "nats_output.client_key",
            ),
            (
                json!({"tls": true, "client_key": "/k.pem"}),
                "nats_output.client_cert",
            ),
            (json!({"tls": "maybe"}), "nats_output.tls"),
        ] {
            let e = OutputsConfig::from_tree(&json!({ "nats_output": tree }))
                .expect_err("refused")
                .to_string();
            assert!(e.contains(key), "{e}");
        }
    }

    #[test]
    fn falco_defaults() {
        let c = OutputsConfig::from_tree(&json!({})).expect("empty tree");
        assert_eq!(c, OutputsConfig::default());
        assert!(c.stdout.enabled && c.syslog.enabled && !c.file.enabled && !c.http.enabled);
        assert_eq!(c.http.settings.user_agent, "falcosecurity/falco");
        assert_eq!(c.syslog.settings.socket, "/dev/log");
        assert_eq!(c.http.spool, Some(SpoolConfig::default()));
        assert_eq!(c.file.spool, None);
    }

    #[test]
    fn reads_the_alertmanager_block() {
        let c = OutputsConfig::from_tree(&json!({
            "alertmanager_output": {"enabled": true, "url": "http://am:9093",
                "resolve_timeout": 60, "extra_labels": ["proc.name"], "min_priority": "error",
                "spool": {"dir": "/tmp/am"}},
        }))
        .expect("valid tree");
        assert!(c.alertmanager.enabled);
        assert_eq!(c.alertmanager.route.min_priority, Some(Priority::Error));
        let am = &c.alertmanager.settings;
        assert_eq!(am.url, "http://am:9093");
        assert_eq!(am.resolve_timeout, std::time::Duration::from_secs(60));
        assert_eq!(am.extra_labels, ["proc.name"]);
        assert_eq!(
            c.alertmanager.spool.as_ref().map(|s| s.dir.clone()),
            Some("/tmp/am".into())
        );
    }

    #[test]
    fn reads_the_redis_block() {
        let c = OutputsConfig::from_tree(&json!({
            "redis_output": {"enabled": true, "url": "redis://r:1/2", "key": "k.{priority}",
                "mode": "publish", "maxlen": "10"},
        }))
        .expect("valid tree");
        assert!(c.redis.enabled);
        assert_eq!(
            c.redis.settings,
            RedisConfig {
                url: "redis://r:1/2".into(),
                key: "k.{priority}".into(),
                publish: true,
                maxlen: 10,
                ..RedisConfig::default()
            }
        );
        assert_eq!(c.redis.spool, Some(SpoolConfig::default()));
    }

    #[test]
    fn reads_the_nats_block() {
        let c = OutputsConfig::from_tree(&json!({
            "nats_output": {"enabled": true, "url": "nats://n:4222", "subject": "a.{rule}",
                "jetstream": true, "spool": {"enabled": false}},
        }))
        .expect("valid tree");
        assert!(c.nats.enabled && c.nats.settings.jetstream);
        assert_eq!(c.nats.settings.url, "nats://n:4222");
        assert_eq!(c.nats.settings.subject, "a.{rule}");
        assert_eq!(c.nats.spool.as_ref().map(|s| s.enabled), Some(false));
        let c = OutputsConfig::from_tree(&json!({
            "mqtt_output": {"enabled": true, "url": "mqtt://m:1", "topic": "t/{rule}",
                "client_id": "edge-1"},
        }))
        .expect("valid tree");
        assert!(c.mqtt.enabled);
        assert_eq!(
            c.mqtt.settings,
            MqttConfig {
                url: "mqtt://m:1".into(),
                topic: "t/{rule}".into(),
                client_id: "edge-1".into(),
                ..MqttConfig::default()
            }
        );
    }

    #[test]
    fn reads_the_spool_block() {
        let c = OutputsConfig::from_tree(&json!({
            "http_output": {"spool": {"enabled": "false", "dir": "/tmp/s", "max_bytes": "1024"}},
        }))
        .expect("valid tree");
        assert_eq!(
            c.http.spool,
            Some(SpoolConfig {
                enabled: false,
                dir: "/tmp/s".into(),
                max_bytes: 1024
            })
        );
    }

    #[test]
    fn an_unusable_spool_dir_names_its_key() {
        let file = std::env::temp_dir().join(format!("pg-spool-notadir-{}", std::process::id()));
        std::fs::write(&file, "x").expect("file");
        let c = OutputsConfig::from_tree(&json!({
            "stdout_output": {"enabled": false},
            "syslog_output": {"enabled": false},
            "http_output": {"enabled": true, "url": "http://127.0.0.1:9/",
                            "spool": {"dir": file.display().to_string()}},
        }))
        .expect("valid tree");
        match c.build() {
            Err(OutputError::Config { key, reason }) => {
                assert_eq!(key, "http_output.spool.dir");
                assert!(reason.contains(&file.display().to_string()), "{reason}");
            }
            Err(e) => panic!("wrong error: {e}"),
            Ok(_) => panic!("a file as spool dir was accepted"),
        }
        let _ = std::fs::remove_file(&file);
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
                json!({"http_output": {"spool": {"max_bytes": 0}}}),
                "http_output.spool.max_bytes",
            ),
            (
                json!({"http_output": {"spool": {"enabled": "sometimes"}}}),
                "http_output.spool.enabled",
            ),
            (
                json!({"http_output": {"spool": {"dir": ""}}}),
                "http_output.spool.dir",
            ),
            (
                json!({"alertmanager_output": {"extra_labels": ["a", 3]}}),
                "alertmanager_output.extra_labels[1]",
            ),
            (
                json!({"alertmanager_output": {"resolve_timeout": "soon"}}),
                "alertmanager_output.resolve_timeout",
            ),
            (
                json!({"redis_output": {"mode": "queue"}}),
                "redis_output.mode",
            ),
            (
                json!({"nats_output": {"jetstream": "perhaps"}}),
                "nats_output.jetstream",
            ),
            (
                json!({"mqtt_output": {"url": {"host": "x"}}}),
                "mqtt_output.url",
            ),
            (
                json!({"webhook_output": {"format": "irc"}}),
                "webhook_output.format",
            ),
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
            (
                json!({"nats_output": {"timeout_ms": 0}}),
                "nats_output.timeout_ms",
            ),
            (
                json!({"redis_output": {"timeout_ms": "soon"}}),
                "redis_output.timeout_ms",
            ),
            (
                json!({"http_output": {"retry": {"initial_backoff_ms": 0}}}),
                "http_output.retry.initial_backoff_ms",
            ),
            (
                json!({"mqtt_output": {"retry": {"initial_backoff_ms": 500, "max_backoff_ms": 100}}}),
                "mqtt_output.retry.max_backoff_ms",
            ),
        ] {
            match OutputsConfig::from_tree(&tree) {
                Err(OutputError::Config { key: k, .. }) => assert_eq!(k, key),
                other => panic!("{tree}: expected an error for {key}, got {other:?}"),
            }
        }
    }

    #[test]
    fn timeouts_and_backoff_per_network_output() {
        use std::time::Duration;
        let c = OutputsConfig::from_tree(&json!({
            "http_output": {"timeout_ms": 250, "retry": {"initial_backoff_ms": 20, "max_backoff_ms": 400}},
            "alertmanager_output": {"timeout_ms": "1500"},
            "redis_output": {"timeout_ms": 300},
            "nats_output": {"timeout_ms": 200, "retry": {"initial_backoff_ms": 30000}},
            "mqtt_output": {"retry": {"max_backoff_ms": 2000}},
            "webhook_output": {"timeout_ms": 700},
            "remote_syslog_output": {"timeout_ms": 900},
        }))
        .expect("valid tree");
        let ms = Duration::from_millis;
        assert_eq!(c.http.settings.timeout, ms(250));
        assert_eq!(
            c.http.retry,
            Backoff {
                initial: ms(20),
                max: ms(400)
            }
        );
        // The HTTP client's own retries (spool off) start from the same wait.
        assert_eq!(c.http.settings.backoff, ms(20));
        assert_eq!(c.alertmanager.settings.timeout, ms(1500));
        assert_eq!(c.redis.settings.timeout, ms(300));
        assert_eq!(c.nats.settings.timeout, ms(200));
        // A first wait above the default cap raises the cap to it.
        assert_eq!(
            c.nats.retry,
            Backoff {
                initial: ms(30_000),
                max: ms(30_000)
            }
        );
        assert_eq!(
            c.mqtt.retry,
            Backoff {
                initial: crate::queue::RETRY_FIRST,
                max: ms(2000)
            }
        );
        assert_eq!(
            c.mqtt.settings.timeout,
            crate::mqtt_output::MqttConfig::default().timeout
        );
        assert_eq!(c.webhook.settings.timeout, ms(700));
        assert_eq!(c.remote_syslog.settings.timeout, ms(900));
        assert_eq!(OutputsConfig::default().redis.retry, Backoff::default());
    }
}
