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

use peregrine_outputs::{Priority, Snapshot as OutputsSnapshot};
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
}

/// USER_HZ: the unit of the tick counts in `/proc`, fixed at 100 by the kernel ABI.
const TICKS_PER_SEC: f64 = 100.0;

impl MetricsSnapshot {
    /// Reads process and host figures from `/proc` (left `None` where a file is unreadable).
    pub fn refresh_system(&mut self) {
        let read = |p: &str| std::fs::read_to_string(p).ok();
        let stat = read("/proc/stat");
        let uptime = read("/proc/uptime").and_then(|t| parse_uptime(&t));
        let boot_s = stat.as_deref().and_then(parse_btime);
        if let (Some(pstat), Some(status), Some(up), Some(boot)) = (
            read("/proc/self/stat"),
            read("/proc/self/status"),
            uptime,
            boot_s,
        ) {
            self.process = parse_process(&pstat, &status, up, boot);
        }
        if let (Some(stat), Some(meminfo)) = (stat, read("/proc/meminfo")) {
            self.host = parse_host(&stat, &meminfo);
        }
    }

    /// The Prometheus text exposition (format 0.0.4) of this snapshot.
    pub fn render(&self) -> String {
        let mut r = Renderer::default();
        self.render_info(&mut r);
        if let Some(p) = &self.process {
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
                "falcosecurity_falco_start_timestamp_nanoseconds",
                "When the agent started, ns since the epoch.",
                p.start_ns as f64,
            );
        }
        if let Some(h) = &self.host {
            r.gauge(
                "falcosecurity_falco_host_num_cpus_total",
                "CPUs of the host.",
                h.num_cpus as f64,
            );
            r.gauge(
                "falcosecurity_falco_host_boot_timestamp_nanoseconds",
                "When the host booted, ns since the epoch.",
                h.boot_ns as f64,
            );
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
        }
        if let Some(c) = &self.capture {
            render_capture(&mut r, c);
        }
        if let Some(s) = &self.state {
            render_state(&mut r, s);
        }
        if let Some(e) = &self.engine {
            render_engine(&mut r, e);
        }
        self.render_rules(&mut r);
        if let Some(o) = &self.outputs {
            render_outputs(&mut r, o);
        }
        r.out
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
        if let Some(h) = &self.hostname {
            r.family(
                "falcosecurity_evt_hostname_info",
                "Hostname put in alerts.",
                "gauge",
            );
            r.sample("falcosecurity_evt_hostname_info", &[("hostname", h)], 1.0);
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
            let mut tags: Vec<&str> = m.tags.iter().map(String::as_str).collect();
            tags.sort_unstable();
            tags.dedup();
            // Falco labels the priority with its number (0 = Emergency … 7 = Debug) and joins
            // the tags, in order, with ", ".
            let prio = (m.priority as u8).to_string();
            let labels = [
                ("priority", prio.as_str()),
                ("rule_name", m.rule.as_str()),
                ("source", m.source.as_str()),
                ("tags", &tags.join(", ")),
            ];
            r.sample(
                "falcosecurity_falco_rules_matches_total",
                &labels,
                m.count as f64,
            );
        }
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
        "Events lost because the ring buffer was full, per syscall family.",
        "counter",
    );
    for f in peregrine_capture::Family::ALL {
        let n = c.drops_by_family.get(f as usize).copied().unwrap_or(0);
        r.sample(
            "falcosecurity_scap_n_drops_buffer_total",
            &[("drop", family_name(f))],
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
    r.gauge(
        "falcosecurity_scap_n_drops_perc",
        "Dropped events over all events, in percent, since start.",
        drop_perc(c),
    );
    r.counter(
        "peregrine_capture_syscalls_total",
        "Selected syscalls seen returning.",
        c.syscalls,
    );
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
    r.gauge(
        "falcosecurity_falco_n_threads",
        "Threads in the thread table.",
        s.threads as f64,
    );
    r.gauge(
        "falcosecurity_falco_n_fds",
        "File descriptors in all fd tables.",
        s.fds as f64,
    );
    r.counter(
        "falcosecurity_falco_n_added_threads_total",
        "Threads added to the table.",
        s.threads_added,
    );
    r.counter(
        "falcosecurity_falco_n_removed_threads_total",
        "Threads removed from the table.",
        s.threads_removed,
    );
    r.counter(
        "falcosecurity_falco_n_drops_full_threadtable_total",
        "Threads not tracked because the table was full.",
        s.threads_dropped,
    );
    r.counter(
        "falcosecurity_falco_n_failed_thread_lookups_total",
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
    // The engine keeps bucket counts only, so the sum is not known: it is left at 0 rather than
    // invented (rates of _count and quantiles from buckets still work).
    r.histogram(
        "peregrine_engine_eval_latency_seconds",
        "Rule evaluation latency of sampled events.",
        &[],
        &bounds,
        &e.latency.buckets,
        0.0,
    );
}

fn render_outputs(r: &mut Renderer, o: &OutputsSnapshot) {
    let queue_drops: u64 = o.outputs.iter().map(|s| s.dropped_queue_full).sum();
    r.counter(
        "falcosecurity_falco_outputs_queue_num_drops_total",
        "Alerts dropped because an output queue was full.",
        queue_drops,
    );
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
    type Get = fn(&peregrine_outputs::OutputSnapshot) -> u64;
    let per_output: [(&str, &str, Get); 6] = [
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
            "Alerts below the output's minimum priority.",
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
    ];
    for (name, help, get) in per_output {
        r.family(name, help, "counter");
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
fn escape_label(v: &str) -> String {
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
    })
}
