//! Command-line flags, in two layers as ripgrep does them.
//!
//! [`LowArgs`] is what clap parses: Falco's flags, spelled like Falco's, with no meaning attached
//! yet. [`HiArgs::from_low`] turns them into one validated [`Mode`] plus the [`Config`] built
//! from `-c` and `-o`, resolving precedence (`--version` over `--list` over `-V` over `-L`/`-l`
//! over running) and expanding rules directories. Everything after that works on `HiArgs` only,
//! so a new flag is one field here and one decision in `from_low`.

use anyhow::bail;
use clap::{Parser, Subcommand, ValueEnum};
use peregrine_config::{expand_rules_path, Config};
use peregrine_runtime::capture::CaptureArgs;
use peregrine_runtime::events::EventsArgs;
use peregrine_runtime::fleet::ServeArgs;
use peregrine_runtime::listing::FieldsFormat;
use peregrine_runtime::run::{ReportFormat, RunCmdArgs, EXIT_ALERT};
pub use peregrine_runtime::RulesSource;

/// The one event source Peregrine has.
const SYSCALL_SOURCE: &str = "syscall";
const K8S_AUDIT_SOURCE: &str = "k8s_audit";
use std::path::PathBuf;

/// Falco-compatible runtime security for Linux.
#[derive(Debug, Parser)]
#[command(name = "peregrine", disable_version_flag = true)]
pub struct LowArgs {
    /// Configuration file (falco.yaml format).
    #[arg(short = 'c', value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Rules file or directory (its *.yaml files, sorted); repeatable. Replaces `rules_files`.
    #[arg(short = 'r', value_name = "FILE|DIR")]
    pub rules: Vec<PathBuf>,

    /// Validate rules files and exit (non-zero if one fails); repeatable.
    #[arg(short = 'V', long = "validate", value_name = "FILE")]
    pub validate: Vec<PathBuf>,

    /// List the loaded rules (name and description) and exit.
    #[arg(short = 'L')]
    pub list_rules: bool,

    /// Describe one rule (JSON, including its compiled condition) and exit.
    #[arg(short = 'l', value_name = "RULE")]
    pub describe: Option<String>,

    /// List the fields the condition language knows (optionally of one event source) and exit.
    #[arg(long = "list", value_name = "SOURCE", num_args = 0..=1, default_missing_value = "")]
    pub list: Option<String>,

    /// Output format of --list.
    #[arg(long = "format", value_enum, default_value_t = ListFormat::Text)]
    pub format: ListFormat,

    /// With --list: Markdown output (Falco's older spelling of --format markdown).
    #[arg(long = "markdown")]
    pub markdown: bool,

    /// With --list: print field names only.
    #[arg(short = 'N')]
    pub names_only: bool,

    /// Set a configuration key, Falco syntax: a.b=v, list[]=v, list[0].x=v; repeatable.
    #[arg(short = 'o', long = "option", value_name = "KEY=VALUE")]
    pub options: Vec<String>,

    /// Load everything, then exit before capturing.
    #[arg(long = "dry-run")]
    pub dry_run: bool,

    /// Response policies only log and audit what they would do (same as
    /// -o response.dry_run=true).
    #[arg(long = "dry-run-actions")]
    pub dry_run_actions: bool,

    /// Stop after this many seconds.
    #[arg(short = 'M', value_name = "SECONDS")]
    pub duration: Option<u64>,

    /// Do not buffer outputs.
    #[arg(short = 'U', long = "unbuffered")]
    pub unbuffered: bool,

    /// Monitor all events (same as -o base_syscalls.all=true).
    #[arg(short = 'A')]
    pub all_events: bool,

    /// Print version information and exit.
    #[arg(long = "version")]
    pub version: bool,

    /// More log output on stderr (repeat for more).
    #[arg(short = 'v', action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Write the agent's pid to this file while it runs.
    #[arg(short = 'P', long = "pidfile", value_name = "FILE")]
    pub pidfile: Option<PathBuf>,

    /// Disable an event source (Falco's flag; Peregrine has only `syscall`).
    #[arg(long = "disable-source", value_name = "SOURCE")]
    pub disable_source: Vec<String>,

