//! The web server and the Prometheus page, tested from outside through the crate's public
//! API: a filled snapshot renders to golden text, the full page parses back under the
//! exposition format's rules, and a real server on an ephemeral loopback port answers each
//! endpoint.

use peregrine_outputs::{OutputSnapshot, Priority, Snapshot};
use peregrine_web::{metrics, server as web};
use peregrine_web::{BuildInfo, MetricsSnapshot, RuleMatch};
use peregrine_web::{Versions, WebConfig, WebServer};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;

fn build() -> BuildInfo {
    BuildInfo {
        version: "0.1.0".into(),
        engine_version: "0.62.0".into(),
        falco_compat_version: "0.44.1".into(),
    }
}

/// Every section filled with distinct values, so a swapped field shows.
fn filled() -> MetricsSnapshot {
    let mut engine = peregrine_engine::Stats {
        events: 1000,
        evaluated: 600,
        decode_errors: 2,
        reloads: 1,
        rule_matches: vec![3, 4],
        ..Default::default()
    };
    engine.latency.buckets[0] = 5;
    engine.latency.buckets[2] = 7;
    engine.latency.buckets[peregrine_engine::LATENCY_BUCKETS - 1] = 1;
    let output = OutputSnapshot {
        name: "stdout".into(),
        enqueued: 7,
        delivered: 6,
        dropped_queue_full: 11,
        filtered: 1,
        abandoned: 0,
        errors: 2,
        spooled: 5,
        spool_dropped: 1,
        retried: 9,
        spool_pending: 3,
        spool_bytes: 640,
        failed_writes: 1,
        last_error: None,
        latency: peregrine_outputs::counters::LatencySnapshot {
            count: 6,
            sum_ns: 1_500_000,
            max_ns: 900_000,
            buckets: vec![1, 4, 1, 0, 0, 0, 0, 0],
        },
    };
    MetricsSnapshot {
        build: Some(build()),
        hostname: Some("node-1".into()),
        capture: Some(peregrine_capture::Counters {
            syscalls: 5000,
            events: 4000,
            drops_ring_full: 30,
            drops_by_family: [0, 10, 5, 15, 0],
            drops_too_large: 1,
            read_failures: 4,
            stash_failures: 0,
            missing_enter: 9,
            delivered: 3990,
            malformed: 3,
            shed_open_path: 700,
            shed_close: 600,
        }),
        state: Some(peregrine_state::Counters {
            threads: 321,
            fds: 4321,
            threads_added: 400,
            proc_lookups: 12,
            proc_lookups_failed: 2,
            user_cache_hits: 99,
            user_cache_misses: 1,
            ..Default::default()
        }),
        engine: Some(engine),
        rules: vec![
            RuleMatch {
                rule: "Read sensitive file untrusted".into(),
                priority: Priority::Warning,
                source: "syscall".into(),
                tags: vec!["mitre_credential_access".into(), "host".into()],
                count: 3,
            },
            RuleMatch {
                rule: "Odd \"name\" \\ with\nnewline".into(),
                priority: Priority::Critical,
                source: "syscall".into(),
                tags: vec![],
                count: 4,
            },
        ],
        outputs: Some(Snapshot {
            alerts_by_rule: BTreeMap::new(),
            alerts_by_priority: vec![(Priority::Critical, 4), (Priority::Warning, 3)],
            rate_limited: 5,
            outputs: vec![output],
            ..Snapshot::default()
        }),
        process: Some(metrics::ProcessStats {
            cpu_usage_ratio: 0.25,
            rss_bytes: 40_000_000,
            vsz_bytes: 900_000_000,
            pss_bytes: 30_000_000,
            container_memory_used_bytes: Some(50_000_000),
            start_ns: 1_700_000_000_000_000_000,
        }),
        host: Some(metrics::HostStats {
            num_cpus: 2,
            boot_ns: 1_600_000_000_000_000_000,
            cpu_usage_ratio: 0.5,
            memory_used_bytes: 1_000_000,
            procs_running: 3,
            open_fds: 640,
        }),
        run: Some(metrics::RunInfo {
            engine_name: "modern_bpf".into(),
            evt_source: "syscall".into(),
            kernel_release: "6.18.44".into(),
            rules_files: vec![metrics::FileDigest {
                file_name: "falco_rules.yaml".into(),
                sha256: "ab".repeat(32),
            }],
            config_files: vec![metrics::FileDigest {
                file_name: "falco.yaml".into(),
                sha256: "cd".repeat(32),
            }],
            reload_ns: 1_700_000_000_500_000_000,
            now_ns: 1_700_000_019_000_000_000,
        }),
        options: metrics::MetricsOptions::default(),
        triage: None,
        response: Some(response()),
        host_root: None,
    }
}

/// Two kills (2 ms and 30 ms after their events), one refused, one stop.
fn response() -> peregrine_response::Snapshot {
    let mut latency_buckets = vec![0; peregrine_response::LATENCY_BOUNDS.len() + 1];
    latency_buckets[3] = 1; // ≤ 5 ms
    latency_buckets[6] = 1; // ≤ 50 ms
    peregrine_response::Snapshot {
        actions: [
            (("kill".to_string(), "done".to_string()), 2),
            (("kill".to_string(), "refused".to_string()), 1),
            (("stop".to_string(), "failed".to_string()), 1),
        ]
        .into_iter()
        .collect(),
        latency_buckets,
        latency_sum_seconds: 0.032,
        breaker_trips: 1,
        dropped: 0,
        matched_alerts: 4,
    }
}

/// The response series: actions by action and outcome, the time-to-contain histogram
/// (cumulative buckets), the breaker.
#[test]
fn response_series() {
    let page = parse_page(&filled().render()).expect("parses");
    let value = |name: &str, labels: &[(&str, &str)]| -> Vec<f64> {
        page.samples
            .iter()
            .filter(|s| {
                s.name == name
                    && labels
                        .iter()
                        .all(|(k, v)| s.labels.iter().any(|(k2, v2)| k2 == k && v2 == v))
            })
            .map(|s| s.value)
            .collect()
    };
    let total = "peregrine_response_actions_total";
    assert_eq!(
        value(total, &[("action", "kill"), ("outcome", "done")]),
        [2.0]
    );
    assert_eq!(
        value(total, &[("action", "kill"), ("outcome", "refused")]),
        [1.0]
    );
    assert_eq!(
        value(total, &[("action", "stop"), ("outcome", "failed")]),
        [1.0]
    );
    let h = "peregrine_response_action_latency_seconds";
    assert_eq!(value(&format!("{h}_bucket"), &[("le", "0.001")]), [0.0]);
    assert_eq!(value(&format!("{h}_bucket"), &[("le", "0.005")]), [1.0]);
    assert_eq!(value(&format!("{h}_bucket"), &[("le", "0.05")]), [2.0]);
    assert_eq!(value(&format!("{h}_bucket"), &[("le", "+Inf")]), [2.0]);
    assert_eq!(value(&format!("{h}_count"), &[]), [2.0]);
    assert_eq!(value("peregrine_response_breaker_trips_total", &[]), [1.0]);
    assert_eq!(page.types.get(h).map(String::as_str), Some("histogram"));
}

