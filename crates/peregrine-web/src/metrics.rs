//! The agent's metrics: one plain [`MetricsSnapshot`] value and its Prometheus text rendering.
//!
//! Key design decision: the pipeline crates already keep their own cheap counters
//! (`peregrine_capture::Counters`, `peregrine_state::Counters`, `peregrine_engine::Stats`,
//! `peregrine_outputs::Snapshot`); this module only copies them into one value and renders it.
//! Nothing here is touched on the event path, so the renderer may allocate freely, and a scrape
//! costs the agent one snapshot. Names follow Falco's Prometheus metrics (`falcosecurity_falco_*`,
//! `falcosecurity_scap_*`) wherever Falco has an equivalent, so existing Falco dashboards and
//! alerts keep working; everything without a Falco counterpart is `peregrine_*`. Process and host
//! figures are read from `/proc` at scrape time by pure parsers, so they are tested on text.
//!
//! "Falco's names" means Falco 0.44.1's page as recorded (`shared/upstream/config/
//! falco-metrics.txt`): the same name, type and label keys — priority as a number, one
//! `tag_<t>="true"` label per rule tag, the state counters under `falcosecurity_scap_`, kernel
//! drops with Falco's `dir`/`drop` categories. A test compares every `falcosecurity_*` family
//! rendered here with that page. The same figures feed Falco's periodic "metrics snapshot"
//! alert ([`SnapshotAlerts`]), whose keys (`falco.host_num_cpus`, `scap.n_evts`) are Falco's
//! snapshot keys, not the Prometheus names. Not rendered, for want of data: Falco's fd-table
//! lookup counters (`n_cached_fd_lookups`, `n_failed_fd_lookups`, `n_added_fds`, …), thread
//! cache hits (`n_cached_thread_lookups`), the event store counters
//! (`n_stored_evts`, `n_retrieve_evts_drops`, …), the per-task-kind kernel counters
//! (`n_evts_task_*`, `n_drops_task_*`), `n_drops_max_event_size`, per-CPU kernel counters,
//! libbpf statistics, the container plugin's counters and the snapshot's `host_netinfo`.

use peregrine_outputs::{Alert, OutputValue, Priority, Snapshot as OutputsSnapshot};
use std::fmt::Write as _;

/// Versions reported by `/versions` and `falcosecurity_falco_version_info`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuildInfo {
    /// The agent's own version (Falco's `falco_version`).
    pub version: String,
    /// The rules engine version rules files check with `required_engine_version`.
    pub engine_version: String,
    /// The Falco release whose behaviour is followed.
    pub falco_compat_version: String,
}

/// Matches of one rule, with the labels Falco puts on `falcosecurity_falco_rules_matches_total`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleMatch {
    pub rule: String,
    pub priority: Priority,
    pub source: String,
    pub tags: Vec<String>,
    pub count: u64,
}

/// Per-rule matches from the engine's counters (indexed like `rules.rules()`). Like Falco
/// without `metrics.include_empty_values`, rules that never matched are left out unless
/// `include_empty`.
pub fn rule_matches(
    rules: &peregrine_rules::RuleSet,
    counts: &[u64],
    include_empty: bool,
) -> Vec<RuleMatch> {
    rules
        .rules()
        .iter()
        .zip(counts)
        .filter(|(_, n)| include_empty || **n > 0)
        .map(|(r, n)| RuleMatch {
            rule: r.name.clone(),
            priority: r.priority,
            source: r.source.clone(),
            tags: r.tags.iter().cloned().collect(),
            count: *n,
        })
        .collect()
}

/// This process's resource use (Falco's `resource_utilization` metrics).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ProcessStats {
    /// CPU time over wall time since the process started (1.0 = one CPU busy), as Falco.
    pub cpu_usage_ratio: f64,
    pub rss_bytes: u64,
    pub vsz_bytes: u64,
    /// Proportional set size (`Pss` of `/proc/self/smaps_rollup`); 0 when unreadable.
    pub pss_bytes: u64,
    /// Memory charged to the agent's cgroup, read where Falco reads it (see
    /// [`container_memory_used`]); `None` when no such file is readable.
    pub container_memory_used_bytes: Option<u64>,
    /// Process start, ns since the epoch.
    pub start_ns: u64,
}

/// Host-wide figures Falco exports as `falcosecurity_falco_host_*`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct HostStats {
    pub num_cpus: u64,
    /// Boot time, ns since the epoch.
    pub boot_ns: u64,
    /// Busy over total CPU time since boot.
    pub cpu_usage_ratio: f64,
    /// MemTotal − MemAvailable.
    pub memory_used_bytes: u64,
    pub procs_running: u64,
    /// Open files on the host: the first field of `/proc/sys/fs/file-nr`, as Falco.
    pub open_fds: u64,
}

/// Which of Falco's metric groups are collected (Falco's `metrics.*_enabled` keys). Groups
/// that are off are left out of `/metrics` and of the snapshot alert.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MetricsOptions {
    /// `rules_counters_enabled`: `falcosecurity_falco_rules_matches_total`.
    pub rules_counters: bool,
    /// `resource_utilization_enabled`: the agent's CPU and memory, the host's load.
    pub resource_utilization: bool,
    /// `state_counters_enabled`: the thread and fd tables (`falcosecurity_scap_n_threads_total`…).
    pub state_counters: bool,
    /// `kernel_event_counters_enabled`: kernel events and drops (`falcosecurity_scap_n_evts_total`…).
    pub kernel_event_counters: bool,
}

impl Default for MetricsOptions {
    fn default() -> Self {
        MetricsOptions {
            rules_counters: true,
            resource_utilization: true,
            state_counters: true,
            kernel_event_counters: true,
        }
    }
}

/// A loaded rules or configuration file, for `falcosecurity_falco_sha256_*_files_info`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileDigest {
    /// The base name, as Falco labels it (`falco_rules.yaml`).
    pub file_name: String,
    /// Lower-case hex SHA-256 of the contents.
    pub sha256: String,
}