    /// Enable only these event sources (Falco's flag; Peregrine has only `syscall`).
    #[arg(long = "enable-source", value_name = "SOURCE")]
    pub enable_source: Vec<String>,

    /// Print the syscalls ignored by default (Peregrine ignores none) and exit.
    #[arg(short = 'i')]
    pub ignored_events: bool,

    /// List the event table (syscall and other events with their parameters) and exit.
    #[arg(long = "list-events")]
    pub list_events: bool,

    /// Print the JSON schema of the configuration file and exit.
    #[arg(long = "config-schema")]
    pub config_schema: bool,

    /// Print the JSON schema of rules files and exit.
    #[arg(long = "rule-schema")]
    pub rule_schema: bool,

    /// Print the system page size and exit.
    #[arg(long = "page-size")]
    pub page_size: bool,

    /// Print info on all loaded plugins (Peregrine loads none) and exit.
    #[arg(long = "list-plugins")]
    pub list_plugins: bool,

    /// Print info for the plugin named NAME and exit (Peregrine loads none: an error).
    #[arg(long = "plugin-info", value_name = "NAME")]
    pub plugin_info: Option<String>,

    /// DEPRECATED (as in Falco): append FORMAT to every rule's output (same as
    /// `-o append_output[]={extra_output: FORMAT}`); `c`, `container`, `k` and `kubernetes`
    /// add nothing, the container fields being suggested already.
    #[arg(short = 'p', long = "print", value_name = "FORMAT")]
    pub print: Option<String>,

    /// Print support information (versions, system, configuration, rules files) as JSON.
    #[arg(long = "support")]
    pub support: bool,

    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Peregrine's own subcommands; Falco's flags keep the top level. A new subcommand is a
/// variant here, a [`Mode`] and an arm in `main::run`.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Parse a condition and print its normalised form (exit 1 with the error if it fails).
    ParseCondition {
        /// The condition text.
        expr: String,
    },
    /// Print live kernel events, one per line (as root).
    Events(EventsFlags),
    /// Record live events into a scap capture file (as root), like `sysdig -w`.
    Capture(CaptureFlags),
    /// Replay a scap capture through the rules, as fast as possible (same as
    /// `-o engine.kind=replay -o engine.replay.capture_file=FILE`).
    Replay {
        /// The capture file (.scap, plain or gzip).
        file: std::path::PathBuf,
    },
    /// Run CMD under the rules (as root) and watch only its process tree, for a CI job.
    ///
    /// The capture is attached first, then CMD starts; alerts from CMD and its descendants
    /// print as they come (text or JSON per `json_output`), SIGINT/SIGTERM are passed on to
    /// CMD, and the run ends when CMD does. Rules: the embedded defaults, or `-r`/`-c` as for
    /// the agent (`peregrine -r rules.yaml run -- make`).
    ///
    /// Exit status: CMD's own (128 + N when signal N ended it), or 3 when an alert at or
    /// above --fail-on fired; 1 when Peregrine itself cannot run (not root: CMD is not
    /// started), 2 for a usage error.
    #[command(
        after_help = "Exit status: CMD's own status, or 3 when an alert at or above --fail-on fired."
    )]
    Run(RunFlags),
    /// Run rule tests: YAML files (or directories of them) naming rules, an input (inline
    /// events, a capture file, or a command run live as root) and the alerts expected.
    ///
    /// Exit status: 0 when every test passed, 1 when one failed or a test file is invalid
    /// (reported as file:line:column).
    Test(TestFlags),
    /// Propose Falco exceptions that silence observed (benign) alerts, as a rules file to
    /// review and load after the rules it tunes. Rules: --rules, else `-r`/`-c` as for the
    /// agent, else the embedded defaults.
    Tune(TuneFlags),
    /// Watch a command (its process tree, until it exits) or the whole host (for --seconds),
    /// as root, and write the behaviour seen — executables, directories written, outbound
    /// destinations, listening ports, per container image — as rules that alert on anything
    /// else.
    Learn(LearnFlags),
    /// Run the fleet server: consume the agents' JetStream streams (the `fleet` block of
    /// -c), store their alerts, track their heartbeats, and serve the console API across the
    /// hosts (`webserver` and `console` blocks) until SIGINT or SIGTERM.
    Server(ServerFlags),
}