#[test]
fn golden_rules_and_build() {
    let snap = MetricsSnapshot {
        build: Some(build()),
        rules: filled().rules,
        ..Default::default()
    };
    let expected = r#"# HELP falcosecurity_falco_version_info Agent and rules engine versions.
# TYPE falcosecurity_falco_version_info gauge
falcosecurity_falco_version_info{version="0.1.0",engine_version="0.62.0"} 1
# HELP peregrine_falco_compat_info The Falco release whose behaviour is followed.
# TYPE peregrine_falco_compat_info gauge
peregrine_falco_compat_info{falco_version="0.44.1"} 1
# HELP falcosecurity_falco_rules_matches_total Events matched, per rule.
# TYPE falcosecurity_falco_rules_matches_total counter
falcosecurity_falco_rules_matches_total{priority="4",rule_name="Read sensitive file untrusted",source="syscall",tag_host="true",tag_mitre_credential_access="true"} 3
falcosecurity_falco_rules_matches_total{priority="2",rule_name="Odd \"name\" \\ with\nnewline",source="syscall"} 4
"#;
    assert_eq!(snap.render(), expected);
}

#[test]
fn golden_output_histogram() {
    let snap = MetricsSnapshot {
        outputs: filled().outputs,
        ..Default::default()
    };
    let text = snap.render();
    let hist: String = text
        .lines()
        .filter(|l| l.starts_with("peregrine_output_delivery_latency_seconds"))
        .map(|l| format!("{l}\n"))
        .collect();
    let expected = r#"peregrine_output_delivery_latency_seconds_bucket{output="stdout",le="0.0001"} 1
peregrine_output_delivery_latency_seconds_bucket{output="stdout",le="0.001"} 5
peregrine_output_delivery_latency_seconds_bucket{output="stdout",le="0.01"} 6
peregrine_output_delivery_latency_seconds_bucket{output="stdout",le="0.1"} 6
peregrine_output_delivery_latency_seconds_bucket{output="stdout",le="1"} 6
peregrine_output_delivery_latency_seconds_bucket{output="stdout",le="10"} 6
peregrine_output_delivery_latency_seconds_bucket{output="stdout",le="60"} 6
peregrine_output_delivery_latency_seconds_bucket{output="stdout",le="+Inf"} 6
peregrine_output_delivery_latency_seconds_sum{output="stdout"} 0.0015
peregrine_output_delivery_latency_seconds_count{output="stdout"} 6
"#;
    assert_eq!(hist, expected);
}

#[test]
fn golden_time_to_detect_and_alerts_by_rule() {
    let mut buckets = vec![0; peregrine_outputs::counters::DETECT_BUCKETS.len() + 1];
    // 2 alerts within 1 ms, 1 at 7 ms, 1 past the last bound.
    buckets[1] = 2;
    buckets[4] = 1;
    buckets[13] = 1;
    let snap = MetricsSnapshot {
        outputs: Some(Snapshot {
            alerts_by_rule: BTreeMap::from([("Read \"shadow\"".to_string(), 3)]),
            time_to_detect: peregrine_outputs::counters::LatencySnapshot {
                count: 4,
                sum_ns: 20_009_000_000,
                max_ns: 20_000_000_000,
                buckets,
            },
            ..Snapshot::default()
        }),
        ..Default::default()
    };
    let text = snap.render();
    let ours: String = text
        .lines()
        .filter(|l| {
            l.starts_with("peregrine_time_to_detect_seconds")
                || l.starts_with("peregrine_alerts_by_rule_total")
        })
        .map(|l| format!("{l}\n"))
        .collect();
    let expected = r#"peregrine_alerts_by_rule_total{rule="Read \"shadow\""} 3
peregrine_time_to_detect_seconds_bucket{le="0.0005"} 0
peregrine_time_to_detect_seconds_bucket{le="0.001"} 2
peregrine_time_to_detect_seconds_bucket{le="0.0025"} 2
peregrine_time_to_detect_seconds_bucket{le="0.005"} 2
peregrine_time_to_detect_seconds_bucket{le="0.01"} 3
peregrine_time_to_detect_seconds_bucket{le="0.025"} 3
peregrine_time_to_detect_seconds_bucket{le="0.05"} 3
peregrine_time_to_detect_seconds_bucket{le="0.1"} 3
peregrine_time_to_detect_seconds_bucket{le="0.25"} 3
peregrine_time_to_detect_seconds_bucket{le="0.5"} 3
peregrine_time_to_detect_seconds_bucket{le="1"} 3
peregrine_time_to_detect_seconds_bucket{le="2.5"} 3
peregrine_time_to_detect_seconds_bucket{le="10"} 3
peregrine_time_to_detect_seconds_bucket{le="+Inf"} 4
peregrine_time_to_detect_seconds_sum 20.009
peregrine_time_to_detect_seconds_count 4
"#;
    assert_eq!(ours, expected);
}

#[test]
fn empty_snapshot_renders_nothing() {
    assert_eq!(MetricsSnapshot::default().render(), "");
}

/// One parsed sample line.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: Vec<(String, String)>,
    value: f64,
}

/// A parsed page: family → type, and every sample in order.
#[derive(Debug, Default)]
struct Page {
    types: BTreeMap<String, String>,
    helps: BTreeMap<String, String>,
    samples: Vec<Sample>,
}