impl FileDigest {
    /// The digest of the file at `path`; `None` when it cannot be read. A directory (a `-r`
    /// rules directory) gives one digest per `*.yaml`/`*.yml` file in it, sorted, as those are
    /// the files loaded.
    pub fn of_path(path: &std::path::Path) -> Vec<FileDigest> {
        if path.is_dir() {
            let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(path)
                .map(|d| {
                    d.filter_map(|e| e.ok().map(|e| e.path()))
                        .filter(|p| {
                            p.is_file() && p.extension().is_some_and(|e| e == "yaml" || e == "yml")
                        })
                        .collect()
                })
                .unwrap_or_default();
            files.sort();
            return files.iter().flat_map(|f| FileDigest::of_path(f)).collect();
        }
        let Ok(bytes) = std::fs::read(path) else {
            return Vec::new();
        };
        let file_name = path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        vec![FileDigest {
            file_name,
            sha256: sha256_hex(&bytes),
        }]
    }
}

/// Lower-case hex SHA-256 (ring's digest: the TLS stack's, already in the binary).
pub fn sha256_hex(bytes: &[u8]) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, bytes);
    d.as_ref()
        .iter()
        .fold(String::with_capacity(64), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// What the run is: Falco's info series and timestamps that do not come from a counter.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunInfo {
    /// `falcosecurity_scap_engine_name_info{engine_name}`.
    pub engine_name: String,
    /// The event source of the capture (`syscall`).
    pub evt_source: String,
    /// `uname -r`.
    pub kernel_release: String,
    pub rules_files: Vec<FileDigest>,
    pub config_files: Vec<FileDigest>,
    /// When the rules were last (re)loaded, ns since the epoch.
    pub reload_ns: u64,
    /// When the snapshot was taken, ns since the epoch (for the run's duration).
    pub now_ns: u64,
}

/// Everything `/metrics` shows. Sections the agent does not run (no capture in replay, no
/// outputs in a dry run) stay `None` and are left out of the page rather than shown as zeros.
#[derive(Clone, Debug, Default)]
pub struct MetricsSnapshot {
    pub build: Option<BuildInfo>,
    pub hostname: Option<String>,
    pub capture: Option<peregrine_capture::Counters>,
    pub state: Option<peregrine_state::Counters>,
    pub engine: Option<peregrine_engine::Stats>,
    /// Per-rule matches; the agent resolves the engine's rule indices to names.
    pub rules: Vec<RuleMatch>,
    pub outputs: Option<OutputsSnapshot>,
    pub process: Option<ProcessStats>,
    pub host: Option<HostStats>,
    pub run: Option<RunInfo>,
    pub options: MetricsOptions,
    /// Response actions, when response policies are configured.
    pub response: Option<peregrine_response::Snapshot>,
    /// Deduplication and silences (the triage crate).
    pub triage: Option<peregrine_triage::TriageSnapshot>,
    /// Falco's `HOST_ROOT`: the host-wide `/proc` files (CPU, memory, open files) are read
    /// below it, as Falco does when it runs in a container with the host mounted; `None` is `/`.
    pub host_root: Option<std::path::PathBuf>,
}

/// USER_HZ: the unit of the tick counts in `/proc`, fixed at 100 by the kernel ABI.
const TICKS_PER_SEC: f64 = 100.0;

impl MetricsSnapshot {
    /// Reads process and host figures from `/proc` (left `None` where a file is unreadable).
    pub fn refresh_system(&mut self) {
        let read = |p: &str| std::fs::read_to_string(p).ok();
        let root = self.host_root.clone();
        let host = |p: &str| match &root {
            Some(root) => std::fs::read_to_string(root.join(p.trim_start_matches('/'))).ok(),
            None => read(p),
        };
        let stat = host("/proc/stat");
        let uptime = host("/proc/uptime").and_then(|t| parse_uptime(&t));
        let boot_s = stat.as_deref().and_then(parse_btime);
        if let (Some(pstat), Some(status), Some(up), Some(boot)) = (
            read("/proc/self/stat"),
            read("/proc/self/status"),
            uptime,
            boot_s,
        ) {
            self.process = parse_process(&pstat, &status, up, boot).map(|mut p| {
                p.pss_bytes = read("/proc/self/smaps_rollup")
                    .and_then(|t| kb_line(&t, "Pss"))
                    .unwrap_or(0);
                p.container_memory_used_bytes = container_memory_used();
                p
            });
        }
        if let (Some(stat), Some(meminfo)) = (stat, host("/proc/meminfo")) {
            self.host = parse_host(&stat, &meminfo).map(|mut h| {
                h.open_fds = host("/proc/sys/fs/file-nr")
                    .and_then(|t| t.split_whitespace().next()?.parse().ok())
                    .unwrap_or(0);
                h
            });
        }
    }

    /// The Prometheus text exposition (format 0.0.4) of this snapshot. Falco's series come
    /// with Falco's names, types and labels; each `metrics.*_enabled` group that is off is
    /// left out, as Falco leaves it out.
    pub fn render(&self) -> String {
        let mut r = Renderer::default();
        let o = self.options;
        self.render_info(&mut r);
        if o.rules_counters {
            self.render_rules(&mut r);
        }
        if let Some(run) = &self.run {
            r.family(
                "falcosecurity_scap_engine_name_info",
                "The capture engine.",
                "gauge",
            );
            r.sample(
                "falcosecurity_scap_engine_name_info",
                &[
                    ("engine_name", &run.engine_name),
                    ("evt_source", &run.evt_source),
                ],
                1.0,
            );
        }
        if o.kernel_event_counters {
            if let Some(c) = &self.capture {
                render_capture(&mut r, c);
            }
        }
        if o.resource_utilization {
            if let Some(p) = &self.process {
                render_process(&mut r, p);
            }
            if let Some(h) = &self.host {
                render_host_load(&mut r, h);
            }
        }
        if o.state_counters {
            if let Some(s) = &self.state {
                render_state(&mut r, s);
            }
        }
        if let Some(run) = &self.run {
            r.family(
                "falcosecurity_falco_kernel_release_info",
                "Kernel release of the host.",
                "gauge",
            );
            r.sample(
                "falcosecurity_falco_kernel_release_info",
                &[("kernel_release", &run.kernel_release)],
                1.0,
            );
        }
        if let Some(h) = &self.hostname {
            r.family(
                "falcosecurity_evt_hostname_info",
                "Hostname put in alerts.",
                "gauge",
            );
            r.sample("falcosecurity_evt_hostname_info", &[("hostname", h)], 1.0);
        }
        if let Some(out) = &self.outputs {
            let queue_drops: u64 = out.outputs.iter().map(|s| s.dropped_queue_full).sum();
            r.counter(
                "falcosecurity_falco_outputs_queue_num_drops_total",
                "Alerts dropped because an output queue was full.",
                queue_drops,
            );
        }
        self.render_times(&mut r);
        if let Some(e) = &self.engine {
            render_engine(&mut r, e);
        }
        if let Some(out) = &self.outputs {
            render_outputs(&mut r, out);
        }
        if let Some(resp) = &self.response {
            render_response(&mut r, resp);
        }
        if let Some(t) = &self.triage {
            render_triage(&mut r, t);
        }
        r.out
    }

