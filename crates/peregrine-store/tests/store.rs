//! Both stores through one suite: filters, free text, cursors, status, retention, restart,
//! export and the writer thread. Each body takes an `Open` that opens the same fresh store
//! every time it is called (a SQLite file in a temporary directory, or a new database in a
//! private PostgreSQL cluster), so "restart" is opening it again.

use std::sync::Arc;
use std::time::Duration;

use peregrine_store::{
    AlertStore, Ancestor, Container, Context, ExportFormat, Pod, Query, Record, Retention,
    SqliteStore, Status, Writer,
};
use peregrine_testkit::services;

/// Opens the body's store (the same one at each call).
type Open<'a> = &'a dyn Fn() -> Arc<dyn AlertStore>;

const MIN: u64 = 60_000_000_000;

fn rec(i: u64, rule: &str, severity: u8, container: Option<(&str, &str, &str)>) -> Record {
    let priority = [
        "Emergency",
        "Alert",
        "Critical",
        "Error",
        "Warning",
        "Notice",
        "Informational",
        "Debug",
    ][usize::from(severity)]
    .to_string();
    Record {
        id: format!("id-{i}"),
        time_ns: 1_000 * MIN + i * MIN,
        rule: rule.to_string(),
        priority,
        severity,
        source: "syscall".into(),
        hostname: if i % 2 == 0 { "node-a" } else { "node-b" }.into(),
        tags: vec!["T1003".into(), format!("tag{}", i % 3)],
        output: format!("event {i} by proc{i} reading /etc/shadow{i}"),
        json: format!("{{\"rule\":\"{rule}\",\"n\":{i}}}"),
        context: Context {
            ancestry: vec![
                Ancestor {
                    pid: 30,
                    ppid: 20,
                    exe: "/usr/bin/cat".into(),
                    cmdline: "cat /etc/shadow".into(),
                    uid: 0,
                    user: "root".into(),
                    start_ns: 5,
                },
                Ancestor {
                    pid: 20,
                    ppid: 10,
                    exe: "/usr/bin/python3".into(),
                    cmdline: "python3 x.py".into(),
                    uid: 0,
                    user: "root".into(),
                    start_ns: 4,
                },
            ],
            container: container.map(|(id, name, ns)| Container {
                id: id.into(),
                name: name.into(),
                image: "nginx".into(),
                labels: vec![("app".into(), "web".into())],
                pod: (!ns.is_empty()).then(|| Pod {
                    name: "web-0".into(),
                    namespace: ns.into(),
                    labels: vec![("tier".into(), "front".into())],
                }),
            }),
        },
        refers_to: None,
    }
}

const CID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn seeded(open: Open) -> Arc<dyn AlertStore> {
    let store = open();
    let mut batch = Vec::new();
    for i in 0..30u64 {
        let rule = if i % 3 == 0 {
            "Read sensitive file untrusted"
        } else {
            "Terminal shell in container"
        };
        let c = (i % 2 == 0).then_some((CID, "web", "prod"));
        batch.push(rec(i, rule, (i % 8) as u8, c));
    }
    assert_eq!(store.insert(&batch).expect("insert"), 30);
    // The same ids again are not stored twice.
    assert_eq!(store.insert(&batch[..5]).expect("insert"), 0);
    store
}

fn ids(store: &Arc<dyn AlertStore>, q: Query) -> Vec<String> {
    store
        .search(&Query { limit: 100, ..q })
        .expect("search")
        .alerts
        .into_iter()
        .map(|a| a.record.id)
        .collect()
}

