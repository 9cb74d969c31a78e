//! The spool of a network output end to end, against a real HTTP receiver on loopback that
//! the test stops and starts: every alert arrives despite an outage, each with a stable id
//! in `X-Peregrine-Alert-Id` (duplicates share it), what one dispatcher leaves in the spool
//! the next delivers, a full spool drops the oldest, a refused alert is not retried.

mod common;
use common::*;
use peregrine_outputs::http::{HttpConfig, HttpOutput, ALERT_ID_HEADER};
use peregrine_outputs::spool::Spool;
use peregrine_outputs::{Dispatcher, FormatOptions, OutputSpec, Priority, RateLimit, Snapshot};
use peregrine_testkit::receiver::Receiver;
use std::collections::{HashMap, HashSet};
use std::net::TcpListener;
use std::path::Path;
use std::time::Duration;

/// One POST as received: the alert id header and the body.
#[derive(Clone, Debug)]
struct Post {
    id: Option<String>,
    body: String,
}

/// What `rx` received, as this test reads it.
fn posts(rx: &Receiver) -> Vec<Post> {
    Receiver::posts(rx)
        .iter()
        .map(|p| Post {
            id: p.header(ALERT_ID_HEADER),
            body: p.text(),
        })
        .collect()
}

fn http(url: &str, spool_dir: &Path, max_bytes: u64) -> OutputSpec {
    let cfg = HttpConfig {
        url: url.into(),
        timeout: Duration::from_secs(5),
        ..HttpConfig::default()
    };
    OutputSpec {
        spool: Some(Spool::open(spool_dir, "http", max_bytes).expect("spool")),
        ..OutputSpec::new(Box::new(HttpOutput::new(cfg).expect("http output")))
    }
}

fn dispatcher(spec: OutputSpec) -> Dispatcher {
    Dispatcher::new(FormatOptions::default(), vec![spec], RateLimit::default()).expect("dispatcher")
}

fn enqueue(d: &Dispatcher, range: std::ops::Range<usize>) {
    for i in range {
        d.enqueue(alert("R", Priority::Warning, &format!("alert {i:05}")));
    }
}