    /// Falco's timestamps and the host's fixed figures (not part of any `*_enabled` group).
    fn render_times(&self, r: &mut Renderer) {
        if let Some(run) = &self.run {
            r.gauge(
                "falcosecurity_falco_reload_timestamp_nanoseconds",
                "When the rules were last loaded, ns since the epoch.",
                run.reload_ns as f64,
            );
        }
        if let Some(p) = &self.process {
            r.gauge(
                "falcosecurity_falco_start_timestamp_nanoseconds",
                "When the agent started, ns since the epoch.",
                p.start_ns as f64,
            );
            if let Some(run) = &self.run {
                r.counter(
                    "falcosecurity_falco_duration_seconds_total",
                    "Seconds since the agent started.",
                    run.now_ns.saturating_sub(p.start_ns) / 1_000_000_000,
                );
            }
        }
        if let Some(h) = &self.host {
            r.gauge(
                "falcosecurity_falco_host_boot_timestamp_nanoseconds",
                "When the host booted, ns since the epoch.",
                h.boot_ns as f64,
            );
            r.gauge(
                "falcosecurity_falco_host_num_cpus_total",
                "CPUs of the host.",
                h.num_cpus as f64,
            );
        }
    }

    fn render_info(&self, r: &mut Renderer) {
        if let Some(b) = &self.build {
            r.family(
                "falcosecurity_falco_version_info",
                "Agent and rules engine versions.",
                "gauge",
            );
            r.sample(
                "falcosecurity_falco_version_info",
                &[
                    ("version", &b.version),
                    ("engine_version", &b.engine_version),
                ],
                1.0,
            );
            r.family(
                "peregrine_falco_compat_info",
                "The Falco release whose behaviour is followed.",
                "gauge",
            );
            r.sample(
                "peregrine_falco_compat_info",
                &[("falco_version", &b.falco_compat_version)],
                1.0,
            );
        }
        if let Some(run) = &self.run {
            for (name, help, files) in [
                (
                    "falcosecurity_falco_sha256_rules_files_info",
                    "SHA-256 of each loaded rules file.",
                    &run.rules_files,
                ),
                (
                    "falcosecurity_falco_sha256_config_files_info",
                    "SHA-256 of each loaded configuration file.",
                    &run.config_files,
                ),
            ] {
                if files.is_empty() {
                    continue;
                }
                r.family(name, help, "gauge");
                for f in files {
                    r.sample(
                        name,
                        &[("file_name", &f.file_name), ("sha256", &f.sha256)],
                        1.0,
                    );
                }
            }
        }
    }

    fn render_rules(&self, r: &mut Renderer) {
        if self.engine.is_none() && self.rules.is_empty() {
            return;
        }
        r.family(
            "falcosecurity_falco_rules_matches_total",
            "Events matched, per rule.",
            "counter",
        );
        for m in &self.rules {
            // Falco labels the priority with its number (0 = Emergency … 7 = Debug) and gives
            // each tag a label of its own, `tag_<tag>="true"`, in sorted order.
            let prio = (m.priority as u8).to_string();
            let tag_labels = tag_labels(&m.tags);
            let mut labels = vec![
                ("priority", prio.as_str()),
                ("rule_name", m.rule.as_str()),
                ("source", m.source.as_str()),
            ];
            labels.extend(tag_labels.iter().map(|t| (t.as_str(), "true")));
            r.sample(
                "falcosecurity_falco_rules_matches_total",
                &labels,
                m.count as f64,
            );
        }
    }
}

/// Falco's per-tag label names, sorted and unique: `tag_<tag>`, with every character that a
/// Prometheus label name cannot hold replaced by `_` (a rule tag may hold `-` or `.`).
fn tag_labels(tags: &[String]) -> Vec<String> {
    let mut out: Vec<String> = tags
        .iter()
        .map(|t| {
            let clean: String = t
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '_' {
                        c
                    } else {
                        '_'
                    }
                })
                .collect();
            format!("tag_{clean}")
        })
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

fn render_process(r: &mut Renderer, p: &ProcessStats) {
    r.gauge(
        "falcosecurity_falco_cpu_usage_ratio",
        "CPU time of the agent over wall time since it started.",
        p.cpu_usage_ratio,
    );
    r.gauge(
        "falcosecurity_falco_memory_rss_bytes",
        "Resident memory of the agent.",
        p.rss_bytes as f64,
    );
    r.gauge(
        "falcosecurity_falco_memory_vsz_bytes",
        "Virtual memory of the agent.",
        p.vsz_bytes as f64,
    );
    r.gauge(
        "falcosecurity_falco_memory_pss_bytes",
        "Proportional set size of the agent.",
        p.pss_bytes as f64,
    );
    if let Some(c) = p.container_memory_used_bytes {
        r.gauge(
            "falcosecurity_falco_container_memory_used_bytes",
            "Memory charged to the agent's cgroup.",
            c as f64,
        );
    }
}

fn render_host_load(r: &mut Renderer, h: &HostStats) {
    r.gauge(
        "falcosecurity_falco_host_cpu_usage_ratio",
        "Busy CPU time of the host over all CPU time since boot.",
        h.cpu_usage_ratio,
    );
    r.gauge(
        "falcosecurity_falco_host_memory_used_bytes",
        "Memory used on the host (MemTotal - MemAvailable).",
        h.memory_used_bytes as f64,
    );
    r.gauge(
        "falcosecurity_falco_host_procs_running_total",
        "Runnable processes on the host.",
        h.procs_running as f64,
    );
    r.gauge(
        "falcosecurity_falco_host_open_fds_total",
        "Open files on the host.",
        h.open_fds as f64,
    );
}

/// The rule name of Falco's periodic metrics alert (`metrics.output_rule`).
pub const SNAPSHOT_RULE: &str = "Falco internal: metrics snapshot";