fn every_filter_selects_what_it_names(open: Open) {
    let store = seeded(open);
    assert_eq!(store.count().expect("count"), 30);
    let mut hosts = store.host_counts().expect("host counts");
    hosts.sort();
    assert_eq!(
        hosts,
        [("node-a".to_string(), 15), ("node-b".to_string(), 15)]
    );
    let all = ids(&store, Query::default());
    assert_eq!(all.len(), 30);
    assert_eq!(all[0], "id-29", "newest first");
    let by_rule = ids(
        &store,
        Query {
            rule: Some("Read sensitive file untrusted".into()),
            ..Query::default()
        },
    );
    assert_eq!(by_rule.len(), 10);
    // At least Critical: severities 0, 1, 2.
    let severe = ids(
        &store,
        Query {
            min_severity: Some(2),
            ..Query::default()
        },
    );
    assert_eq!(severe.len(), 12, "{severe:?}");
    let window = ids(
        &store,
        Query {
            since_ns: Some(1_010 * MIN),
            until_ns: Some(1_015 * MIN),
            ..Query::default()
        },
    );
    assert_eq!(window, ["id-14", "id-13", "id-12", "id-11", "id-10"]);
    assert_eq!(
        ids(
            &store,
            Query {
                hostname: Some("node-b".into()),
                ..Query::default()
            }
        )
        .len(),
        15
    );
    assert_eq!(
        ids(
            &store,
            Query {
                source: Some("k8s_audit".into()),
                ..Query::default()
            }
        )
        .len(),
        0
    );
    assert_eq!(
        ids(
            &store,
            Query {
                container: Some(CID.into()),
                ..Query::default()
            }
        )
        .len(),
        15
    );
    assert_eq!(
        ids(
            &store,
            Query {
                container: Some(CID[..12].into()),
                ..Query::default()
            }
        )
        .len(),
        15
    );
    assert_eq!(
        ids(
            &store,
            Query {
                container: Some("web".into()),
                ..Query::default()
            }
        )
        .len(),
        15
    );
    assert_eq!(
        ids(
            &store,
            Query {
                namespace: Some("prod".into()),
                ..Query::default()
            }
        )
        .len(),
        15
    );
    assert_eq!(
        ids(
            &store,
            Query {
                tag: Some("tag1".into()),
                ..Query::default()
            }
        )
        .len(),
        10
    );
    let both = ids(
        &store,
        Query {
            tag: Some("tag0".into()),
            rule: Some("Read sensitive file untrusted".into()),
            ..Query::default()
        },
    );
    assert_eq!(both.len(), 10);
}

fn free_text_matches_words_and_is_never_syntax(open: Open) {
    let store = seeded(open);
    assert_eq!(
        ids(
            &store,
            Query {
                text: Some("proc17".into()),
                ..Query::default()
            }
        ),
        ["id-17"]
    );
    assert_eq!(
        ids(
            &store,
            Query {
                text: Some("shadow".into()),
                ..Query::default()
            }
        )
        .len(),
        0,
        "whole tokens"
    );
    assert_eq!(
        ids(
            &store,
            Query {
                text: Some("etc TERMINAL".into()),
                ..Query::default()
            }
        )
        .len(),
        20
    );
    // Words and a tag together (the free-text index drives, the tag filters).
    assert_eq!(
        ids(
            &store,
            Query {
                text: Some("etc".into()),
                tag: Some("tag1".into()),
                ..Query::default()
            }
        )
        .len(),
        10
    );
    assert_eq!(
        ids(
            &store,
            Query {
                text: Some("proc17".into()),
                tag: Some("tag1".into()),
                ..Query::default()
            }
        )
        .len(),
        0
    );
    // FTS operators and quotes in the user's text are words, not syntax errors.
    assert!(ids(
        &store,
        Query {
            text: Some("\"a\" OR NEAR( * -x".into()),
            ..Query::default()
        }
    )
    .is_empty());
}

fn cursor_pages_through_everything_once(open: Open) {
    let store = seeded(open);
    let mut seen = Vec::new();
    let mut q = Query {
        limit: 7,
        ..Query::default()
    };
    loop {
        let page = store.search(&q).expect("search");
        assert!(page.alerts.len() <= 7);
        seen.extend(page.alerts.into_iter().map(|a| a.record.id));
        match page.next_cursor {
            Some(c) => q.before_seq = Some(c),
            None => break,
        }
    }
    assert_eq!(seen.len(), 30);
    seen.dedup();
    assert_eq!(seen.len(), 30);
}