/// Arguments of `peregrine learn`.
#[derive(clap::Args, Debug, Clone)]
pub struct LearnFlags {
    /// How long to watch the host when no command is given.
    #[arg(long = "seconds", value_name = "N", default_value_t = 60)]
    pub seconds: u64,
    /// Keep only the processes of containers of this image (`container.image.repository`).
    #[arg(long = "image", value_name = "REPOSITORY")]
    pub image: Option<String>,
    /// Write the profile itself (YAML) to FILE.
    #[arg(long = "profile", value_name = "FILE")]
    pub profile: Option<PathBuf>,
    /// Where to write the generated rules.
    #[arg(short = 'o', long = "output", value_name = "FILE", required = true)]
    pub output: PathBuf,
    /// The command to watch, after `--` (the whole host without one).
    #[arg(last = true, value_name = "CMD")]
    pub command: Vec<std::ffi::OsString>,
}

/// Arguments of `peregrine test`.
#[derive(clap::Args, Debug, Clone)]
pub struct TestFlags {
    /// Test files, or directories searched for *.yaml test files.
    #[arg(required = true, value_name = "FILE|DIR")]
    pub paths: Vec<PathBuf>,
    /// Also write the results as JUnit XML to FILE.
    #[arg(long = "junit", value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Print TAP (version 13) instead of the text report.
    #[arg(long = "tap")]
    pub tap: bool,
}

/// Arguments of `peregrine tune`.
#[derive(clap::Args, Debug, Clone)]
pub struct TuneFlags {
    /// Alerts as Falco JSON, one per line (a `file_output` with `json_output`, or the alert
    /// store's JSON-lines export).
    #[arg(
        long = "from",
        value_name = "FILE",
        conflicts_with = "store",
        required_unless_present = "store"
    )]
    pub from: Option<PathBuf>,
    /// The alert store's database (`alert_store.path`).
    #[arg(long = "store", value_name = "PATH")]
    pub store: Option<PathBuf>,
    /// The rules files the alerts came from, in load order (repeatable).
    #[arg(long = "rules", value_name = "FILE")]
    pub rules: Vec<PathBuf>,
    /// Where to write the tuned rules file (stdout without it).
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// Arguments of `peregrine server`.
#[derive(clap::Args, Debug, Clone)]
pub struct ServerFlags {
    /// The alert store: a PostgreSQL URL (`postgres://user:password@host:port/db`) or a
    /// SQLite file (created when missing).
    #[arg(long = "store", value_name = "URL|PATH")]
    pub store: String,
    /// A host is covered when its last heartbeat is at most this many seconds old.
    #[arg(long = "coverage-window", value_name = "SECONDS", default_value_t = 45,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub coverage_window: u64,
    /// The hosts expected to report, one per line (`#` comments); without it, every host
    /// seen is expected.
    #[arg(long = "expect-hosts", value_name = "FILE")]
    pub expect_hosts: Option<PathBuf>,
}

impl From<ServerFlags> for ServeArgs {
    fn from(f: ServerFlags) -> Self {
        ServeArgs {
            store: f.store,
            coverage_window: std::time::Duration::from_secs(f.coverage_window),
            expect_hosts: f.expect_hosts,
        }
    }
}

/// Arguments of `peregrine run`.
#[derive(clap::Args, Debug, Clone)]
pub struct RunFlags {
    /// Exit with status 3 when an alert of this priority or a more severe one fires
    /// (emergency … debug); without it, any alert does.
    #[arg(long = "fail-on", value_name = "PRIORITY", value_parser = parse_priority)]
    pub fail_on: Option<peregrine_filter::priority::Priority>,
    /// Write a report (command, status, duration, alerts) to FILE at the end.
    #[arg(long = "report", value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// The report's format.
    #[arg(long = "report-format", value_enum, default_value_t = ReportFormatFlag::Json)]
    pub report_format: ReportFormatFlag,
    /// The command and its arguments, after `--`.
    #[arg(last = true, required = true, num_args = 1.., value_name = "CMD")]
    pub command: Vec<std::ffi::OsString>,
}