/// Falco's `metrics.output_rule` alert, "Falco internal: metrics snapshot": the same figures
/// as `/metrics` under Falco's snapshot keys (`falco.*`, `scap.*`, which differ from the
/// Prometheus names), plus the change since the previous snapshot, which this keeps.
#[derive(Clone, Debug, Default)]
pub struct SnapshotAlerts {
    prev: Option<PrevTotals>,
}

#[derive(Clone, Copy, Debug)]
struct PrevTotals {
    time_ns: u64,
    n_evts: u64,
    n_drops: u64,
    num_evts: u64,
}

/// One decimal, as Falco prints percentages and megabytes.
fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

impl SnapshotAlerts {
    /// The alert for `snap` (whose `run.now_ns` is its time). `convert_memory_to_mb` and
    /// `include_empty_values` are Falco's keys: memory in MB (else Falco's raw kB and bytes),
    /// and zero-valued state and kernel counters kept (else left out).
    pub fn alert(
        &mut self,
        snap: &MetricsSnapshot,
        convert_memory_to_mb: bool,
        include_empty_values: bool,
    ) -> Alert {
        use OutputValue::{Double, Str, UInt};
        let now_ns = snap.run.as_ref().map_or(0, |r| r.now_ns);
        let mut f: Vec<(String, OutputValue)> = Vec::new();
        let mut put = |k: &str, v: OutputValue| f.push((k.to_string(), v));
        let hostname = snap.hostname.clone().unwrap_or_default();
        put("evt.hostname", Str(hostname.clone()));
        put("evt.time", UInt(now_ns));
        if let Some(b) = &snap.build {
            put("falco.version", Str(b.version.clone()));
        }
        let o = snap.options;
        // Memory: kB (bytes for the cgroup figure) unless converted to MB.
        let mem = |f: &mut Vec<(String, OutputValue)>, name: &str, bytes: u64, raw_kb: bool| {
            if convert_memory_to_mb {
                let mb = round1(bytes as f64 / 1_048_576.0);
                f.push((format!("falco.{name}_mb"), Double(mb)));
            } else if raw_kb {
                f.push((format!("falco.{name}_kb"), UInt(bytes / 1024)));
            } else {
                f.push((format!("falco.{name}_bytes"), UInt(bytes)));
            }
        };
        if let Some(p) = &snap.process {
            put("falco.start_ts", UInt(p.start_ns));
            if let Some(run) = &snap.run {
                put(
                    "falco.duration_sec",
                    UInt(run.now_ns.saturating_sub(p.start_ns) / 1_000_000_000),
                );
            }
        }
        if let Some(h) = &snap.host {
            put("falco.host_boot_ts", UInt(h.boot_ns));
            put("falco.host_num_cpus", UInt(h.num_cpus));
        }
        if o.resource_utilization {
            if let Some(p) = &snap.process {
                f.push((
                    "falco.cpu_usage_perc".into(),
                    Double(round1(p.cpu_usage_ratio * 100.0)),
                ));
                mem(&mut f, "memory_rss", p.rss_bytes, true);
                mem(&mut f, "memory_vsz", p.vsz_bytes, true);
                mem(&mut f, "memory_pss", p.pss_bytes, true);
                if let Some(c) = p.container_memory_used_bytes {
                    mem(&mut f, "container_memory_used", c, false);
                }
            }
            if let Some(h) = &snap.host {
                f.push((
                    "falco.host_cpu_usage_perc".into(),
                    Double(round1(h.cpu_usage_ratio * 100.0)),
                ));
                mem(&mut f, "host_memory_used", h.memory_used_bytes, true);
                f.push(("falco.host_procs_running".into(), UInt(h.procs_running)));
                f.push(("falco.host_open_fds".into(), UInt(h.open_fds)));
            }
        }
        let counter = |f: &mut Vec<(String, OutputValue)>, k: String, n: u64| {
            if include_empty_values || n > 0 {
                f.push((k, UInt(n)));
            }
        };
        if o.state_counters {
            if let Some(s) = &snap.state {
                for (k, n) in [
                    ("n_threads", s.threads),
                    ("n_fds", s.fds),
                    ("n_added_threads", s.threads_added),
                    ("n_removed_threads", s.threads_removed),
                    ("n_failed_thread_lookups", s.proc_lookups_failed),
                    ("n_drops_full_threadtable", s.threads_dropped),
                ] {
                    counter(&mut f, format!("falco.{k}"), n);
                }
            }
        }
        if let Some(run) = &snap.run {
            f.push((
                "falco.kernel_release".into(),
                Str(run.kernel_release.clone()),
            ));
            f.push(("falco.reload_ts".into(), UInt(run.reload_ns)));
            f.push(("scap.engine_name".into(), Str(run.engine_name.clone())));
            f.push(("evt.source".into(), Str(run.evt_source.clone())));
            for (kind, files) in [("rules", &run.rules_files), ("config", &run.config_files)] {
                for d in files {
                    f.push((
                        format!("falco.sha256_{kind}_file.{}", d.file_name.replace('.', "_")),
                        Str(d.sha256.clone()),
                    ));
                }
            }
        }
        if let Some(out) = &snap.outputs {
            let drops = out.outputs.iter().map(|s| s.dropped_queue_full).sum();
            f.push(("falco.outputs_queue_num_drops".into(), UInt(drops)));
        }
        let num_evts = snap.engine.as_ref().map_or(0, |e| e.events);
        let prev = self.prev;
        f.push(("falco.num_evts".into(), UInt(num_evts)));
        f.push((
            "falco.num_evts_prev".into(),
            UInt(prev.map_or(0, |p| p.num_evts)),
        ));
        if let Some(e) = &snap.engine {
            f.push(("falco.rules.matches_total".into(), UInt(e.matches())));
        }
        if o.rules_counters {
            for m in &snap.rules {
                f.push((format!("falco.rules.{}", m.rule), UInt(m.count)));
            }
        }
        let (n_evts, n_drops) = snap
            .capture
            .as_ref()
            .map_or((0, 0), |c| (c.events.saturating_add(c.drops()), c.drops()));
        if let Some(c) = &snap.capture {
            let (p_evts, p_drops, p_time) =
                prev.map_or((0, 0, now_ns), |p| (p.n_evts, p.n_drops, p.time_ns));
            let d_evts = n_evts.saturating_sub(p_evts);
            let d_drops = n_drops.saturating_sub(p_drops);
            let secs = now_ns.saturating_sub(p_time) as f64 / 1e9;
            // As Falco: the rates and the drop percentage are not rounded.
            let rate = |n: u64| {
                if secs > 0.0 {
                    n as f64 / secs
                } else {
                    0.0
                }
            };
            let perc = if d_evts > 0 {
                100.0 * d_drops as f64 / d_evts as f64
            } else {
                0.0
            };
            f.push(("scap.n_evts".into(), UInt(n_evts)));
            f.push(("scap.n_evts_prev".into(), UInt(p_evts)));
            f.push(("scap.n_drops".into(), UInt(n_drops)));
            f.push(("scap.n_drops_prev".into(), UInt(p_drops)));
            f.push(("scap.n_drops_perc".into(), Double(perc)));
            f.push(("scap.evts_rate_sec".into(), Double(rate(d_evts))));
            f.push(("scap.evts_drop_rate_sec".into(), Double(rate(d_drops))));
            if o.kernel_event_counters {
                for fam in peregrine_capture::Family::ALL {
                    let n = c.drops_by_family.get(fam as usize).copied().unwrap_or(0);
                    counter(
                        &mut f,
                        format!("scap.n_drops_buffer_{}_exit", falco_drop_category(fam)),
                        n,
                    );
                }
                counter(&mut f, "scap.n_drops_scratch_map".into(), c.drops_too_large);
                counter(&mut f, "scap.n_drops_page_faults".into(), c.read_failures);
            }
        }
        self.prev = Some(PrevTotals {
            time_ns: now_ns,
            n_evts,
            n_drops,
            num_evts,
        });
        let mut alert = Alert::new(
            now_ns,
            SNAPSHOT_RULE,
            Priority::Informational,
            "Falco metrics snapshot",
        );
        alert.source = peregrine_outputs::INTERNAL_SOURCE.to_string();
        alert.hostname = hostname;
        alert.output_fields = f;
        alert
    }
}