fn detail_status_related_responses_and_hits(open: Open) {
    let store = seeded(open);
    let a = store.get("id-10").expect("get").expect("stored");
    assert_eq!(a.record.context.ancestry[1].exe, "/usr/bin/python3");
    assert_eq!(
        a.record
            .context
            .container
            .as_ref()
            .and_then(|c| c.pod.as_ref())
            .map(|p| p.namespace.as_str()),
        Some("prod")
    );
    assert_eq!(a.status, Status::Open);
    // Same container, ±5 minutes: alerts 6, 8, 12, 14 (even ones are in the container).
    let near: Vec<String> = store
        .related(&a, 5 * MIN, 50)
        .expect("related")
        .into_iter()
        .map(|s| s.record.id)
        .collect();
    assert_eq!(near, ["id-6", "id-8", "id-12", "id-14"]);
    let acked = store
        .set_status("id-10", Status::Acknowledged, "alice", 77)
        .expect("status")
        .expect("found");
    assert_eq!(
        (acked.status, acked.status_by.as_str(), acked.status_ns),
        (Status::Acknowledged, "alice", 77)
    );
    assert!(store
        .set_status("nope", Status::Resolved, "bob", 1)
        .expect("status")
        .is_none());
    assert_eq!(
        ids(
            &store,
            Query {
                status: Some(Status::Acknowledged),
                ..Query::default()
            }
        ),
        ["id-10"]
    );
    let mut resp = rec(100, "Response", 5, None);
    resp.source = "response".into();
    resp.refers_to = Some("id-10".into());
    store.insert(&[resp]).expect("insert");
    let r = store.responses("id-10").expect("responses");
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].record.id, "id-100");
    let hits = store.rule_hits().expect("hits");
    let h = hits
        .iter()
        .find(|h| h.rule == "Read sensitive file untrusted")
        .expect("rule");
    assert_eq!((h.hits, h.last_ns), (10, 1_027 * MIN));
}

fn restart_keeps_alerts_and_status(open: Open) {
    {
        let store = open();
        store
            .insert(&[rec(1, "R", 4, Some((CID, "web", "")))])
            .expect("insert");
        store
            .set_status("id-1", Status::Resolved, "carol", 9)
            .expect("status");
    }
    let store = open();
    let a = store.get("id-1").expect("get").expect("kept");
    assert_eq!(a.status, Status::Resolved);
    assert_eq!(a.record, rec(1, "R", 4, Some((CID, "web", ""))));
    assert_eq!(store.rule_hits().expect("hits")[0].hits, 1);
}

fn retention_deletes_old_alerts_and_bounds_size(open: Open) {
    let store = seeded(open);
    // "Now" is minute 1030: alerts older than 10 minutes (0..=19) go.
    let gone = store
        .retain(1_030 * MIN, Some(Duration::from_secs(600)), None)
        .expect("retain");
    assert_eq!(gone, 20);
    let left = ids(&store, Query::default());
    assert_eq!(left.len(), 10);
    assert!(left
        .iter()
        .all(|id| id["id-".len()..].parse::<u64>().expect("n") >= 20));
    // Deleted rows leave the free-text index and the tag table too.
    assert!(ids(
        &store,
        Query {
            text: Some("proc3".into()),
            ..Query::default()
        }
    )
    .is_empty());
    assert_eq!(
        ids(
            &store,
            Query {
                tag: Some("tag1".into()),
                ..Query::default()
            }
        )
        .len(),
        3
    );
    // Hit counts are history: retention does not lower them.
    assert_eq!(
        store
            .rule_hits()
            .expect("hits")
            .iter()
            .map(|h| h.hits)
            .sum::<u64>(),
        30
    );

    // Size: fill with large alerts, then bound to a fraction; the oldest go first.
    store.insert(&big_alerts()).expect("insert");
    let before = store.size_bytes().expect("size");
    assert!(before > 2_000_000, "{before}");
    let deleted = store
        .retain(1_030 * MIN, None, Some(1_000_000))
        .expect("retain");
    assert!(deleted > 300, "{deleted}");
    assert!(store.get("id-1599").expect("get").is_some());
    assert!(store.get("id-1000").expect("get").is_none());
}