/// A deliberately small parser of the text format 0.0.4; it rejects what Prometheus rejects
/// among the constructs the renderer could produce.
fn parse_page(text: &str) -> Result<Page, String> {
    let mut page = Page::default();
    for (n, line) in text.lines().enumerate() {
        let err = |m: &str| format!("line {}: {m}: {line:?}", n + 1);
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest
                .split_once(' ')
                .ok_or_else(|| err("HELP without text"))?;
            if page.helps.insert(name.into(), help.into()).is_some() {
                return Err(err("second HELP"));
            }
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest
                .split_once(' ')
                .ok_or_else(|| err("TYPE without kind"))?;
            if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind) {
                return Err(err("unknown type"));
            }
            if page.types.insert(name.into(), kind.into()).is_some() {
                return Err(err("second TYPE"));
            }
        } else if line.starts_with('#') || line.is_empty() {
            return Err(err("unexpected comment or blank line"));
        } else {
            page.samples.push(parse_sample(line).map_err(|m| err(&m))?);
        }
    }
    Ok(page)
}

fn valid_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn parse_sample(line: &str) -> Result<Sample, String> {
    let name_end = line.find(['{', ' ']).ok_or("no value")?;
    let name = &line[..name_end];
    if !valid_name(name) {
        return Err(format!("bad metric name {name:?}"));
    }
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(r) = rest.strip_prefix('{') {
        let mut chars = r.char_indices().peekable();
        loop {
            let start = chars.peek().map(|(i, _)| *i).ok_or("unterminated labels")?;
            if r[start..].starts_with('}') {
                rest = &r[start + 1..];
                break;
            }
            let eq = r[start..].find("=\"").ok_or("label without =\"")? + start;
            let key = &r[start..eq];
            if !valid_name(key) {
                return Err(format!("bad label name {key:?}"));
            }
            while chars.peek().is_some_and(|(i, _)| *i <= eq + 1) {
                chars.next();
            }
            let mut value = String::new();
            loop {
                match chars.next().ok_or("unterminated label value")?.1 {
                    '"' => break,
                    '\\' => match chars.next().ok_or("dangling escape")?.1 {
                        '\\' => value.push('\\'),
                        '"' => value.push('"'),
                        'n' => value.push('\n'),
                        c => return Err(format!("bad escape \\{c}")),
                    },
                    '\n' => return Err("raw newline in label".into()),
                    c => value.push(c),
                }
            }
            labels.push((key.to_string(), value));
            if chars.peek().is_some_and(|(_, c)| *c == ',') {
                chars.next();
            }
        }
    }
    let value_text = rest.strip_prefix(' ').ok_or("no space before value")?;
    let value = match value_text {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        "NaN" => f64::NAN,
        v => v.parse().map_err(|_| format!("bad value {v:?}"))?,
    };
    Ok(Sample {
        name: name.into(),
        labels,
        value,
    })
}

/// The family a sample belongs to (histogram series carry suffixes).
fn family_of<'a>(page: &Page, name: &'a str) -> Option<&'a str> {
    if page.types.contains_key(name) {
        return Some(name);
    }
    ["_bucket", "_sum", "_count"].iter().find_map(|s| {
        let base = name.strip_suffix(s)?;
        (page.types.get(base).map(String::as_str) == Some("histogram")).then_some(base)
    })
}