fn render_capture(r: &mut Renderer, c: &peregrine_capture::Counters) {
    r.counter(
        "falcosecurity_scap_n_evts_total",
        "Events written by the kernel programs.",
        c.events,
    );
    r.counter(
        "falcosecurity_scap_n_drops_total",
        "Events the kernel failed to deliver, all causes.",
        c.drops(),
    );
    r.family(
        "falcosecurity_scap_n_drops_buffer_total",
        "Events lost because the ring buffer was full, per Falco drop category.",
        "counter",
    );
    for f in peregrine_capture::Family::ALL {
        let n = c.drops_by_family.get(f as usize).copied().unwrap_or(0);
        r.sample(
            "falcosecurity_scap_n_drops_buffer_total",
            &[("dir", "exit"), ("drop", falco_drop_category(f))],
            n as f64,
        );
    }
    r.family(
        "peregrine_capture_drops_buffer_total",
        "Events lost because the ring buffer was full, per Peregrine syscall family.",
        "counter",
    );
    for f in peregrine_capture::Family::ALL {
        let n = c.drops_by_family.get(f as usize).copied().unwrap_or(0);
        r.sample(
            "peregrine_capture_drops_buffer_total",
            &[("family", family_name(f))],
            n as f64,
        );
    }
    r.counter(
        "falcosecurity_scap_n_drops_scratch_map_total",
        "Events not sent because they exceeded the kernel record limit.",
        c.drops_too_large,
    );
    r.counter(
        "falcosecurity_scap_n_drops_page_faults_total",
        "Parameters left empty because a kernel read failed.",
        c.read_failures,
    );
    // Falco has this figure only in its snapshot alert (`scap.n_drops_perc`, over the
    // interval), not on its Prometheus page: the since-start figure is Peregrine's own.
    r.gauge(
        "peregrine_capture_drops_perc",
        "Dropped events over all events, in percent, since start.",
        drop_perc(c),
    );
    r.counter(
        "peregrine_capture_syscalls_total",
        "Selected syscalls seen returning.",
        c.syscalls,
    );
    // Shed on purpose (no rule needs them), never drops: Falco's drop series exclude them.
    r.family(
        "peregrine_kernel_shed_total",
        "Events the kernel did not send because no loaded rule needs them, per cause.",
        "counter",
    );
    for (cause, n) in [("open_path", c.shed_open_path), ("close", c.shed_close)] {
        r.sample("peregrine_kernel_shed_total", &[("cause", cause)], n as f64);
    }
    r.counter(
        "peregrine_capture_missing_enter_total",
        "Syscall exits without stored enter arguments.",
        c.missing_enter,
    );
    r.counter(
        "peregrine_capture_stash_failures_total",
        "Enter arguments not stored because the per-thread stash was full.",
        c.stash_failures,
    );
    r.counter(
        "peregrine_capture_delivered_total",
        "Records handed to user space.",
        c.delivered,
    );
    r.counter(
        "peregrine_capture_malformed_total",
        "Records skipped because they did not decode.",
        c.malformed,
    );
}

/// The nearest of Falco's `drop` categories for a capture family (as the drop monitor maps
/// them): file → `open`, net → `connect`, process → `clone_fork`, other → `other_interest`.
/// Falco's `execve`, `dir_file`, `close` and `proc` categories have no separate counter here
/// (their syscalls are counted in the family above), so they are not shown.
pub fn falco_drop_category(f: peregrine_capture::Family) -> &'static str {
    match f {
        peregrine_capture::Family::File => "open",
        peregrine_capture::Family::Net => "connect",
        peregrine_capture::Family::Process => "clone_fork",
        peregrine_capture::Family::Other => "other_interest",
    }
}

fn family_name(f: peregrine_capture::Family) -> &'static str {
    match f {
        peregrine_capture::Family::File => "file",
        peregrine_capture::Family::Net => "net",
        peregrine_capture::Family::Process => "process",
        peregrine_capture::Family::Other => "other",
    }
}

fn drop_perc(c: &peregrine_capture::Counters) -> f64 {
    let drops = c.drops();
    let total = c.events.saturating_add(drops);
    if total == 0 {
        0.0
    } else {
        100.0 * drops as f64 / total as f64
    }
}