/// 600 alerts of 4 KB each.
fn big_alerts() -> Vec<Record> {
    (1_000..1_600u64)
        .map(|i| {
            let mut r = rec(i, "R", 4, None);
            // Not compressible, as PostgreSQL would otherwise shrink it in TOAST.
            r.json = (0..500)
                .map(|k| format!("{:08x}", (i * 7919 + k) * 2654435761 % 4294967291))
                .collect();
            r
        })
        .collect()
}

fn export_streams_json_lines_and_csv(open: Open) {
    let store = seeded(open);
    let mut out = Vec::new();
    let q = Query {
        rule: Some("Read sensitive file untrusted".into()),
        ..Query::default()
    };
    assert_eq!(
        store
            .export(&q, ExportFormat::JsonLines, &mut out)
            .expect("export"),
        10
    );
    let text = String::from_utf8(out).expect("utf8");
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    assert_eq!(lines.len(), 10);
    assert_eq!(lines[0]["id"], "id-27");
    assert_eq!(lines[0]["alert"]["n"], 27);
    assert_eq!(lines[0]["ancestry"][0]["cmdline"], "cat /etc/shadow");
    let mut out = Vec::new();
    let mut r = rec(500, "Comma, \"quoted\"", 4, None);
    r.output = "line1\nline2, with comma".into();
    store.insert(&[r]).expect("insert");
    let q = Query {
        rule: Some("Comma, \"quoted\"".into()),
        ..Query::default()
    };
    store
        .export(&q, ExportFormat::Csv, &mut out)
        .expect("export");
    let mut rd = csv::Reader::from_reader(&out[..]);
    let rows: Vec<csv::StringRecord> = rd.records().map(|r| r.expect("row")).collect();
    assert_eq!(rows.len(), 1);
    assert_eq!(&rows[0][3], "Comma, \"quoted\"");
    assert_eq!(&rows[0][11], "line1\nline2, with comma");
}

fn writer_batches_and_drops_without_waiting(open: Open) {
    let store = open();
    let w = Writer::start(
        store.clone(),
        Retention {
            every: Duration::from_secs(3600),
            ..Retention::default()
        },
    )
    .expect("start");
    let c = w.counters();
    let mut accepted = 0u64;
    for i in 0..50_000u64 {
        if w.offer(rec(i, "R", 4, None)) {
            accepted += 1;
        }
    }
    w.finish();
    let inserted = c.inserted.load(std::sync::atomic::Ordering::Relaxed);
    let dropped = c.dropped.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(inserted, accepted);
    assert_eq!(inserted + dropped, 50_000);
    assert_eq!(store.count().expect("count"), inserted);
}