#[test]
fn full_page_is_well_formed() {
    let text = filled().render();
    let page = parse_page(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(
        page.types.keys().collect::<Vec<_>>(),
        page.helps.keys().collect::<Vec<_>>()
    );
    for (name, kind) in &page.types {
        if kind == "counter" {
            assert!(
                name.ends_with("_total"),
                "counter {name} must end in _total"
            );
        }
        assert!(
            name.starts_with("falcosecurity_") || name.starts_with("peregrine_"),
            "{name}"
        );
    }
    let mut series = std::collections::BTreeSet::new();
    for s in &page.samples {
        let family =
            family_of(&page, &s.name).unwrap_or_else(|| panic!("sample {} has no TYPE", s.name));
        assert!(s.value.is_finite() && s.value >= 0.0, "{s:?}");
        if page.types[family] == "counter" {
            assert_eq!(s.value.fract(), 0.0, "{s:?}");
        }
        let key = format!("{}{:?}", s.name, s.labels);
        assert!(series.insert(key), "duplicate series {s:?}");
    }
    // Per label set, histogram buckets are cumulative and end at +Inf == _count.
    for (family, kind) in &page.types {
        if kind != "histogram" {
            continue;
        }
        let mut groups: BTreeMap<Vec<(String, String)>, Vec<&Sample>> = BTreeMap::new();
        for s in page
            .samples
            .iter()
            .filter(|s| s.name == format!("{family}_bucket"))
        {
            let rest = s
                .labels
                .iter()
                .filter(|(k, _)| k != "le")
                .cloned()
                .collect();
            groups.entry(rest).or_default().push(s);
        }
        assert!(!groups.is_empty(), "{family} has no buckets");
        for (labels, buckets) in groups {
            assert!(
                buckets.windows(2).all(|w| w[0].value <= w[1].value),
                "{family}{labels:?}"
            );
            let last = buckets.last().expect("non-empty group");
            assert!(
                last.labels.contains(&("le".into(), "+Inf".into())),
                "{family}{labels:?}"
            );
            let count = page
                .samples
                .iter()
                .find(|s| s.name == format!("{family}_count") && s.labels == labels)
                .map(|s| s.value);
            assert_eq!(count, Some(last.value), "{family}{labels:?}");
        }
    }
}

#[test]
fn full_page_values() {
    let page = parse_page(&filled().render()).expect("parses");
    let check = |name: &str, labels: &[(&str, &str)], expected: f64| {
        let found: Vec<f64> = page
            .samples
            .iter()
            .filter(|s| {
                s.name == name
                    && labels
                        .iter()
                        .all(|(k, v)| s.labels.iter().any(|(k2, v2)| k2 == k && v2 == v))
            })
            .map(|s| s.value)
            .collect();
        assert_eq!(found, [expected], "{name}{labels:?}");
    };
    check("falcosecurity_scap_n_evts_total", &[], 4000.0);
    check("falcosecurity_scap_n_drops_total", &[], 40.0); // ring 30 + too large 1 + missing enter 9
                                                          // Shed events have their own series and are not drops (the total above excludes them).
    check(
        "peregrine_kernel_shed_total",
        &[("cause", "open_path")],
        700.0,
    );
    check("peregrine_kernel_shed_total", &[("cause", "close")], 600.0);
    check(
        "falcosecurity_scap_n_drops_buffer_total",
        &[("drop", "open")],
        10.0,
    );
    check(
        "falcosecurity_scap_n_drops_buffer_total",
        &[("drop", "connect")],
        5.0,
    );
    check(
        "falcosecurity_scap_n_drops_buffer_total",
        &[("drop", "clone_fork")],
        15.0,
    );
    check(
        "falcosecurity_scap_n_drops_buffer_total",
        &[("drop", "other_interest")],
        0.0,
    );
    check("peregrine_capture_drops_perc", &[], 100.0 * 40.0 / 4040.0);
    check("falcosecurity_scap_n_threads_total", &[], 321.0);
    check("falcosecurity_scap_n_fds_total", &[], 4321.0);
    check("falcosecurity_scap_n_failed_thread_lookups_total", &[], 2.0);
    check("peregrine_state_user_cache_hits_total", &[], 99.0);
    check("peregrine_engine_events_total", &[], 1000.0);
    check("peregrine_engine_matches_total", &[], 7.0);
    check(
        "peregrine_engine_eval_latency_seconds_bucket",
        &[("le", "0.000000128")],
        5.0,
    );
    check(
        "peregrine_engine_eval_latency_seconds_bucket",
        &[("le", "0.000000512")],
        12.0,
    );
    check("peregrine_engine_eval_latency_seconds_count", &[], 13.0);
    check(
        "falcosecurity_falco_rules_matches_total",
        &[
            ("rule_name", "Read sensitive file untrusted"),
            ("priority", "4"),
        ],
        3.0,
    );
    check(
        "falcosecurity_falco_outputs_queue_num_drops_total",
        &[],
        11.0,
    );
    check("peregrine_alerts_total", &[("priority", "Critical")], 4.0);
    check(
        "peregrine_output_errors_total",
        &[("output", "stdout")],
        2.0,
    );
    check(
        "peregrine_output_write_failures_total",
        &[("output", "stdout")],
        1.0,
    );
    check("falcosecurity_falco_cpu_usage_ratio", &[], 0.25);
    check("falcosecurity_falco_memory_rss_bytes", &[], 40_000_000.0);
    check("falcosecurity_falco_host_num_cpus_total", &[], 2.0);
    check(
        "falcosecurity_falco_version_info",
        &[("version", "0.1.0"), ("engine_version", "0.62.0")],
        1.0,
    );
    check(
        "falcosecurity_evt_hostname_info",
        &[("hostname", "node-1")],
        1.0,
    );
}

#[test]
fn proc_parsers() {
    // Field 2 holds spaces and a ')' to prove fields are counted from the last ')'.
    let stat = "1234 (pere grine) x) S 1 1234 1234 0 -1 4194560 100 0 0 0 150 50 0 0 20 0 3 0 \
                10000 123456 789 18446744073709551615";
    let status = "Name:\tperegrine\nVmSize:\t  2048 kB\nVmRSS:\t   1024 kB\n";
    // Started 100 s after boot (10000 ticks), now 500 s after boot: 2 s of CPU over 400 s.
    let p = metrics::parse_process(stat, status, 500.0, 1_000).expect("parses");
    assert_eq!(p.rss_bytes, 1024 * 1024);
    assert_eq!(p.vsz_bytes, 2048 * 1024);
    assert!(
        (p.cpu_usage_ratio - 2.0 / 400.0).abs() < 1e-12,
        "{}",
        p.cpu_usage_ratio
    );
    assert_eq!(p.start_ns, 1_100 * 1_000_000_000);
    assert_eq!(metrics::parse_process("garbage", status, 1.0, 1), None);
    assert_eq!(metrics::parse_process(stat, "Name: x\n", 1.0, 1), None);

    let host_stat = "cpu  60 0 20 100 20 0 0 0 0 0\ncpu0 30 0 10 50 10 0 0 0 0 0\n\
                     cpu1 30 0 10 50 10 0 0 0 0 0\nintr 1 2\nbtime 1700000000\nprocs_running 3\n";
    let meminfo = "MemTotal:       4000 kB\nMemFree:         500 kB\nMemAvailable:   1000 kB\n";
    let h = metrics::parse_host(host_stat, meminfo).expect("parses");
    assert_eq!(h.num_cpus, 2);
    assert_eq!(h.boot_ns, 1_700_000_000 * 1_000_000_000);
    assert!((h.cpu_usage_ratio - 80.0 / 200.0).abs() < 1e-12);
    assert_eq!(h.memory_used_bytes, 3000 * 1024);
    assert_eq!(h.procs_running, 3);
    assert_eq!(metrics::parse_host("cpu 1 2\n", meminfo), None);
    assert_eq!(metrics::parse_uptime("123.45 678.9\n"), Some(123.45));
    assert_eq!(metrics::parse_btime("btime x\n"), None);
}

#[test]
fn live_system_figures() {
    let mut snap = MetricsSnapshot::default();
    snap.refresh_system();
    let p = snap.process.expect("/proc/self is readable");
    assert!(p.rss_bytes > 0 && p.vsz_bytes >= p.rss_bytes, "{p:?}");
    let h = snap.host.expect("/proc/stat is readable");
    assert!(h.num_cpus >= 1, "{h:?}");
}

/// Under Falco's `HOST_ROOT` the host-wide figures come from the host's `/proc` mounted below
/// it, while the agent's own figures stay its own.
#[test]
fn host_figures_come_from_below_the_host_root() {
    let root = std::env::temp_dir().join(format!("pg-web-hostroot-{}", std::process::id()));
    let proc_dir = root.join("proc");
    std::fs::create_dir_all(proc_dir.join("sys/fs")).expect("mkdir");
    std::fs::write(
        proc_dir.join("stat"),
        "cpu  1 0 1 2 0 0 0 0 0 0\ncpu0 1 0 1 2 0 0 0 0 0 0\ncpu1 0 0 0 0 0 0 0 0 0 0\n\
         cpu2 0 0 0 0 0 0 0 0 0 0\nbtime 1600000000\nprocs_running 7\n",
    )
    .expect("stat");
    std::fs::write(
        proc_dir.join("meminfo"),
        "MemTotal:  8000 kB\nMemAvailable:  2000 kB\n",
    )
    .expect("meminfo");
    std::fs::write(proc_dir.join("sys/fs/file-nr"), "4242\t0\t100000\n").expect("file-nr");
    std::fs::write(proc_dir.join("uptime"), "50.00 10.00\n").expect("uptime");
    let mut snap = MetricsSnapshot {
        host_root: Some(root.clone()),
        ..MetricsSnapshot::default()
    };
    snap.refresh_system();
    let _ = std::fs::remove_dir_all(&root);
    let h = snap.host.expect("the host root's files parse");
    assert_eq!(h.num_cpus, 3, "{h:?}");
    assert_eq!(h.procs_running, 7);
    assert_eq!(h.open_fds, 4242);
    assert_eq!(h.memory_used_bytes, 6000 * 1024);
    assert_eq!(h.boot_ns, 1_600_000_000 * 1_000_000_000);
    let p = snap.process.expect("the agent's own /proc/self");
    assert!(p.rss_bytes > 0, "{p:?}");
}

// ---- HTTP against a real server -------------------------------------------------------------

fn versions() -> Versions {
    Versions {
        falco_version: "0.1.0".into(),
        libs_version: "0.1.0".into(),
        engine_version: "62".into(),
        engine_version_semver: "0.62.0".into(),
        default_driver_version: "0.1.0".into(),
        driver_api_version: "0.1.0".into(),
        driver_schema_version: "0.1.0".into(),
        plugin_api_version: "0.0.0".into(),
    }
}

fn server(metrics: bool, healthz: &str) -> WebServer {
    let cfg = WebConfig {
        listen_address: "127.0.0.1".into(),
        listen_port: 0,
        k8s_healthz_endpoint: healthz.into(),
        prometheus_metrics_enabled: metrics,
        ..WebConfig::default()
    };
    let source: Arc<dyn web::Collect> = Arc::new(filled);
    WebServer::start(&cfg, &versions(), Some(source)).expect("server starts")
}

/// Sends raw bytes, returns (status, headers, body).
fn exchange(srv: &WebServer, request: &[u8]) -> (u16, String, String) {
    let mut s = TcpStream::connect(srv.local_addr()).expect("connect");
    s.write_all(request).expect("send");
    let mut raw = String::new();
    s.read_to_string(&mut raw).expect("read");
    let (head, body) = raw.split_once("\r\n\r\n").expect("head/body split");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("status code");
    (status, head.to_string(), body.to_string())
}

fn get(srv: &WebServer, method: &str, path: &str) -> (u16, String, String) {
    exchange(
        srv,
        format!("{method} {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes(),
    )
}

#[test]
fn http_endpoints() {
    let srv = server(true, "/healthz");
    let (status, head, body) = get(&srv, "GET", "/healthz");
    assert_eq!((status, body.as_str()), (200, r#"{"status": "ok"}"#));
    assert!(head.contains("Content-Type: application/json"), "{head}");
    assert!(
        head.contains(&format!("Content-Length: {}", body.len())),
        "{head}"
    );

    let (status, _, body) = get(&srv, "GET", "/versions");
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(v["falco_version"], "0.1.0");
    assert_eq!(v["engine_version_semver"], "0.62.0");
    assert_eq!(v.as_object().map(|o| o.len()), Some(8));

    let (status, head, body) = get(&srv, "GET", "/metrics");
    assert_eq!(status, 200);
    assert!(head.contains("text/plain; version=0.0.4"), "{head}");
    let page = parse_page(&body).expect("metrics page parses");
    assert!(page.types.contains_key("falcosecurity_scap_n_evts_total"));
    // The server adds live process figures over the collected (fake) ones.
    let rss = page
        .samples
        .iter()
        .find(|s| s.name == "falcosecurity_falco_memory_rss_bytes")
        .map(|s| s.value);
    assert!(rss.is_some_and(|v| v > 0.0 && v != 40_000_000.0), "{rss:?}");

    let (status, head, body) = get(&srv, "HEAD", "/healthz");
    assert_eq!((status, body.as_str()), (200, ""));
    assert!(head.contains("Content-Length: 16"), "{head}");

    let (status, head, _) = get(&srv, "POST", "/metrics");
    assert_eq!(status, 405);
    assert!(head.contains("Allow: GET, HEAD"), "{head}");
    assert_eq!(get(&srv, "GET", "/nothing").0, 404);
    assert_eq!(exchange(&srv, b"garbage\r\n\r\n").0, 400);
    let huge = format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(web::MAX_REQUEST * 2));
    assert_eq!(exchange(&srv, huge.as_bytes()).0, 431);
    srv.shutdown();
}

/// The agent's server is up before the capture, but healthy only once the capture is.
#[test]
fn a_pending_server_is_unhealthy_until_ready() {
    let cfg = WebConfig {
        listen_address: "127.0.0.1".into(),
        listen_port: 0,
        ..WebConfig::default()
    };
    let srv = WebServer::start_pending(&cfg, &versions(), None).expect("server starts");
    let (status, _, body) = get(&srv, "GET", "/healthz");
    assert_eq!((status, body.as_str()), (503, r#"{"status": "starting"}"#));
    let (status, _, _) = get(&srv, "GET", "/versions");
    assert_eq!(status, 200, "the other routes answer meanwhile");
    srv.set_ready();
    let (status, _, body) = get(&srv, "GET", "/healthz");
    assert_eq!((status, body.as_str()), (200, r#"{"status": "ok"}"#));
}

#[test]
fn http_config_choices() {
    // Metrics disabled: /metrics is not served. Custom health path moves /healthz.
    let srv = server(false, "/live");
    assert_eq!(get(&srv, "GET", "/metrics").0, 404);
    assert_eq!(get(&srv, "GET", "/healthz").0, 404);
    assert_eq!(get(&srv, "GET", "/live").0, 200);
    let addr = srv.local_addr();
    srv.shutdown();
    // After shutdown nothing listens on the port any more.
    assert!(TcpStream::connect(addr).is_err());
}

#[test]
fn bind_errors_name_the_address() {
    let srv = server(false, "/healthz");
    let cfg = WebConfig {
        listen_address: "127.0.0.1".into(),
        listen_port: srv.local_addr().port(),
        ..WebConfig::default()
    };
    let err = WebServer::start(&cfg, &versions(), None)
        .err()
        .expect("port in use");
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("127.0.0.1:{}", cfg.listen_port)),
        "{msg}"
    );
    srv.shutdown();
}

#[test]
fn rule_matches_from_a_rule_set() {
    let yaml = r#"
- rule: quiet
  desc: never matches here
  condition: evt.type = open
  output: q
  priority: INFO
- rule: loud
  desc: matches
  condition: evt.type = openat
  output: l
  priority: ERROR
  tags: [b, a]
"#;
    let mut loader = peregrine_rules::Loader::new();
    assert!(loader.load_str("test.yaml", yaml), "{:?}", loader.results());
    let (rules, _) = loader.finish();
    let check = |include_empty: bool, expected: &[(&str, Priority, &[&str], u64)]| {
        let got: Vec<(String, Priority, Vec<String>, u64)> =
            metrics::rule_matches(&rules, &[0, 5], include_empty)
                .into_iter()
                .map(|m| {
                    assert_eq!(m.source, "syscall");
                    (m.rule, m.priority, m.tags, m.count)
                })
                .collect();
        let want: Vec<(String, Priority, Vec<String>, u64)> = expected
            .iter()
            .map(|(r, p, t, n)| {
                (
                    r.to_string(),
                    *p,
                    t.iter().map(|s| s.to_string()).collect(),
                    *n,
                )
            })
            .collect();
        assert_eq!(got, want, "include_empty={include_empty}");
    };
    check(false, &[("loud", Priority::Error, &["a", "b"], 5)]);
    check(
        true,
        &[
            ("quiet", Priority::Informational, &[], 0),
            ("loud", Priority::Error, &["a", "b"], 5),
        ],
    );
}

#[test]
fn own_versions() {
    let v = Versions::peregrine(&peregrine_rules::version::Version::new(0, 62, 1));
    assert_eq!(v.engine_version, "62");
    assert_eq!(v.engine_version_semver, "0.62.1");
    assert_eq!(v.falco_version, env!("CARGO_PKG_VERSION"));
}

#[test]
fn agent_filled_snapshot_is_served() {
    let shared = Arc::new(std::sync::Mutex::new(MetricsSnapshot::default()));
    let cfg = WebConfig {
        listen_address: "127.0.0.1".into(),
        listen_port: 0,
        prometheus_metrics_enabled: true,
        ..WebConfig::default()
    };
    let srv = WebServer::start(&cfg, &versions(), Some(shared.clone())).expect("starts");
    let evts = |body: &str| {
        parse_page(body)
            .expect("parses")
            .samples
            .iter()
            .find(|s| s.name == "falcosecurity_scap_n_evts_total")
            .map(|s| s.value)
    };
    assert_eq!(evts(&get(&srv, "GET", "/metrics").2), None);
    shared.lock().expect("lock").capture = Some(peregrine_capture::Counters {
        events: 42,
        ..Default::default()
    });
    assert_eq!(evts(&get(&srv, "GET", "/metrics").2), Some(42.0));
    srv.shutdown();
}

#[test]
fn idle_clients_neither_block_nor_exhaust_the_server() {
    let srv = server(false, "/healthz");
    // With one idle client holding a slot, others are still served.
    let one = TcpStream::connect(srv.local_addr()).expect("connect");
    assert_eq!(get(&srv, "GET", "/healthz").0, 200);
    // Fill every slot with clients that never send: the next client waits in the backlog
    // and is served once they leave, instead of being refused.
    let idle: Vec<TcpStream> = (1..web::MAX_CONNECTIONS)
        .map(|_| TcpStream::connect(srv.local_addr()).expect("connect"))
        .collect();
    let addr = srv.local_addr();
    let waiting = std::thread::spawn(move || {
        let mut s = TcpStream::connect(addr).expect("connect");
        s.write_all(b"GET /healthz HTTP/1.1\r\n\r\n").expect("send");
        let mut raw = String::new();
        s.read_to_string(&mut raw).expect("read");
        raw
    });
    drop(idle);
    drop(one);
    let raw = waiting.join().expect("client thread");
    assert!(raw.starts_with("HTTP/1.1 200 OK"), "{raw}");
    srv.shutdown();
}

/// The route table of the first server, checked over HTTP now that routing is axum's: the
/// health path ignores the query, only GET and HEAD are allowed on a known path, and an
/// unknown path is 404 whatever the method.
#[test]
fn routing_table() {
    let srv = server(false, "/healthz");
    let check = |method: &str, target: &str, status: u16| {
        assert_eq!(get(&srv, method, target).0, status, "{method} {target}");
    };
    check("GET", "/healthz", 200);
    check("GET", "/healthz?x=1", 200);
    check("HEAD", "/versions", 200);
    check("POST", "/healthz", 405);
    check("PUT", "/versions", 405);
    check("GET", "/metrics", 404); // metrics disabled
    check("GET", "/", 404);
    check("DELETE", "/nope", 404);
    let (_, head, body) = get(&srv, "POST", "/healthz");
    assert!(head.contains("Allow: GET, HEAD"), "{head}");
    assert_eq!(body, "method not allowed\n");
    let (_, head, body) = get(&srv, "GET", "/nope");
    assert!(
        head.contains("Content-Type: text/plain; charset=utf-8"),
        "{head}"
    );
    assert!(head.contains("Connection: close"), "{head}");
    assert_eq!(body, "not found\n");
    srv.shutdown();
}

/// Falco's series Peregrine claims, with the data behind each. Every one must be on Falco
/// 0.44.1's recorded page with the same type and label keys (`tag_*` labels vary per rule).
const FALCO_SERIES: &[&str] = &[
    "falcosecurity_falco_rules_matches_total",
    "falcosecurity_falco_sha256_rules_files_info",
    "falcosecurity_falco_sha256_config_files_info",
    "falcosecurity_scap_engine_name_info",
    "falcosecurity_scap_n_evts_total",
    "falcosecurity_scap_n_drops_total",
    "falcosecurity_scap_n_drops_buffer_total",
    "falcosecurity_scap_n_drops_scratch_map_total",
    "falcosecurity_falco_cpu_usage_ratio",
    "falcosecurity_falco_memory_rss_bytes",
    "falcosecurity_falco_memory_vsz_bytes",
    "falcosecurity_falco_memory_pss_bytes",
    "falcosecurity_falco_container_memory_used_bytes",
    "falcosecurity_falco_host_cpu_usage_ratio",
    "falcosecurity_falco_host_memory_used_bytes",
    "falcosecurity_falco_host_procs_running_total",
    "falcosecurity_falco_host_open_fds_total",
    "falcosecurity_scap_n_threads_total",
    "falcosecurity_scap_n_fds_total",
    "falcosecurity_scap_n_failed_thread_lookups_total",
    "falcosecurity_scap_n_added_threads_total",
    "falcosecurity_scap_n_removed_threads_total",
    "falcosecurity_scap_n_drops_full_threadtable_total",
    "falcosecurity_falco_kernel_release_info",
    "falcosecurity_evt_hostname_info",
    "falcosecurity_falco_outputs_queue_num_drops_total",
    "falcosecurity_falco_reload_timestamp_nanoseconds",
    "falcosecurity_falco_start_timestamp_nanoseconds",
    "falcosecurity_falco_duration_seconds_total",
    "falcosecurity_falco_host_boot_timestamp_nanoseconds",
    "falcosecurity_falco_host_num_cpus_total",
];

/// Our `falcosecurity_*` series that Falco's recorded page lacks or labels differently, and why.
const KNOWN_DIFFERENCES: &[(&str, &str)] = &[
    (
        "falcosecurity_falco_version_info",
        "adds an engine_version label (Falco: version only); the version label matches",
    ),
    (
        "falcosecurity_scap_n_drops_page_faults_total",
        "a libs counter Falco shows for drivers that report page faults, not for modern_bpf",
    ),
];

/// A page in Falco's own layout (a HELP/TYPE pair repeated before every sample of
/// `n_drops_buffer_total`): family → type, and name → the label-key sets of its samples.
#[allow(clippy::type_complexity)]
fn lenient_page(text: &str) -> (BTreeMap<String, String>, BTreeMap<String, Vec<Vec<String>>>) {
    let mut types = BTreeMap::new();
    let mut samples: BTreeMap<String, Vec<Vec<String>>> = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE line");
            types.insert(name.to_string(), kind.to_string());
        } else if !line.starts_with('#') && !line.is_empty() {
            let s = parse_sample(line).unwrap_or_else(|e| panic!("{e}: {line}"));
            let keys = s.labels.into_iter().map(|(k, _)| k).collect();
            samples.entry(s.name).or_default().push(keys);
        }
    }
    (types, samples)
}

/// Label keys with the per-tag labels folded into one `tag_*` entry.
fn label_shape(keys: &[String]) -> Vec<String> {
    let mut out: Vec<String> = keys
        .iter()
        .map(|k| {
            if k.starts_with("tag_") {
                "tag_*".to_string()
            } else {
                k.clone()
            }
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

#[test]
fn falco_series_match_falco_0_44_1_page() {
    let Some(dir) = peregrine_testkit::upstream::require("falco_series_match_falco_0_44_1_page")
    else {
        return;
    };
    let falco = std::fs::read_to_string(dir.join("config/falco-metrics.txt")).expect("falco page");
    let (falco_types, falco_samples) = lenient_page(&falco);
    let ours = filled().render();
    let (our_types, our_samples) = lenient_page(&ours);
    for name in FALCO_SERIES {
        let ft = falco_types.get(*name);
        assert!(ft.is_some(), "{name} is not on Falco's page");
        assert_eq!(our_types.get(*name), ft, "{name}: type");
        let shapes = |m: &BTreeMap<String, Vec<Vec<String>>>| -> Vec<Vec<String>> {
            let mut v: Vec<Vec<String>> = m
                .get(*name)
                .map(|s| s.iter().map(|k| label_shape(k)).collect())
                .unwrap_or_default();
            v.sort();
            v.dedup();
            v
        };
        let (fs, os) = (shapes(&falco_samples), shapes(&our_samples));
        assert!(!os.is_empty(), "{name} missing from our page:\n{ours}");
        for shape in &os {
            // A rule without tags has no tag label; Falco's recorded rule has tags.
            let with_tags = {
                let mut s = shape.clone();
                if !s.iter().any(|k| k == "tag_*") && *name == FALCO_SERIES[0] {
                    s.push("tag_*".into());
                    s.sort();
                }
                s
            };
            assert!(
                fs.contains(shape) || fs.contains(&with_tags),
                "{name}: our labels {shape:?}, Falco's {fs:?}"
            );
        }
    }
    // Every falcosecurity_* family we render is Falco's, with Falco's type, or a documented
    // difference.
    for (name, kind) in &our_types {
        if !name.starts_with("falcosecurity_") {
            continue;
        }
        if KNOWN_DIFFERENCES.iter().any(|(n, _)| n == name) {
            continue;
        }
        assert_eq!(falco_types.get(name), Some(kind), "{name} is not Falco's");
    }
    // The tag labels look exactly like Falco's.
    assert!(falco.contains(r#"tag_maturity_stable="true""#));
    assert!(ours.contains(r#",tag_host="true",tag_mitre_credential_access="true"} 3"#));
}

/// Each `metrics.*_enabled` group that is off leaves its series out.
#[test]
fn metric_groups_follow_the_enabled_keys() {
    let page = |o: metrics::MetricsOptions| {
        let mut s = filled();
        s.options = o;
        s.render()
    };
    let all = metrics::MetricsOptions::default();
    for (off, gone, kept) in [
        (
            metrics::MetricsOptions {
                rules_counters: false,
                ..all
            },
            "falcosecurity_falco_rules_matches_total",
            "falcosecurity_scap_n_evts_total",
        ),
        (
            metrics::MetricsOptions {
                resource_utilization: false,
                ..all
            },
            "falcosecurity_falco_memory_rss_bytes",
            "falcosecurity_falco_host_num_cpus_total",
        ),
        (
            metrics::MetricsOptions {
                state_counters: false,
                ..all
            },
            "falcosecurity_scap_n_threads_total",
            "falcosecurity_falco_memory_pss_bytes",
        ),
        (
            metrics::MetricsOptions {
                kernel_event_counters: false,
                ..all
            },
            "falcosecurity_scap_n_evts_total",
            "falcosecurity_scap_n_threads_total",
        ),
    ] {
        let text = page(off);
        assert!(!text.contains(&format!("{gone} ")), "{gone} still shown");
        assert!(!text.contains(&format!("{gone}{{")), "{gone} still shown");
        assert!(text.contains(kept), "{kept} lost");
    }
}

/// The evaluation latency's `_sum` is the recorded sum, not 0.
#[test]
fn eval_latency_sum_is_reported() {
    let mut s = filled();
    if let Some(e) = s.engine.as_mut() {
        e.latency.sum_ns = 2_500_000;
    }
    let page = parse_page(&s.render()).expect("parses");
    let sum = page
        .samples
        .iter()
        .find(|x| x.name == "peregrine_engine_eval_latency_seconds_sum")
        .map(|x| x.value);
    assert_eq!(sum, Some(0.0025));
}

/// Falco's "metrics snapshot" alert: the rule, priority, source and every output field key of
/// Falco 0.44.1's recorded alert that Peregrine has data for, under the same key and JSON type.
#[test]
fn snapshot_alert_has_falcos_shape() {
    let Some(dir) = peregrine_testkit::upstream::require("snapshot_alert_has_falcos_shape") else {
        return;
    };
    let text = std::fs::read_to_string(dir.join("config/falco-metrics-snapshot.json"))
        .expect("falco snapshot");
    let falco: serde_json::Value = serde_json::from_str(&text).expect("json");
    let mut alerts = metrics::SnapshotAlerts::default();
    let mut snap = filled();
    snap.state.as_mut().expect("state").threads_removed = 0;
    let first = alerts.alert(&snap, true, false);
    let opts = peregrine_outputs::FormatOptions {
        json_output: true,
        ..Default::default()
    };
    let ours: serde_json::Value =
        serde_json::from_str(&opts.format(&first)).expect("our alert is JSON");
    for key in ["rule", "priority", "source", "output"] {
        assert_eq!(ours[key], falco[key], "{key}");
    }
    let (of, ff) = (&ours["output_fields"], &falco["output_fields"]);
    // Keys Falco has that Peregrine has no data for.
    let absent = [
        "falco.host_netinfo.interfaces.eth0.protocols.ipv4.addresses",
        "falco.host_netinfo.interfaces.eth0.protocols.ipv6.addresses",
        "falco.n_cached_thread_lookups",
        "falco.n_noncached_thread_lookups",
        "falco.n_failed_fd_lookups",
    ];
    let kind = |v: &serde_json::Value| match v {
        serde_json::Value::String(_) => "string",
        serde_json::Value::Number(_) => "number",
        _ => "other",
    };
    for (k, v) in ff.as_object().expect("fields") {
        if absent.contains(&k.as_str()) {
            continue;
        }
        assert!(of.get(k).is_some(), "{k} missing from {of}");
        assert_eq!(kind(&of[k]), kind(v), "{k}");
    }
    assert_eq!(of["scap.engine_name"], "modern_bpf");
    assert_eq!(
        of["falco.sha256_rules_file.falco_rules_yaml"],
        "ab".repeat(32)
    );
    assert_eq!(of["falco.memory_rss_mb"], 38.1);
    assert_eq!(of["falco.duration_sec"], 19);
    // Zero-valued state counters are left out unless include_empty_values.
    assert!(of.get("falco.n_removed_threads").is_none(), "{of}");
    let again = alerts.alert(&snap, false, true);
    let keys: Vec<&str> = again
        .output_fields
        .iter()
        .map(|(k, _)| k.as_str())
        .collect();
    assert!(keys.contains(&"falco.n_removed_threads"), "{keys:?}");
    assert!(keys.contains(&"falco.memory_rss_kb"), "{keys:?}");
    assert!(
        keys.contains(&"falco.container_memory_used_bytes"),
        "{keys:?}"
    );
    let prev = again
        .output_fields
        .iter()
        .find(|(k, _)| k == "scap.n_evts_prev")
        .map(|(_, v)| v.clone());
    assert_eq!(prev, Some(peregrine_outputs::OutputValue::UInt(4040)));
}

#[test]
fn cgroup_memory_files_of_the_agent() {
    use std::path::PathBuf;
    let (v1, v2) = metrics::cgroup_memory_files(
        "9:name=systemd:/\n4:memory:/process_api/b8a9\n0::/system.slice/peregrine.service\n",
    );
    assert_eq!(
        v1,
        Some(PathBuf::from(
            "/sys/fs/cgroup/memory/process_api/b8a9/memory.usage_in_bytes"
        ))
    );
    assert_eq!(
        v2,
        Some(PathBuf::from(
            "/sys/fs/cgroup/system.slice/peregrine.service/memory.current"
        ))
    );
    // Inside a container (cgroup namespace root), the v1 file is Falco's default path.
    let (v1, v2) = metrics::cgroup_memory_files("4:memory:/\n");
    assert_eq!(
        v1,
        Some(PathBuf::from("/sys/fs/cgroup/memory/memory.usage_in_bytes"))
    );
    assert_eq!(v2, None);
}

#[test]
fn spool_series_per_output() {
    let snap = MetricsSnapshot {
        outputs: filled().outputs,
        ..Default::default()
    };
    let text = snap.render();
    for line in [
        "# TYPE peregrine_output_spooled_total counter",
        "peregrine_output_spooled_total{output=\"stdout\"} 5",
        "peregrine_output_spool_drops_total{output=\"stdout\"} 1",
        "peregrine_output_retries_total{output=\"stdout\"} 9",
        "# TYPE peregrine_output_spool_pending gauge",
        "peregrine_output_spool_pending{output=\"stdout\"} 3",
        "peregrine_output_spool_bytes{output=\"stdout\"} 640",
    ] {
        assert!(text.lines().any(|l| l == line), "{line} missing:\n{text}");
    }
}

/// Triage's series: dedup counters and one sample per silence, labelled by its id.
#[test]
fn triage_series() {
    use peregrine_triage::{DedupStats, SilenceCount, State, TriageSnapshot};
    let snap = MetricsSnapshot {
        triage: Some(TriageSnapshot {
            dedup_enabled: true,
            dedup: DedupStats {
                suppressed: 9999,
                summaries: 1,
                evicted: 2,
                fingerprints: 3,
            },
            silences: vec![
                SilenceCount {
                    id: "maint".into(),
                    state: State::Active,
                    suppressed: 7,
                },
                SilenceCount {
                    id: "s-1".into(),
                    state: State::Expired,
                    suppressed: 0,
                },
            ],
        }),
        ..MetricsSnapshot::default()
    };
    let page = snap.render();
    for line in [
        "peregrine_dedup_suppressed_total 9999",
        "peregrine_dedup_summaries_total 1",
        "peregrine_dedup_evicted_total 2",
        "peregrine_dedup_fingerprints 3",
        "peregrine_silence_suppressed_total{silence=\"maint\"} 7",
        "peregrine_silence_suppressed_total{silence=\"s-1\"} 0",
        "peregrine_silence_active{silence=\"maint\",state=\"active\"} 1",
        "peregrine_silence_active{silence=\"s-1\",state=\"expired\"} 0",
    ] {
        assert!(
            page.lines().any(|l| l == line),
            "{line} missing from:\n{page}"
        );
    }
}