fn render_state(r: &mut Renderer, s: &peregrine_state::Counters) {
    // Falco exports its thread and fd table sizes as gauges despite the `_total` suffix.
    r.gauge(
        "falcosecurity_scap_n_threads_total",
        "Threads in the thread table.",
        s.threads as f64,
    );
    r.gauge(
        "falcosecurity_scap_n_fds_total",
        "File descriptors in all fd tables.",
        s.fds as f64,
    );
    r.counter(
        "falcosecurity_scap_n_added_threads_total",
        "Threads added to the table.",
        s.threads_added,
    );
    r.counter(
        "falcosecurity_scap_n_removed_threads_total",
        "Threads removed from the table.",
        s.threads_removed,
    );
    r.counter(
        "falcosecurity_scap_n_drops_full_threadtable_total",
        "Threads not tracked because the table was full.",
        s.threads_dropped,
    );
    r.counter(
        "falcosecurity_scap_n_failed_thread_lookups_total",
        "Unknown threads whose /proc lookup failed.",
        s.proc_lookups_failed,
    );
    r.counter(
        "peregrine_state_proc_lookups_total",
        "Unknown threads looked up in /proc.",
        s.proc_lookups,
    );
    r.counter(
        "peregrine_state_fds_dropped_total",
        "Fds not tracked because a process's table was full.",
        s.fds_dropped,
    );
    r.counter(
        "peregrine_state_user_cache_hits_total",
        "User database cache hits.",
        s.user_cache_hits,
    );
    r.counter(
        "peregrine_state_user_cache_misses_total",
        "User database cache loads.",
        s.user_cache_misses,
    );
    r.counter(
        "peregrine_state_purged_total",
        "Exited threads and stale entries purged.",
        s.purged,
    );
    r.counter(
        "peregrine_state_malformed_total",
        "Events whose parameters did not decode as their schema says.",
        s.malformed,
    );
    r.counter(
        "peregrine_state_container_lookups_total",
        "Container metadata lookups answered.",
        s.container_lookups,
    );
    r.counter(
        "peregrine_state_container_lookups_failed_total",
        "Container metadata lookups that failed.",
        s.container_lookups_failed,
    );
    r.counter(
        "peregrine_state_container_requests_dropped_total",
        "Container lookups not queued because the queue was full.",
        s.container_requests_dropped,
    );
}

fn render_engine(r: &mut Renderer, e: &peregrine_engine::Stats) {
    r.counter(
        "peregrine_engine_events_total",
        "Events given to the rules engine.",
        e.events,
    );
    r.counter(
        "peregrine_engine_evaluated_total",
        "Events with at least one candidate rule.",
        e.evaluated,
    );
    r.counter(
        "peregrine_engine_decode_errors_total",
        "Records that did not decode.",
        e.decode_errors,
    );
    r.counter(
        "peregrine_engine_reloads_total",
        "Rule set swaps.",
        e.reloads,
    );
    r.counter(
        "peregrine_engine_matches_total",
        "Rule matches, all rules.",
        e.matches(),
    );
    let bounds: Vec<Option<f64>> = (0..peregrine_engine::LATENCY_BUCKETS)
        .map(|i| peregrine_engine::LatencyHistogram::upper_ns(i).map(|ns| ns as f64 / 1e9))
        .collect();
    r.histogram(
        "peregrine_engine_eval_latency_seconds",
        "Rule evaluation latency of sampled events.",
        &[],
        &bounds,
        &e.latency.buckets,
        e.latency.sum_ns as f64 / 1e9,
    );
}

fn render_response(r: &mut Renderer, s: &peregrine_response::Snapshot) {
    r.family(
        "peregrine_response_actions_total",
        "Response actions by action and outcome.",
        "counter",
    );
    for ((action, outcome), n) in &s.actions {
        r.sample(
            "peregrine_response_actions_total",
            &[("action", action), ("outcome", outcome)],
            *n as f64,
        );
    }
    let bounds: Vec<Option<f64>> = peregrine_response::LATENCY_BOUNDS
        .iter()
        .map(|b| Some(*b))
        .chain([None])
        .collect();
    r.histogram(
        "peregrine_response_action_latency_seconds",
        "Time from the triggering event to the completed action (the time to contain).",
        &[],
        &bounds,
        &s.latency_buckets,
        s.latency_sum_seconds,
    );
    r.counter(
        "peregrine_response_breaker_trips_total",
        "Times a response budget was spent and its circuit breaker opened.",
        s.breaker_trips,
    );
    r.counter(
        "peregrine_response_dropped_total",
        "Response jobs dropped because the responder's queue was full.",
        s.dropped,
    );
}