/// A window finds an alert stored long after its time (a host that was cut off and caught up),
/// and a window nothing is in finds nothing.
fn late_alerts_are_in_their_window(open: Open) {
    let store = seeded(open);
    // Fill past several blocks of seq, then store one alert from minute 1005.
    let later: Vec<Record> = (2_000..4_500u64)
        .map(|i| rec(i, "Later", 4, None))
        .collect();
    store.insert(&later).expect("insert");
    let mut late = rec(5_000, "Late host", 4, None);
    late.time_ns = 1_005 * MIN + 30_000_000_000;
    store.insert(&[late]).expect("insert");
    let window = ids(
        &store,
        Query {
            since_ns: Some(1_005 * MIN),
            until_ns: Some(1_007 * MIN),
            ..Query::default()
        },
    );
    assert_eq!(window, ["id-5000", "id-6", "id-5"]);
    let by_rule = ids(
        &store,
        Query {
            rule: Some("Late host".into()),
            since_ns: Some(1_005 * MIN),
            until_ns: Some(1_006 * MIN),
            ..Query::default()
        },
    );
    assert_eq!(by_rule, ["id-5000"]);
    // Before everything, and after everything: empty.
    for (since, until) in [(0, 999 * MIN), (1_000_000 * MIN, 1_000_001 * MIN)] {
        let none = ids(
            &store,
            Query {
                since_ns: Some(since),
                until_ns: Some(until),
                ..Query::default()
            },
        );
        assert!(none.is_empty(), "{since}..{until}: {none:?}");
    }
    // The late alert's container neighbours are found by time, not by storage order.
    let a = store.get("id-6").expect("get").expect("stored");
    let mut late2 = rec(5_001, "Late host", 4, Some((CID, "web", "prod")));
    late2.time_ns = 1_006 * MIN + 1;
    store.insert(&[late2]).expect("insert");
    let near: Vec<String> = store
        .related(&a, MIN, 10)
        .expect("related")
        .into_iter()
        .map(|s| s.record.id)
        .collect();
    assert_eq!(near, ["id-5001"]);
}

/// One body of the suite.
type Body = fn(Open);

/// Every body of the suite, by name.
const SUITE: &[(&str, Body)] = &[
    (
        "every_filter_selects_what_it_names",
        every_filter_selects_what_it_names,
    ),
    (
        "free_text_matches_words_and_is_never_syntax",
        free_text_matches_words_and_is_never_syntax,
    ),
    (
        "cursor_pages_through_everything_once",
        cursor_pages_through_everything_once,
    ),
    (
        "detail_status_related_responses_and_hits",
        detail_status_related_responses_and_hits,
    ),
    (
        "restart_keeps_alerts_and_status",
        restart_keeps_alerts_and_status,
    ),
    (
        "retention_deletes_old_alerts_and_bounds_size",
        retention_deletes_old_alerts_and_bounds_size,
    ),
    (
        "export_streams_json_lines_and_csv",
        export_streams_json_lines_and_csv,
    ),
    (
        "writer_batches_and_drops_without_waiting",
        writer_batches_and_drops_without_waiting,
    ),
    (
        "late_alerts_are_in_their_window",
        late_alerts_are_in_their_window,
    ),
    (
        "time_counts_bucket_by_severity_and_rank_rules",
        time_counts_bucket_by_severity_and_rank_rules,
    ),
];

#[test]
fn sqlite_passes_the_suite() {
    for (name, body) in SUITE {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sub/alerts.db");
        eprintln!("sqlite: {name}");
        body(&|| Arc::new(SqliteStore::open(&path).expect("open")));
    }
}

#[test]
fn sqlite_file_is_private_and_shrinks_to_the_size_bound() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("alerts.db");
    let store = SqliteStore::open(&path).expect("open");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&path).expect("file").permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "alerts are readable by the owner only");
    store.insert(&big_alerts()).expect("insert");
    assert!(store.size_bytes().expect("size") > 2_000_000);
    store
        .retain(1_030 * MIN, None, Some(1_000_000))
        .expect("retain");
    let after = store.size_bytes().expect("size");
    assert!(after <= 1_100_000, "file shrinks to the bound: {after}");
}