/// The alert number in a text line (`… Warning alert 00042`).
fn number(body: &str) -> usize {
    body.rsplit(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no alert number in {body:?}"))
}

/// Checks that `posts` hold every alert of `range`, each under one id, and returns how many
/// posts were duplicates.
fn check_ids(posts: &[Post], range: std::ops::Range<usize>) -> usize {
    let mut id_of: HashMap<usize, String> = HashMap::new();
    for p in posts {
        let id = p.id.clone().unwrap_or_else(|| panic!("no id: {p:?}"));
        let n = number(&p.body);
        let prev = id_of.entry(n).or_insert_with(|| id.clone());
        assert_eq!(*prev, id, "alert {n} sent under two ids");
    }
    let ids: HashSet<&String> = id_of.values().collect();
    assert_eq!(ids.len(), id_of.len(), "two alerts share an id");
    let missing: Vec<usize> = range.filter(|n| !id_of.contains_key(n)).collect();
    assert!(missing.is_empty(), "missing alerts: {missing:?}");
    posts.len() - id_of.len()
}

fn output(s: &Snapshot) -> &peregrine_outputs::OutputSnapshot {
    &s.outputs[0]
}

#[test]
fn every_alert_arrives_across_a_receiver_outage_with_stable_ids() {
    const N: usize = 1000;
    let dir = temp_dir("spool-outage");
    let mut rx = Receiver::start(200);
    let d = dispatcher(http(&rx.url(), &dir, 1 << 30));
    enqueue(&d, 0..N / 2);
    wait_until("some alerts delivered", || posts(&rx).len() >= 100);
    rx.stop();
    enqueue(&d, N / 2..N);
    wait_until("a failed attempt", || output(&d.snapshot()).retried > 0);
    assert!(output(&d.snapshot()).spool_pending > 0);
    rx.restart();
    wait_until("all alerts delivered", || {
        output(&d.snapshot()).spool_pending == 0 && output(&d.snapshot()).delivered >= N as u64
    });
    let dups = check_ids(&posts(&rx), 0..N);
    // At most what was in flight when the receiver went away.
    assert!(dups <= 64, "{dups} duplicates");
    let (_, snap) = d.shutdown(Duration::from_secs(5));
    let o = output(&snap);
    assert_eq!((o.enqueued, o.spooled), (N as u64, N as u64));
    assert_eq!(o.spool_dropped + o.errors + o.abandoned, 0, "{o:?}");
    assert!(o.latency.count >= N as u64);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn what_one_run_leaves_in_the_spool_the_next_delivers() {
    const N: usize = 300;
    let dir = temp_dir("spool-restart");
    // Nothing listens on a port just released.
    let dead = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port");
    let d = dispatcher(http(&format!("http://{dead}/"), &dir, 1 << 30));
    enqueue(&d, 0..N);
    wait_until("all spooled", || output(&d.snapshot()).spooled == N as u64);
    let (_, snap) = d.shutdown(Duration::from_secs(5));
    assert_eq!(output(&snap).spool_pending, N as u64);
    assert_eq!(output(&snap).delivered, 0);
    assert_eq!(snap.total_lost(), 0, "{snap:?}");

    let rx = Receiver::start(200);
    let d = dispatcher(http(&rx.url(), &dir, 1 << 30));
    wait_until("the old spool delivered", || posts(&rx).len() >= N);
    assert_eq!(check_ids(&posts(&rx), 0..N), 0);
    // In their original order.
    let order: Vec<usize> = posts(&rx).iter().map(|p| number(&p.body)).collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}");
    let (_, snap) = d.shutdown(Duration::from_secs(5));
    assert_eq!(output(&snap).spool_pending, 0);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_full_spool_drops_the_oldest_and_counts_them() {
    let dir = temp_dir("spool-full");
    let dead = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port");
    // Room for a few dozen short text lines.
    let d = dispatcher(http(&format!("http://{dead}/"), &dir, 4096));
    enqueue(&d, 0..200);
    wait_until("all taken", || {
        let o = output(&d.snapshot()).clone();
        o.spooled == 200 && o.spool_pending + o.spool_dropped == 200
    });
    let (_, snap) = d.shutdown(Duration::from_secs(5));
    let o = output(&snap);
    assert!(o.spool_dropped > 100 && o.spool_bytes <= 4096, "{o:?}");
    assert_eq!(snap.total_lost(), o.spool_dropped);

    let rx = Receiver::start(200);
    let d = dispatcher(http(&rx.url(), &dir, 4096));
    let kept = o.spool_pending as usize;
    wait_until("the rest delivered", || posts(&rx).len() >= kept);
    // The newest survived.
    check_ids(&posts(&rx), 200 - kept..200);
    drop(d);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_refused_alert_is_counted_once_and_not_retried() {
    let dir = temp_dir("spool-refused");
    let rx = Receiver::start(400);
    let d = dispatcher(http(&rx.url(), &dir, 1 << 30));
    enqueue(&d, 0..5);
    wait_until("five refusals", || output(&d.snapshot()).errors == 5);
    let (_, snap) = d.shutdown(Duration::from_secs(5));
    let o = output(&snap);
    assert_eq!(
        (o.delivered, o.retried, o.spool_pending),
        (0, 0, 0),
        "{o:?}"
    );
    assert_eq!(posts(&rx).len(), 5);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn chat_webhooks_post_their_shapes_through_the_spool() {
    use peregrine_outputs::webhook::{ChatFormat, WebhookConfig, WebhookOutput};
    for (format, check) in [
        (ChatFormat::Slack, "/text"),
        (ChatFormat::Teams, "/text"),
        (ChatFormat::Discord, "/content"),
    ] {
        let dir = temp_dir("spool-webhook");
        let rx = Receiver::start(200);
        let out = WebhookOutput::new(WebhookConfig {
            url: rx.url(),
            format,
            ..WebhookConfig::default()
        })
        .expect("webhook");
        let d = dispatcher(OutputSpec {
            spool: Some(Spool::open(&dir, "webhook", 1 << 30).expect("spool")),
            ..OutputSpec::new(Box::new(out))
        });
        enqueue(&d, 0..3);
        wait_until("three posts", || posts(&rx).len() >= 3);
        drop(d.shutdown(Duration::from_secs(5)));
        for (i, p) in posts(&rx).iter().enumerate() {
            assert!(p.id.is_some(), "{format:?}: no id");
            let v: serde_json::Value = serde_json::from_str(&p.body).expect("JSON body");
            let text = v
                .pointer(check)
                .and_then(|t| t.as_str())
                .unwrap_or_default();
            assert!(
                text.ends_with(&format!("Warning alert {i:05}")),
                "{format:?}: {v}"
            );
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