fn render_outputs(r: &mut Renderer, o: &OutputsSnapshot) {
    r.family(
        "peregrine_alerts_total",
        "Alerts raised, per priority.",
        "counter",
    );
    for (p, n) in &o.alerts_by_priority {
        r.sample(
            "peregrine_alerts_total",
            &[("priority", p.as_str())],
            *n as f64,
        );
    }
    r.counter(
        "peregrine_alerts_rate_limited_total",
        "Alerts refused by the outputs rate limit.",
        o.rate_limited,
    );
    r.family(
        "peregrine_alerts_by_rule_total",
        "Alerts handed to the outputs (after deduplication and silences), per rule.",
        "counter",
    );
    for (rule, n) in &o.alerts_by_rule {
        r.sample(
            "peregrine_alerts_by_rule_total",
            &[("rule", rule)],
            *n as f64,
        );
    }
    // Rendered whenever outputs run (zero counts in replay), so a dashboard's query parses to
    // an empty rate instead of "no data" on a quiet agent.
    let detect_bounds: Vec<Option<f64>> = peregrine_outputs::counters::DETECT_BUCKETS
        .iter()
        .map(|b| Some(*b))
        .chain([None])
        .collect();
    let d = &o.time_to_detect;
    let zeros = vec![0; detect_bounds.len()];
    let counts = if d.buckets.len() == detect_bounds.len() {
        &d.buckets
    } else {
        &zeros
    };
    r.histogram(
        "peregrine_time_to_detect_seconds",
        "Time to detect: the event's kernel timestamp to the alert leaving the engine (live capture).",
        &[],
        &detect_bounds,
        counts,
        d.sum_ns as f64 / 1e9,
    );
    type Get = fn(&peregrine_outputs::OutputSnapshot) -> u64;
    let per_output: [(&str, &str, Get); 10] = [
        (
            "peregrine_output_enqueued_total",
            "Alerts accepted into the output's queue.",
            |s| s.enqueued,
        ),
        (
            "peregrine_output_delivered_total",
            "Alerts written by the output.",
            |s| s.delivered,
        ),
        (
            "peregrine_output_queue_drops_total",
            "Alerts refused because the output's queue was full.",
            |s| s.dropped_queue_full,
        ),
        (
            "peregrine_output_filtered_total",
            "Alerts the output's route (min_priority, match) does not take.",
            |s| s.filtered,
        ),
        (
            "peregrine_output_abandoned_total",
            "Alerts left in the queue at the shutdown deadline.",
            |s| s.abandoned,
        ),
        (
            "peregrine_output_errors_total",
            "Failed writes and reopens of the output.",
            |s| s.errors,
        ),
        (
            "peregrine_output_spooled_total",
            "Alerts committed to the output's on-disk spool.",
            |s| s.spooled,
        ),
        (
            "peregrine_output_spool_drops_total",
            "Oldest spooled alerts dropped because the spool was full.",
            |s| s.spool_dropped,
        ),
        (
            "peregrine_output_retries_total",
            "Delivery attempts that failed and were retried from the spool.",
            |s| s.retried,
        ),
        (
            "peregrine_output_write_failures_total",
            "Alerts lost because the output's write failed (the agent logs the cause).",
            |s| s.failed_writes,
        ),
    ];
    for (name, help, get) in per_output {
        r.family(name, help, "counter");
        for s in &o.outputs {
            r.sample(name, &[("output", &s.name)], get(s) as f64);
        }
    }
    let spool_gauges: [(&str, &str, Get); 2] = [
        (
            "peregrine_output_spool_pending",
            "Alerts waiting in the output's spool.",
            |s| s.spool_pending,
        ),
        (
            "peregrine_output_spool_bytes",
            "Bytes the alerts waiting in the output's spool take.",
            |s| s.spool_bytes,
        ),
    ];
    for (name, help, get) in spool_gauges {
        r.family(name, help, "gauge");
        for s in &o.outputs {
            r.sample(name, &[("output", &s.name)], get(s) as f64);
        }
    }
    let bounds: Vec<Option<f64>> = peregrine_outputs::counters::LATENCY_BUCKETS
        .iter()
        .map(|b| Some(*b))
        .chain([None])
        .collect();
    let name = "peregrine_output_delivery_latency_seconds";
    r.family(
        name,
        "Alert delivery latency, enqueue to written.",
        "histogram",
    );
    for s in &o.outputs {
        r.histogram_samples(
            name,
            &[("output", &s.name)],
            &bounds,
            &s.latency.buckets,
            s.latency.sum_ns as f64 / 1e9,
        );
    }
}

fn render_triage(r: &mut Renderer, t: &peregrine_triage::TriageSnapshot) {
    let d = &t.dedup;
    r.counter(
        "peregrine_dedup_suppressed_total",
        "Repeated alerts held back by deduplication (each counted in a summary).",
        d.suppressed,
    );
    r.counter(
        "peregrine_dedup_summaries_total",
        "Summary alerts that closed a deduplication window.",
        d.summaries,
    );
    r.counter(
        "peregrine_dedup_evicted_total",
        "Deduplication windows closed early because dedup.max_fingerprints was reached.",
        d.evicted,
    );
    r.gauge(
        "peregrine_dedup_fingerprints",
        "Deduplication windows open now.",
        d.fingerprints as f64,
    );
    r.family(
        "peregrine_silence_suppressed_total",
        "Alerts suppressed, per silence.",
        "counter",
    );
    for s in &t.silences {
        r.sample(
            "peregrine_silence_suppressed_total",
            &[("silence", &s.id)],
            s.suppressed as f64,
        );
    }
    r.family(
        "peregrine_silence_active",
        "Whether a silence suppresses alerts now (1) or not (0: pending or expired).",
        "gauge",
    );
    for s in &t.silences {
        let active = s.state == peregrine_triage::State::Active;
        r.sample(
            "peregrine_silence_active",
            &[("silence", &s.id), ("state", s.state.as_str())],
            if active { 1.0 } else { 0.0 },
        );
    }
}

/// Writes the text format: a `# HELP`/`# TYPE` header per family, then its samples.
#[derive(Default)]
struct Renderer {
    out: String,
}

impl Renderer {
    fn family(&mut self, name: &str, help: &str, kind: &str) {
        let _ = writeln!(self.out, "# HELP {name} {}", escape_help(help));
        let _ = writeln!(self.out, "# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{k}=\"{}\"", escape_label(v));
            }
            self.out.push('}');
        }
        self.out.push(' ');
        self.out.push_str(&format_value(value));
        self.out.push('\n');
    }

    fn counter(&mut self, name: &str, help: &str, value: u64) {
        self.family(name, help, "counter");
        self.sample(name, &[], value as f64);
    }

    fn gauge(&mut self, name: &str, help: &str, value: f64) {
        self.family(name, help, "gauge");
        self.sample(name, &[], value);
    }

    fn histogram(
        &mut self,
        name: &str,
        help: &str,
        labels: &[(&str, &str)],
        bounds: &[Option<f64>],
        counts: &[u64],
        sum: f64,
    ) {
        self.family(name, help, "histogram");
        self.histogram_samples(name, labels, bounds, counts, sum);
    }

    /// `counts` are per bucket (not cumulative); `bounds[i]` is bucket `i`'s upper bound,
    /// `None` for the open last bucket. A `+Inf` bucket is always written, as the format requires.
    fn histogram_samples(
        &mut self,
        name: &str,
        labels: &[(&str, &str)],
        bounds: &[Option<f64>],
        counts: &[u64],
        sum: f64,
    ) {
        let bucket = format!("{name}_bucket");
        let mut cumulative = 0u64;
        for (bound, n) in bounds.iter().zip(counts) {
            cumulative = cumulative.saturating_add(*n);
            if let Some(b) = bound {
                let le = format_value(*b);
                let mut l = labels.to_vec();
                l.push(("le", &le));
                self.sample(&bucket, &l, cumulative as f64);
            }
        }
        // Samples past the listed bounds (a shorter bounds list) still count in +Inf.
        let total: u64 = counts.iter().fold(0u64, |a, n| a.saturating_add(*n));
        let mut l = labels.to_vec();
        l.push(("le", "+Inf"));
        self.sample(&bucket, &l, total as f64);
        self.sample(&format!("{name}_sum"), labels, sum);
        self.sample(&format!("{name}_count"), labels, total as f64);
    }
}