fn parse_priority(s: &str) -> Result<peregrine_filter::priority::Priority, String> {
    peregrine_filter::priority::Priority::parse(s).ok_or_else(|| {
        format!("unknown priority {s:?} (emergency, alert, critical, error, warning, notice, informational, debug)")
    })
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ReportFormatFlag {
    Json,
    Junit,
    Sarif,
}

impl From<RunFlags> for RunCmdArgs {
    fn from(f: RunFlags) -> Self {
        RunCmdArgs {
            command: f.command,
            fail_on: f.fail_on,
            report: f.report,
            report_format: match f.report_format {
                ReportFormatFlag::Json => ReportFormat::Json,
                ReportFormatFlag::Junit => ReportFormat::Junit,
                ReportFormatFlag::Sarif => ReportFormat::Sarif,
            },
        }
    }
}

// The documented status must stay the runtime's.
const _: () = assert!(EXIT_ALERT == 3);

/// Arguments of `peregrine events`.
#[derive(clap::Args, Debug, Clone)]
pub struct EventsFlags {
    /// Condition selecting events, in Falco's condition language (`evt.type=openat and
    /// proc.name=cat`, `fd.name contains /etc and not user.name=root`).
    pub filter: Vec<String>,
    /// Stop after N events.
    #[arg(short = 'n', long = "numevents")]
    pub numevents: Option<u64>,
    /// Output format with %field tokens (any field of `--list`), e.g. `%evt.num %proc.name
    /// %evt.type %fd.name %evt.arg.flags`.
    #[arg(short = 'p', long = "print")]
    pub print: Option<String>,
    /// Capture only this process (thread group id).
    #[arg(long)]
    pub pid: Option<u32>,
    /// Kernel ring buffer size in bytes (a power of two).
    #[arg(long, default_value_t = 8 << 20)]
    pub ring_bytes: u32,
    /// Print kernel drop counters to stderr at exit.
    #[arg(long)]
    pub stats: bool,
}

/// Arguments of `peregrine capture`.
#[derive(clap::Args, Debug, Clone)]
pub struct CaptureFlags {
    /// The capture file to write (with rotation: FILE0, FILE1, …).
    #[arg(short = 'w', value_name = "FILE")]
    pub file: PathBuf,
    /// Condition selecting the events to write (Falco's condition language).
    pub filter: Vec<String>,
    /// Stop after N events were written.
    #[arg(short = 'n', long = "numevents")]
    pub numevents: Option<u64>,
    /// Stop after this many seconds.
    #[arg(short = 'M', value_name = "SECS")]
    pub duration: Option<u64>,
    /// Start a new file when the current one holds this many megabytes (10^6 bytes, before
    /// compression).
    #[arg(short = 'C', value_name = "MB")]
    pub file_size_mb: Option<u64>,
    /// Start a new file every SECS seconds.
    #[arg(short = 'G', value_name = "SECS")]
    pub rotate_secs: Option<u64>,
    /// With -C or -G: keep at most N files, overwriting the oldest (FILE0 … FILE<N-1>).
    #[arg(short = 'W', value_name = "N")]
    pub file_count: Option<u32>,
    /// gzip the file(s).
    #[arg(short = 'z', long = "compress")]
    pub gzip: bool,
    /// Kernel ring buffer size in bytes (a power of two).
    #[arg(long, default_value_t = 8 << 20)]
    pub ring_bytes: u32,
}

impl From<EventsFlags> for EventsArgs {
    fn from(f: EventsFlags) -> Self {
        EventsArgs {
            filter: f.filter,
            numevents: f.numevents,
            print: f.print,
            pid: f.pid,
            ring_bytes: f.ring_bytes,
            stats: f.stats,
        }
    }
}

impl From<CaptureFlags> for CaptureArgs {
    fn from(f: CaptureFlags) -> Self {
        CaptureArgs {
            file: f.file,
            filter: f.filter,
            numevents: f.numevents,
            duration: f.duration,
            file_size_mb: f.file_size_mb,
            rotate_secs: f.rotate_secs,
            file_count: f.file_count,
            gzip: f.gzip,
            ring_bytes: f.ring_bytes,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    Text,
    Markdown,
    Json,
}

impl From<ListFormat> for FieldsFormat {
    fn from(f: ListFormat) -> Self {
        match f {
            ListFormat::Text => FieldsFormat::Text,
            ListFormat::Markdown => FieldsFormat::Markdown,
            ListFormat::Json => FieldsFormat::Json,
        }
    }
}

/// What one invocation does. (Not `PartialEq`: the events arguments are not; tests compare
/// the `Debug` form.)
#[derive(Debug)]
pub enum Mode {
    ParseCondition(String),
    Events(EventsArgs),
    Capture(CaptureArgs),
    Version,
    ListFields {
        source: Option<String>,
        format: ListFormat,
        names_only: bool,
        /// `-v`: include field types.
        verbose: bool,
    },
    Validate(Vec<PathBuf>),
    /// `--support`: versions, system, configuration and rules contents as JSON.
    Support,
    /// `-i`.
    IgnoredEvents,
    /// `--list-events`; JSON with `--format json`.
    ListEvents {
        json: bool,
    },
    ConfigSchema,
    RuleSchema,
    PageSize,
    ListPlugins,
    PluginInfo(String),
    ListRules,
    Describe(String),
    /// `peregrine run -- CMD`.
    RunCommand(RunCmdArgs),
    /// `peregrine test`.
    Test(TestFlags),
    /// `peregrine tune`.
    Tune(TuneFlags),
    /// `peregrine learn`.
    Learn(LearnFlags),
    /// `peregrine server`.
    Server(ServeArgs),
    /// Load the rules, print a summary; capture comes later.
    Run {
        dry_run: bool,
        duration: Option<u64>,
    },
}

/// Validated arguments.
#[derive(Debug)]
pub struct HiArgs {
    pub mode: Mode,
    pub config: Config,
    pub rules: RulesSource,
    /// Non-fatal problems found while validating (unknown config keys), for the caller to log.
    pub warnings: Vec<String>,
    /// `-v`: fuller output where Falco has it (`-V` details, `--list` types).
    pub verbose: bool,
    /// `-c FILE` (or the default file read without `-c`), watched for changes with the rules
    /// files (`watch_config_files`).
    pub config_file: Option<PathBuf>,
    /// Every configuration file read, the main one first, then its `config_files` drop-ins.
    pub config_files: Vec<PathBuf>,
    /// `-P FILE`.
    pub pidfile: Option<PathBuf>,
}

impl HiArgs {
    pub fn from_low(low: LowArgs) -> anyhow::Result<HiArgs> {
        // With no -c, Falco reads its installed file when there is one.
        let main_file = match &low.config {
            Some(path) => Some(path.clone()),
            None => peregrine_config::default_config_file(),
        };
        // Flags that stand for options apply in this order: -A and `replay` before -o, -U
        // after it (-U wins over the file and -o, as in Falco). All of them apply after the
        // `config_files` drop-ins, as -o does in Falco.
        let mut options = Vec::new();
        if low.all_events {
            options.push("base_syscalls.all=true".to_string());
        }
        if let Some(Command::Replay { file }) = &low.command {
            options.push("engine.kind=replay".to_string());
            options.push(format!("engine.replay.capture_file={}", file.display()));
        }
        options.extend(low.options.iter().cloned());
        if low.unbuffered {
            options.push("buffered_outputs=false".to_string());
        }
        // After -o, so the flag wins over the file and -o.
        if low.dry_run_actions {
            options.push("response.dry_run=true".to_string());
        }
        let loaded = peregrine_config::load(main_file.as_deref(), &options)?;
        let tree = loaded.tree;
        // The agent's own logging obeys the file and -o before the rest is interpreted, so
        // that what interpreting it logs already follows `log_level`; a bad value is
        // reported by `Config::from_tree` just below.
        if let Ok(log) = peregrine_config::LogConfig::from_root(&tree.expanded_root()) {
            crate::logging::configure(&log);
        }
        let (config, warnings) = Config::from_tree(&tree)?;
        let format = if low.markdown {
            ListFormat::Markdown
        } else {
            low.format
        };
        let replay = matches!(low.command, Some(Command::Replay { .. }));
        let mode = if let Some(Command::ParseCondition { expr }) = low.command {
            Mode::ParseCondition(expr)
        } else if let Some(Command::Events(events)) = low.command {
            Mode::Events(events.into())
        } else if let Some(Command::Capture(capture)) = low.command {
            Mode::Capture(capture.into())
        } else if let Some(Command::Run(run)) = low.command {
            Mode::RunCommand(run.into())
        } else if let Some(Command::Test(test)) = low.command {
            Mode::Test(test)
        } else if let Some(Command::Tune(tune)) = low.command {
            Mode::Tune(tune)
        } else if let Some(Command::Learn(learn)) = low.command {
            Mode::Learn(learn)
        } else if let Some(Command::Server(server)) = low.command {
            Mode::Server(server.into())
        } else if low.config_schema {
            Mode::ConfigSchema
        } else if low.rule_schema {
            Mode::RuleSchema
        } else if low.ignored_events {
            Mode::IgnoredEvents
        } else if low.list_events {
            Mode::ListEvents {
                json: format == ListFormat::Json,
            }
        } else if low.version {
            Mode::Version
        } else if low.page_size {
            Mode::PageSize
        } else if let Some(name) = low.plugin_info {
            Mode::PluginInfo(name)
        } else if low.list_plugins {
            Mode::ListPlugins
        } else if low.support {
            Mode::Support
        } else if let Some(source) = low.list {
            Mode::ListFields {
                source: Some(source).filter(|s| !s.is_empty()),
                format,
                names_only: low.names_only,
                verbose: low.verbose > 0,
            }
        } else if !low.validate.is_empty() {
            Mode::Validate(low.validate)
        } else if let Some(rule) = low.describe {
            Mode::Describe(rule)
        } else if low.list_rules {
            Mode::ListRules
        } else {
            Mode::Run {
                dry_run: low.dry_run,
                duration: low.duration,
            }
        };

        // Falco's select_event_sources: `syscall`, plus `k8s_audit` when the configuration
        // loads the k8saudit plugin (provided natively).
        if !low.enable_source.is_empty() && !low.disable_source.is_empty() {
            bail!("You can not mix --enable-source and --disable-source");
        }
        let mut config = config;
        // Plugins load before anything else reads rules: their sources and fields are what
        // rules are checked against (Falco loads them first too).
        if !config.plugin_libraries.is_empty() {
            let host = peregrine_runtime::plugins::load(&config.plugin_libraries)?;
            config.loaded_plugins = host.native_plugins();
        }
        let plugin_sources: Vec<String> = config
            .loaded_plugins
            .iter()
            .filter_map(|p| p.source.clone())
            .collect();
        let known = |s: &str| {
            s == SYSCALL_SOURCE
                || (s == K8S_AUDIT_SOURCE && config.sources.k8s_audit)
                || plugin_sources.iter().any(|p| p == s)
        };
        for source in &low.enable_source {
            if !known(source) {
                bail!("Attempted enabling an unknown event source: {source}");
            }
        }
        for source in &low.disable_source {
            if !known(source) {
                bail!("Attempted disabling an unknown event source: {source}");
            }
        }
        let on = |s: &str, default: bool| {
            if !low.enable_source.is_empty() {
                low.enable_source.iter().any(|e| e == s)
            } else {
                default && !low.disable_source.iter().any(|d| d == s)
            }
        };
        config.sources = peregrine_config::Sources {
            syscall: on(SYSCALL_SOURCE, true),
            k8s_audit: on(K8S_AUDIT_SOURCE, config.sources.k8s_audit),
        };
        config.plugin_sources = plugin_sources.into_iter().filter(|s| on(s, true)).collect();
        let runs =
            matches!(mode, Mode::Run { dry_run: false, .. } | Mode::RunCommand(_)) && !replay;
        if runs
            && !config.sources.syscall
            && !config.sources.k8s_audit
            && config.plugin_sources.is_empty()
        {
            bail!("Must enable at least one event source");
        }

        let mut warnings = warnings;
        if let Some(format) = &low.print {
            // Falco 0.44's init_falco_engine: a deprecation warning, then the format is
            // appended to every rule's output, except the container/Kubernetes shorthands,
            // which the container fields' suggested output replaced.
            warnings.push(
                "The -p/--print option is deprecated and will be removed. Use -o append_output=... instead."
                    .to_string(),
            );
            if !matches!(format.as_str(), "c" | "container" | "k" | "kubernetes") {
                config.append_output.push(peregrine_config::AppendOutput {
                    extra_output: Some(format.clone()),
                    ..peregrine_config::AppendOutput::default()
                });
            }
        }

        // -r replaces the configured files, as in Falco.
        let listed = if low.rules.is_empty() {
            config.rules_files.clone()
        } else {
            low.rules
        };
        let rules = if listed.is_empty() {
            RulesSource::Embedded
        } else {
            let mut files = Vec::new();
            for path in &listed {
                files.extend(expand_rules_path(path)?);
            }
            RulesSource::Files(files)
        };
        Ok(HiArgs {
            mode,
            config,
            rules,
            warnings,
            verbose: low.verbose > 0,
            config_file: main_file,
            config_files: loaded.files,
            pidfile: low.pidfile,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hi(args: &[&str]) -> HiArgs {
        let low = LowArgs::try_parse_from(std::iter::once("peregrine").chain(args.iter().copied()))
            .expect("flags parse");
        HiArgs::from_low(low).expect("flags validate")
    }

    /// Checks the mode chosen for a command line.
    fn check(args: &[&str], expected: Mode) {
        assert_eq!(
            format!("{:?}", hi(args).mode),
            format!("{expected:?}"),
            "{args:?}"
        );
    }

    #[test]
    fn modes_follow_falco_precedence() {
        let run = Mode::Run {
            dry_run: false,
            duration: None,
        };
        check(&[], run);
        check(
            &["--dry-run", "-M", "5"],
            Mode::Run {
                dry_run: true,
                duration: Some(5),
            },
        );
        check(&["-L"], Mode::ListRules);
        check(&["-L", "-l", "x"], Mode::Describe("x".into()));
        check(
            &["-V", "a.yaml", "-L"],
            Mode::Validate(vec!["a.yaml".into()]),
        );
        check(&["--version", "-L"], Mode::Version);
        let fields = |source: Option<&str>, format, names_only| Mode::ListFields {
            source: source.map(String::from),
            format,
            names_only,
            verbose: false,
        };
        check(&["--list"], fields(None, ListFormat::Text, false));
        check(
            &["--list", "syscall", "-N"],
            fields(Some("syscall"), ListFormat::Text, true),
        );
        check(
            &["--list", "--format", "json"],
            fields(None, ListFormat::Json, false),
        );
        check(
            &["--list", "--markdown"],
            fields(None, ListFormat::Markdown, false),
        );
        check(
            &["parse-condition", "a=b"],
            Mode::ParseCondition("a=b".into()),
        );
    }

    #[test]
    fn falcos_informational_flags_come_before_version() {
        check(&["--config-schema", "--version"], Mode::ConfigSchema);
        check(&["--rule-schema", "-i"], Mode::RuleSchema);
        check(&["-i", "--list-events"], Mode::IgnoredEvents);
        check(
            &["--list-events", "--format", "json", "--version"],
            Mode::ListEvents { json: true },
        );
        check(&["--version", "--page-size"], Mode::Version);
        check(&["--page-size", "--list-plugins"], Mode::PageSize);
        check(
            &["--plugin-info", "x", "--list-plugins"],
            Mode::PluginInfo("x".into()),
        );
        check(&["--list-plugins", "-L"], Mode::ListPlugins);
    }

    #[test]
    fn print_flag_becomes_an_append_output_entry() {
        let h = hi(&["-p", "on %proc.name"]);
        assert_eq!(
            h.config
                .append_output
                .last()
                .and_then(|a| a.extra_output.as_deref()),
            Some("on %proc.name")
        );
        assert!(h.warnings.iter().any(|w| w.contains("deprecated")));
        for short in ["-pc", "-pk", "-pcontainer", "-pkubernetes"] {
            assert!(hi(&[short]).config.append_output.is_empty(), "{short}");
        }
    }

    #[test]
    fn events_subcommand_keeps_its_own_flags() {
        let mode = hi(&["events", "-n", "5", "evt.type=openat"]).mode;
        let Mode::Events(args) = mode else {
            panic!("expected events, got {mode:?}")
        };
        assert_eq!(args.numevents, Some(5));
        assert_eq!(args.filter, vec!["evt.type=openat"]);
    }

    #[test]
    fn capture_subcommand_takes_sysdig_flags() {
        let mode = hi(&[
            "capture",
            "-w",
            "/tmp/x.scap",
            "-n",
            "9",
            "-M",
            "3",
            "-C",
            "2",
            "-W",
            "4",
            "-z",
            "evt.type=openat",
            "and",
            "proc.name=cat",
        ])
        .mode;
        let Mode::Capture(args) = mode else {
            panic!("expected capture, got {mode:?}")
        };
        assert_eq!(args.file, std::path::PathBuf::from("/tmp/x.scap"));
        assert_eq!(
            (
                args.numevents,
                args.duration,
                args.file_size_mb,
                args.file_count,
                args.gzip
            ),
            (Some(9), Some(3), Some(2), Some(4), true)
        );
        assert_eq!(args.filter.join(" "), "evt.type=openat and proc.name=cat");
        assert!(
            LowArgs::try_parse_from(["peregrine", "capture"]).is_err(),
            "-w is required"
        );
    }

    #[test]
    fn validate_is_repeatable_and_ordered() {
        check(
            &["-V", "b.yaml", "--validate", "a.yaml"],
            Mode::Validate(vec!["b.yaml".into(), "a.yaml".into()]),
        );
    }

    #[test]
    fn options_reach_the_config() {
        let h = hi(&["-o", "json_output=true", "-A", "-o", "priority=error"]);
        assert!(h.config.outputs.format.json_output && h.config.base_syscalls.all);
        assert_eq!(h.config.priority, peregrine_config::Priority::Error);
    }

    #[test]
    fn unbuffered_wins_over_the_file_and_options() {
        for (args, buffered) in [
            (&["-o", "buffered_outputs=true"][..], true),
            (&["-o", "buffered_outputs=true", "-U"][..], false),
            (&["-U", "-o", "buffered_outputs=true"][..], false),
        ] {
            assert_eq!(
                hi(args).config.outputs.buffered_outputs,
                buffered,
                "{args:?}"
            );
        }
    }

    #[test]
    fn rules_default_to_embedded_and_directories_expand_sorted() {
        assert_eq!(hi(&[]).rules, RulesSource::Embedded);
        let dir = std::env::temp_dir().join(format!("peregrine-cli-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("mkdir");
        for name in ["b.yaml", "a.yaml", "c.txt", "d.yml"] {
            std::fs::write(dir.join(name), "[]").expect("write");
        }
        let d = dir.to_str().expect("utf-8 temp dir");
        let files = match hi(&["-r", d, "-r", "/dev/null"]).rules {
            RulesSource::Files(f) => f,
            other => panic!("expected files, got {other:?}"),
        };
        std::fs::remove_dir_all(&dir).expect("cleanup");
        assert_eq!(
            files,
            vec![
                dir.join("a.yaml"),
                dir.join("b.yaml"),
                dir.join("d.yml"),
                "/dev/null".into()
            ]
        );
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        let low = LowArgs::try_parse_from(["peregrine", "-o", "nonsense"]).expect("parse");
        assert!(HiArgs::from_low(low).is_err());
        let low = LowArgs::try_parse_from(["peregrine", "-r", "/does/not/exist"]).expect("parse");
        assert!(HiArgs::from_low(low).is_err());
        assert!(LowArgs::try_parse_from(["peregrine", "--format", "xml", "--list"]).is_err());
    }
}