/// The same suite against PostgreSQL: one private cluster, a new database per body, opened
/// through `peregrine_store::open` with a URL as the fleet server does.
#[test]
fn postgres_passes_the_suite() {
    if !peregrine_testkit::e2e("postgres_passes_the_suite") {
        return;
    }
    let pg = services::postgres().expect("postgres starts");
    let admin = format!(
        "postgres://{}@127.0.0.1:{}/postgres",
        services::POSTGRES_USER,
        pg.port()
    );
    let mut client = postgres::Client::connect(&admin, postgres::NoTls).expect("connect");
    for (k, (name, body)) in SUITE.iter().enumerate() {
        client
            .batch_execute(&format!("CREATE DATABASE suite_{k}"))
            .expect("create database");
        let url = format!(
            "postgresql://{}@127.0.0.1:{}/suite_{k}",
            services::POSTGRES_USER,
            pg.port()
        );
        eprintln!("postgres: {name}");
        body(&|| peregrine_store::open(&url).expect("open"));
    }
    // Opening an existing database migrates nothing twice; a wrong URL names the server
    // without the password.
    let url = format!(
        "postgres://{}@127.0.0.1:{}/suite_0",
        services::POSTGRES_USER,
        pg.port()
    );
    assert_eq!(
        peregrine_store::open(&url)
            .expect("reopen")
            .count()
            .expect("count"),
        30
    );
    let bad = format!("postgres://nobody:hunter2@127.0.0.1:{}/none", pg.port());
    let err = match peregrine_store::open(&bad) {
        Ok(_) => panic!("a missing role connects"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("nobody:***@127.0.0.1"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
}

/// The overview's counts: per bucket and severity over the range only, response records left
/// out, and the range's rules by alerts.
fn time_counts_bucket_by_severity_and_rank_rules(open: Open) {
    let store = seeded(open);
    let mut response = rec(100, "kill", 0, None);
    response.time_ns = 1_000 * MIN + 11 * MIN;
    response.source = "response".into();
    assert_eq!(store.insert(&[response]).expect("insert"), 1);
    // Alerts 10..19: two buckets of five minutes.
    let c = store
        .time_counts(1_000 * MIN + 10 * MIN, 5 * MIN, 2, 10)
        .expect("counts");
    let mut first = [0u64; 8];
    for sev in [2, 3, 4, 5, 6] {
        first[sev] = 1;
    }
    let mut second = [0u64; 8];
    for sev in [7, 0, 1, 2, 3] {
        second[sev] = 1;
    }
    assert_eq!(c.buckets, vec![first, second]);
    assert_eq!(
        c.top_rules,
        vec![
            ("Terminal shell in container".to_string(), 7),
            ("Read sensitive file untrusted".to_string(), 3),
        ]
    );
    // Top is a limit; an empty range counts nothing.
    let c = store
        .time_counts(1_000 * MIN + 10 * MIN, 5 * MIN, 2, 1)
        .expect("counts");
    assert_eq!(c.top_rules.len(), 1);
    let c = store.time_counts(5_000 * MIN, MIN, 3, 5).expect("counts");
    assert_eq!(c.buckets, vec![[0u64; 8]; 3]);
    assert!(c.top_rules.is_empty());
}

/// The writer's hook sees each record once, after its batch is stored: every id it is given
/// can be read back at that moment.
#[test]
fn writer_reports_each_batch_once_it_is_stored() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store: Arc<dyn AlertStore> =
        Arc::new(SqliteStore::open(&dir.path().join("a.db")).expect("open"));
    let seen = Arc::new(std::sync::Mutex::new(Vec::<(String, bool)>::new()));
    let (s2, st2) = (seen.clone(), store.clone());
    let hook: peregrine_store::OnStored = Arc::new(move |batch: &[Record]| {
        let mut seen = s2.lock().expect("lock");
        for r in batch {
            let there = st2.get(&r.id).expect("get").is_some();
            seen.push((r.id.clone(), there));
        }
    });
    let w = Writer::start_with(store.clone(), Retention::default(), Some(hook)).expect("start");
    for i in 0..200u64 {
        assert!(w.offer(rec(i, "R", 4, None)));
    }
    w.finish();
    let seen = seen.lock().expect("lock");
    assert_eq!(seen.len(), 200);
    assert!(seen.iter().all(|(_, there)| *there));
    let mut ids: Vec<&str> = seen.iter().map(|(id, _)| id.as_str()).collect();
    ids.dedup();
    assert_eq!(ids.len(), 200);
}