/// Label values escape backslash, double quote and line feed.
pub(crate) fn escape_label(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    s
}

/// Help text escapes backslash and line feed only.
fn escape_help(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

/// Integers print without a fraction (counters read naturally); specials use Prometheus spellings.
fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        format!("{v}")
    }
}

/// Falco's container memory: the file named by `FALCO_CGROUP_MEM_PATH` when set; else cgroup
/// v1's `memory.usage_in_bytes` — Falco's default `/sys/fs/cgroup/memory/memory.usage_in_bytes`
/// is that file of the agent's own cgroup when it runs in a container (its cgroup namespace
/// root), so outside one the agent's own memory cgroup (from `/proc/self/cgroup`) is read, and
/// Falco's path only when that is unreadable; else, on a cgroup v2 host, `memory.current` of
/// the agent's own cgroup. `None` when none of them is readable.
pub fn container_memory_used() -> Option<u64> {
    let read_num = |p: &std::path::Path| -> Option<u64> {
        std::fs::read_to_string(p).ok()?.trim().parse().ok()
    };
    if let Some(p) = std::env::var_os("FALCO_CGROUP_MEM_PATH") {
        return read_num(std::path::Path::new(&p));
    }
    let cgroup = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let (v1, v2) = cgroup_memory_files(&cgroup);
    v1.and_then(|p| read_num(&p))
        .or_else(|| {
            read_num(std::path::Path::new(
                "/sys/fs/cgroup/memory/memory.usage_in_bytes",
            ))
        })
        .or_else(|| v2.and_then(|p| read_num(&p)))
}

/// The agent's own cgroup memory files named by `/proc/self/cgroup` text: the v1 memory
/// controller's `memory.usage_in_bytes` and the v2 (`0::`) `memory.current`.
pub fn cgroup_memory_files(
    proc_self_cgroup: &str,
) -> (Option<std::path::PathBuf>, Option<std::path::PathBuf>) {
    let root = std::path::Path::new("/sys/fs/cgroup");
    let mut v1 = None;
    let mut v2 = None;
    for line in proc_self_cgroup.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(id), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let rel = path.trim().trim_start_matches('/');
        if id == "0" && controllers.is_empty() {
            v2 = Some(root.join(rel).join("memory.current"));
        } else if controllers.split(',').any(|c| c == "memory") {
            v1 = Some(root.join("memory").join(rel).join("memory.usage_in_bytes"));
        }
    }
    (v1, v2)
}

/// Seconds since boot, the first field of `/proc/uptime`.
pub fn parse_uptime(text: &str) -> Option<f64> {
    text.split_whitespace().next()?.parse().ok()
}

/// Boot time (seconds since the epoch), the `btime` line of `/proc/stat`.
pub fn parse_btime(stat: &str) -> Option<u64> {
    stat_line(stat, "btime")?.first().copied()
}

fn stat_line(stat: &str, key: &str) -> Option<Vec<u64>> {
    let line = stat
        .lines()
        .find(|l| l.split_whitespace().next() == Some(key))?;
    line.split_whitespace()
        .skip(1)
        .map(|t| t.parse().ok())
        .collect()
}

/// A `kB` figure from `/proc/*/status` or `/proc/meminfo`, in bytes.
fn kb_line(text: &str, key: &str) -> Option<u64> {
    let rest = text.lines().find_map(|l| l.strip_prefix(key))?;
    let kb: u64 = rest
        .trim_start_matches(':')
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(kb.saturating_mul(1024))
}

/// The agent's CPU and memory from `/proc/self/stat` and `/proc/self/status`, given the system
/// uptime and boot time (seconds) so the start time and CPU ratio come out right.
pub fn parse_process(stat: &str, status: &str, uptime_s: f64, boot_s: u64) -> Option<ProcessStats> {
    // The command name may hold spaces and parentheses: fields start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // Field 3 (state) is f[0], so field n is f[n - 3].
    let num = |n: usize| -> Option<u64> { f.get(n - 3)?.parse().ok() };
    let cpu_ticks = num(14)?.saturating_add(num(15)?);
    let start_ticks = num(22)?;
    let start_s = start_ticks as f64 / TICKS_PER_SEC;
    let elapsed = uptime_s - start_s;
    let cpu_usage_ratio = if elapsed > 0.0 {
        cpu_ticks as f64 / TICKS_PER_SEC / elapsed
    } else {
        0.0
    };
    let start_ns = boot_s
        .saturating_mul(1_000_000_000)
        .saturating_add(start_ticks.saturating_mul(10_000_000));
    Some(ProcessStats {
        cpu_usage_ratio,
        rss_bytes: kb_line(status, "VmRSS")?,
        vsz_bytes: kb_line(status, "VmSize")?,
        pss_bytes: 0,
        container_memory_used_bytes: None,
        start_ns,
    })
}

/// Host figures from `/proc/stat` and `/proc/meminfo`.
pub fn parse_host(stat: &str, meminfo: &str) -> Option<HostStats> {
    let cpu = stat_line(stat, "cpu")?;
    let total: u64 = cpu.iter().take(8).fold(0u64, |a, n| a.saturating_add(*n));
    // idle (4th) and iowait (5th) are the not-busy time.
    let idle = cpu.get(3)?.saturating_add(cpu.get(4).copied().unwrap_or(0));
    let cpu_usage_ratio = if total == 0 {
        0.0
    } else {
        total.saturating_sub(idle) as f64 / total as f64
    };
    let num_cpus = stat
        .lines()
        .filter(|l| {
            l.strip_prefix("cpu")
                .is_some_and(|r| r.starts_with(|c: char| c.is_ascii_digit()))
        })
        .count() as u64;
    Some(HostStats {
        num_cpus,
        boot_ns: parse_btime(stat)?.saturating_mul(1_000_000_000),
        cpu_usage_ratio,
        memory_used_bytes: kb_line(meminfo, "MemTotal")?
            .saturating_sub(kb_line(meminfo, "MemAvailable")?),
        procs_running: stat_line(stat, "procs_running")?.first().copied()?,
        open_fds: 0,
    })
}
