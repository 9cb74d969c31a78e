//! Native outputs against the real servers, each a private instance started by the test on
//! loopback (peregrine-testkit's services): a burst of 1,000 alerts survives the server
//! going down (stopped, then started again) and hanging (SIGSTOP), through the spool.

mod common;
use common::*;
use peregrine_outputs::alertmanager::{AlertmanagerConfig, AlertmanagerOutput};
use peregrine_outputs::mqtt_output::{MqttConfig, MqttOutput};
use peregrine_outputs::nats_output::{NatsConfig, NatsOutput};
use peregrine_outputs::redis_output::{RedisConfig, RedisOutput};
use peregrine_outputs::spool::Spool;
use peregrine_outputs::Snapshot;
use peregrine_outputs::{
    Alert, Dispatcher, FormatOptions, OutputSpec, OutputValue, Priority, RateLimit,
};
use peregrine_testkit::services::{self, Service};
use serde_json::Value;
use std::collections::{BTreeSet, HashSet};
use std::time::Duration;

const BURST: u64 = 1000;

/// Alert `n`: its number in the output field `evt.num`, in a container.
fn numbered(n: u64) -> Alert {
    let mut a = alert(
        "Spool burst",
        Priority::Critical,
        &format!("burst alert {n}"),
    );
    a.output_fields = vec![
        (
            "container.id".into(),
            OutputValue::Str("0123456789ab".into()),
        ),
        ("evt.num".into(), OutputValue::UInt(n)),
    ];
    a
}

fn dispatcher(spec: OutputSpec) -> Dispatcher {
    Dispatcher::new(FormatOptions::default(), vec![spec], RateLimit::default()).expect("dispatcher")
}

/// The burst of [`BURST`] alerts through `output` and its spool, with the server down from
/// the start (stopped, so alerts wait in the spool), started again, then hung (SIGSTOP:
/// attempts time out) and thawed; returns once the spool is empty. `after_restart` runs
/// once the server is back (a subscriber for a broker that keeps no state).
fn burst_through_outages(
    server: &mut Service,
    output: Box<dyn peregrine_outputs::Output>,
    after_restart: &mut dyn FnMut(&Service),
) -> Snapshot {
    let name = output.name().to_string();
    let dir = temp_dir(&format!("native-{name}"));
    server.halt();
    let d = dispatcher(OutputSpec {
        spool: Some(Spool::open(&dir, &name, 1 << 30).expect("spool")),
        ..OutputSpec::new(output)
    });
    for n in 0..200 {
        d.enqueue(numbered(n));
    }
    wait_until("a failed attempt", || snapshot(&d).retried > 0);
    server.restart().expect("the server restarts");
    after_restart(server);
    for n in 200..500 {
        d.enqueue(numbered(n));
    }
    wait_until("deliveries after the restart", || {
        snapshot(&d).delivered > 0
    });
    server.pause();
    for n in 500..BURST {
        d.enqueue(numbered(n));
    }
    let retried = snapshot(&d).retried;
    wait_until("a timed-out attempt", || snapshot(&d).retried > retried);
    server.resume();
    wait_until("the spool emptied", || {
        let s = snapshot(&d);
        s.spool_pending == 0 && s.delivered >= BURST
    });
    let (_, snap) = d.shutdown(Duration::from_secs(5));
    assert_eq!(snap.total_lost(), 0, "{snap:?}");
    let _ = std::fs::remove_dir_all(&dir);
    snap
}

fn snapshot(d: &Dispatcher) -> peregrine_outputs::OutputSnapshot {
    d.snapshot().outputs[0].clone()
}

#[test]
fn alertmanager_gets_every_alert_across_a_restart_and_a_hang() {
    if !peregrine_testkit::e2e("alertmanager_gets_every_alert_across_a_restart_and_a_hang") {
        return;
    }
    let mut am = services::alertmanager().expect("alertmanager starts");
    let out = AlertmanagerOutput::new(AlertmanagerConfig {
        url: format!("http://{}", am.addr()),
        extra_labels: vec!["evt.num".into()],
        // A hung server costs at most this per attempt.
        timeout: Duration::from_secs(2),
        ..AlertmanagerConfig::default()
    })
    .expect("output");
    burst_through_outages(&mut am, Box::new(out), &mut |_| {});

    let body = ureq::get(&format!("http://{}/api/v2/alerts", am.addr()))
        .call()
        .expect("alertmanager answers")
        .into_string()
        .expect("body");
    let alerts: Vec<Value> = serde_json::from_str(&body).expect("JSON");
    let mut numbers = BTreeSet::new();
    let mut ids = HashSet::new();
    for a in &alerts {
        let l = &a["labels"];
        assert_eq!(l["alertname"], "Spool burst", "{a}");
        assert_eq!(l["priority"], "Critical", "{a}");
        assert_eq!(l["hostname"], "node-1", "{a}");
        assert_eq!(l["source"], "syscall", "{a}");
        assert_eq!(l["container_id"], "0123456789ab", "{a}");
        let n: u64 = l["evt_num"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .expect("evt_num");
        assert!(
            a["annotations"]["summary"]
                .as_str()
                .is_some_and(|s| s.ends_with(&format!("Critical burst alert {n}"))),
            "{a}"
        );
        let id = a["annotations"]["peregrine_alert_id"].as_str().expect("id");
        assert!(ids.insert(id.to_string()), "id {id} twice");
        assert_eq!(a["status"]["state"], "active", "{a}");
        numbers.insert(n);
    }
    let want: BTreeSet<u64> = (0..BURST).collect();
    assert_eq!(numbers, want, "missing: {:?}", want.difference(&numbers));
}

#[test]
fn redis_stream_gets_every_alert_across_a_restart_and_a_hang() {
    if !peregrine_testkit::e2e("redis_stream_gets_every_alert_across_a_restart_and_a_hang") {
        return;
    }
    let mut server = services::redis().expect("redis starts");
    let out = RedisOutput::new(RedisConfig {
        url: format!("redis://{}", server.addr()),
        key: "falco.{priority}".into(),
        timeout: Duration::from_secs(2),
        ..RedisConfig::default()
    })
    .expect("output");
    burst_through_outages(&mut server, Box::new(out), &mut |_| {});

    let client = redis::Client::open(format!("redis://{}", server.addr())).expect("client");
    let mut conn = client.get_connection().expect("connection");
    let entries: Vec<(String, Vec<(String, String)>)> = redis::cmd("XRANGE")
        .arg("falco.critical")
        .arg("-")
        .arg("+")
        .query(&mut conn)
        .expect("XRANGE");
    // An entry per delivery attempt that reached Redis: duplicates share their id.
    let mut id_of = std::collections::HashMap::new();
    for (_, fields) in &entries {
        let get = |k: &str| {
            fields
                .iter()
                .find(|(f, _)| f == k)
                .map(|(_, v)| v.clone())
                .unwrap_or_else(|| panic!("no {k} in {fields:?}"))
        };
        assert_eq!(get("priority"), "Critical");
        let line = get("alert");
        let n: u64 = line
            .rsplit(' ')
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{line}"));
        let id = get("id");
        assert_eq!(
            *id_of.entry(n).or_insert_with(|| id.clone()),
            id,
            "alert {n}: two ids"
        );
    }
    let distinct: HashSet<&String> = id_of.values().collect();
    assert_eq!(distinct.len(), id_of.len(), "two alerts under one id");
    let numbers: BTreeSet<u64> = id_of.keys().copied().collect();
    let want: BTreeSet<u64> = (0..BURST).collect();
    assert_eq!(numbers, want, "missing: {:?}", want.difference(&numbers));
    let dups = entries.len() - id_of.len();
    assert!(dups <= 64, "{dups} duplicates");
}

#[test]
fn nats_jetstream_stores_every_alert_once_across_a_restart_and_a_hang() {
    if !peregrine_testkit::e2e("nats_jetstream_stores_every_alert_once_across_a_restart_and_a_hang")
    {
        return;
    }
    let mut server = services::nats().expect("nats-server starts");
    let url = format!("nats://{}", server.addr());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let js = rt.block_on(async {
        let client = async_nats::connect(url.as_str()).await.expect("connect");
        let js = async_nats::jetstream::new(client);
        js.create_stream(async_nats::jetstream::stream::Config {
            name: "FALCO".into(),
            subjects: vec!["falco.>".into()],
            ..Default::default()
        })
        .await
        .expect("stream");
        js
    });
    let out = NatsOutput::new(NatsConfig {
        url: url.clone(),
        subject: "falco.{priority}.{rule}".into(),
        jetstream: true,
        timeout: Duration::from_secs(2),
        ..NatsConfig::default()
    })
    .expect("output");
    let snap = burst_through_outages(&mut server, Box::new(out), &mut |_| {});
    assert!(snap.outputs[0].retried > 0);

    rt.block_on(async {
        // A fresh connection: the first one died with the restart.
        let client = async_nats::connect(url.as_str()).await.expect("reconnect");
        let js = async_nats::jetstream::new(client);
        let mut stream = js.get_stream("FALCO").await.expect("stream");
        let info = stream.info().await.expect("info").clone();
        // JetStream dropped the retried duplicates by their Nats-Msg-Id.
        assert_eq!(info.state.messages, BURST, "{:?}", info.state);
        let mut numbers = BTreeSet::new();
        let mut ids = HashSet::new();
        for seq in info.state.first_sequence..=info.state.last_sequence {
            let m = stream.get_raw_message(seq).await.expect("message");
            assert_eq!(m.subject.as_str(), "falco.critical.Spool_burst");
            let v: Value = serde_json::from_slice(&m.payload).expect("JSON alert");
            assert_eq!(v["rule"], "Spool burst");
            numbers.insert(v["output_fields"]["evt.num"].as_u64().expect("evt.num"));
            let id = m
                .headers
                .get(async_nats::header::NATS_MESSAGE_ID)
                .unwrap_or_else(|| panic!("{:?}", m.headers))
                .to_string();
            assert!(ids.insert(id), "an id twice");
        }
        let want: BTreeSet<u64> = (0..BURST).collect();
        assert_eq!(numbers, want, "missing: {:?}", want.difference(&numbers));
    });
    drop(js);
}

/// One message as an MQTT subscriber got it: topic, alert number, id.
type Got = (String, u64, Option<String>);

/// A QoS 1 subscriber to `topic` on its own thread, recording what arrives.
fn mqtt_subscriber(
    addr: std::net::SocketAddr,
    topic: &str,
    got: std::sync::Arc<std::sync::Mutex<Vec<Got>>>,
) {
    use rumqttc::v5::mqttbytes::v5::Packet;
    use rumqttc::v5::mqttbytes::QoS;
    use rumqttc::v5::{Client, Event, MqttOptions};
    let opts = MqttOptions::new("test-subscriber", addr.ip().to_string(), addr.port());
    let (client, mut conn) = Client::new(opts, 64);
    client
        .subscribe(topic, QoS::AtLeastOnce)
        .expect("subscribe");
    let subscribed = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = subscribed.clone();
    std::thread::spawn(move || {
        let _client = client;
        for event in conn.iter() {
            match event {
                Ok(Event::Incoming(Packet::SubAck(_))) => {
                    flag.store(true, std::sync::atomic::Ordering::SeqCst)
                }
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    let v: Value = serde_json::from_slice(&p.payload).expect("JSON alert");
                    let n = v["output_fields"]["evt.num"].as_u64().expect("evt.num");
                    let id = p.properties.as_ref().and_then(|pr| {
                        pr.user_properties
                            .iter()
                            .find(|(k, _)| k == "peregrine_alert_id")
                            .map(|(_, v)| v.clone())
                    });
                    let topic = String::from_utf8_lossy(&p.topic).into_owned();
                    got.lock().expect("lock").push((topic, n, id));
                }
                Ok(_) => {}
                // The broker is paused or gone: the test ends with it.
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    });
    wait_until("the subscription", || {
        subscribed.load(std::sync::atomic::Ordering::SeqCst)
    });
}

#[test]
fn mqtt_broker_gets_every_alert_across_a_restart_and_a_hang() {
    if !peregrine_testkit::e2e("mqtt_broker_gets_every_alert_across_a_restart_and_a_hang") {
        return;
    }
    let mut server = services::mosquitto().expect("mosquitto starts");
    let out = MqttOutput::new(MqttConfig {
        url: format!("mqtt://{}", server.addr()),
        topic: "falco/{priority}/{rule}".into(),
        timeout: Duration::from_secs(2),
        ..MqttConfig::default()
    })
    .expect("output");
    let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = got.clone();
    // The broker keeps no state across its restart: subscribe once it is back.
    burst_through_outages(&mut server, Box::new(out), &mut |s| {
        mqtt_subscriber(s.addr(), "falco/#", sink.clone())
    });
    wait_until("every alert at the subscriber", || {
        got.lock()
            .expect("lock")
            .iter()
            .map(|(_, n, _)| *n)
            .collect::<HashSet<_>>()
            .len()
            >= BURST as usize
    });
    let got = got.lock().expect("lock").clone();
    let mut id_of = std::collections::HashMap::new();
    for (topic, n, id) in &got {
        assert_eq!(topic, "falco/critical/Spool_burst");
        let id = id.clone().expect("id property");
        assert_eq!(
            *id_of.entry(*n).or_insert_with(|| id.clone()),
            id,
            "alert {n}: two ids"
        );
    }
    let distinct: HashSet<&String> = id_of.values().collect();
    assert_eq!(distinct.len(), id_of.len(), "two alerts under one id");
    let dups = got.len() - id_of.len();
    assert!(dups <= 64, "{dups} duplicates");
}

#[test]
fn nats_core_publishes_every_alert_with_its_id() {
    if !peregrine_testkit::e2e("nats_core_publishes_every_alert_with_its_id") {
        return;
    }
    use futures_util::StreamExt;
    const N: u64 = 300;
    let server = services::nats().expect("nats-server starts");
    let url = format!("nats://{}", server.addr());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    // The client's handles must be dropped inside a runtime.
    let _in_runtime = rt.enter();
    let (client, mut sub) = rt.block_on(async {
        let c = async_nats::connect(url.as_str()).await.expect("connect");
        let sub = c.subscribe("falco.>").await.expect("subscribe");
        c.flush().await.expect("flush");
        (c, sub)
    });
    let dir = temp_dir("native-nats-core");
    let d = dispatcher(OutputSpec {
        spool: Some(Spool::open(&dir, "nats", 1 << 30).expect("spool")),
        ..OutputSpec::new(Box::new(
            NatsOutput::new(NatsConfig {
                url,
                ..NatsConfig::default()
            })
            .expect("output"),
        ))
    });
    for n in 0..N {
        d.enqueue(numbered(n));
    }
    let got = rt.block_on(async {
        let mut got = Vec::new();
        while (got.len() as u64) < N {
            match tokio::time::timeout(Duration::from_secs(20), sub.next()).await {
                Ok(Some(m)) => got.push(m),
                _ => break,
            }
        }
        got
    });
    let mut numbers = BTreeSet::new();
    let mut ids = HashSet::new();
    for m in &got {
        assert_eq!(m.subject.as_str(), "falco.critical");
        let v: Value = serde_json::from_slice(&m.payload).expect("JSON alert");
        numbers.insert(v["output_fields"]["evt.num"].as_u64().expect("evt.num"));
        let id = m
            .headers
            .as_ref()
            .and_then(|h| h.get(async_nats::header::NATS_MESSAGE_ID))
            .expect("id")
            .to_string();
        assert!(ids.insert(id), "an id twice");
    }
    assert_eq!(numbers, (0..N).collect::<BTreeSet<_>>());
    let (_, snap) = d.shutdown(Duration::from_secs(5));
    assert_eq!(snap.outputs[0].delivered, N);
    rt.block_on(async move {
        drop(sub);
        drop(client);
    });
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn rsyslog_gets_every_alert_across_a_restart() {
    use peregrine_outputs::remote_syslog::{RemoteSyslogConfig, RemoteSyslogOutput};
    if !peregrine_testkit::e2e("rsyslog_gets_every_alert_across_a_restart") {
        return;
    }
    let dir = temp_dir("native-rsyslog");
    let mut server = services::rsyslog(None).expect("rsyslogd starts");
    let out = RemoteSyslogOutput::new(RemoteSyslogConfig {
        address: server.addr().to_string(),
        timeout: Duration::from_secs(2),
        ..RemoteSyslogConfig::default()
    })
    .expect("output");
    let spool_dir = dir.join("spool");
    let d = dispatcher(OutputSpec {
        spool: Some(Spool::open(&spool_dir, "remote_syslog", 1 << 30).expect("spool")),
        ..OutputSpec::new(Box::new(out))
    });
    for n in 0..300 {
        d.enqueue(numbered(n));
    }
    wait_until("deliveries", || snapshot(&d).delivered >= 300);
    // Stopped as a service manager stops it (SIGTERM: it writes out what it received).
    server.halt();
    for n in 300..BURST {
        d.enqueue(numbered(n));
    }
    wait_until("a failed attempt", || snapshot(&d).retried > 0);
    server.restart().expect("rsyslogd restarts");
    wait_until("the spool emptied", || {
        let s = snapshot(&d);
        s.spool_pending == 0 && s.delivered >= BURST
    });
    let (_, snap) = d.shutdown(Duration::from_secs(5));
    assert_eq!(snap.total_lost(), 0, "{snap:?}");
    let read = || std::fs::read_to_string(server.dir().join("remote.out")).unwrap_or_default();
    let complete = || {
        read()
            .lines()
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .collect::<HashSet<_>>()
            .len()
            >= BURST as usize
    };
    let end = std::time::Instant::now() + Duration::from_secs(20);
    while !complete() && std::time::Instant::now() < end {
        std::thread::sleep(Duration::from_millis(50));
    }
    let text = read();
    let mut id_of = std::collections::HashMap::new();
    for l in text.lines().filter(|l| l.contains("burst alert")) {
        assert!(
            l.starts_with("user.crit ALERT [peregrine@32473 id=\""),
            "{l}"
        );
        assert!(
            l.contains(" rule=\"Spool burst\" priority=\"Critical\"]"),
            "{l}"
        );
        let id = l.split('"').nth(1).expect("id").to_string();
        let n: u64 = l
            .rsplit(' ')
            .next()
            .and_then(|n| n.parse().ok())
            .expect("number");
        assert_eq!(
            *id_of.entry(n).or_insert_with(|| id.clone()),
            id,
            "alert {n}: two ids"
        );
    }
    assert_eq!(
        id_of.keys().copied().collect::<BTreeSet<_>>(),
        (0..BURST).collect::<BTreeSet<_>>()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn rsyslog_over_tls_gets_every_alert_across_a_restart() {
    use peregrine_outputs::remote_syslog::{RemoteSyslogConfig, RemoteSyslogOutput};
    if !peregrine_testkit::e2e("rsyslog_over_tls_gets_every_alert_across_a_restart") {
        return;
    }
    const N: u64 = 400;
    let dir = temp_dir("native-rsyslog-tls");
    let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into()]).expect("cert");
    std::fs::write(dir.join("ca.pem"), cert.cert.pem()).expect("ca");
    std::fs::write(dir.join("key.pem"), cert.key_pair.serialize_pem()).expect("key");
    let (ca, key) = (dir.join("ca.pem"), dir.join("key.pem"));
    let mut server = services::rsyslog(Some((&ca, &key))).expect("rsyslogd starts");
    let out = RemoteSyslogOutput::new(RemoteSyslogConfig {
        address: server.addr().to_string(),
        tls: true,
        ca_cert: dir.join("ca.pem").display().to_string(),
        timeout: Duration::from_secs(2),
        ..RemoteSyslogConfig::default()
    })
    .expect("output");
    let d = dispatcher(OutputSpec {
        spool: Some(Spool::open(&dir.join("spool"), "remote_syslog", 1 << 30).expect("spool")),
        ..OutputSpec::new(Box::new(out))
    });
    for n in 0..N / 2 {
        d.enqueue(numbered(n));
    }
    wait_until("deliveries", || snapshot(&d).delivered >= N / 2);
    server.halt();
    for n in N / 2..N {
        d.enqueue(numbered(n));
    }
    wait_until("a failed attempt", || snapshot(&d).retried > 0);
    server.restart().expect("rsyslogd restarts");
    wait_until("the spool emptied", || {
        let s = snapshot(&d);
        s.spool_pending == 0 && s.delivered >= N
    });
    let (_, snap) = d.shutdown(Duration::from_secs(5));
    assert_eq!(snap.total_lost(), 0, "{snap:?}");
    let numbers = || -> BTreeSet<u64> {
        std::fs::read_to_string(server.dir().join("remote.out"))
            .unwrap_or_default()
            .lines()
            .filter(|l| l.starts_with("user.crit ALERT [peregrine@32473 id="))
            .filter_map(|l| l.rsplit(' ').next()?.parse().ok())
            .collect()
    };
    let end = std::time::Instant::now() + Duration::from_secs(20);
    while numbers().len() < N as usize && std::time::Instant::now() < end {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        numbers(),
        (0..N).collect::<BTreeSet<_>>(),
        "{}",
        server.log()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `nats_output` with `tls`, its CA and a client certificate, read from the configuration as
/// an agent reads it, delivers to an nats-server that requires mutual TLS; the same block
/// without the client certificate is refused and keeps its alerts in the spool.
#[test]
fn nats_output_over_mutual_tls() {
    if !peregrine_testkit::e2e("nats_output_over_mutual_tls") {
        return;
    }
    use futures_util::StreamExt;
    const N: u64 = 50;
    let dir = temp_dir("native-nats-tls");
    let (server, tls) = services::nats_mutual_tls(&dir).expect("nats-server with TLS starts");
    let services::MutualTls {
        server_crt,
        client_crt,
        client_key,
    } = tls;
    let url = format!("nats://{}", server.addr());
    let settings = |client: bool| {
        let mut block = serde_json::json!({
            "enabled": true, "url": url, "tls": true, "ca_cert": server_crt,
            "timeout_ms": 2000,
        });
        if client {
            block["client_cert"] = client_crt.clone().into();
            block["client_key"] = client_key.clone().into();
        }
        peregrine_outputs::config::OutputsConfig::from_tree(
            &serde_json::json!({ "nats_output": block }),
        )
        .expect("nats_output block")
        .nats
        .settings
    };
    let mutual = settings(true);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let _in_runtime = rt.enter();
    let tls = mutual.tls.clone().expect("tls: true reads as TLS");
    let (client, mut sub) = rt.block_on(async {
        let c = tls
            .apply(async_nats::ConnectOptions::new())
            .connect(url.as_str())
            .await
            .expect("the test's client connects over mutual TLS");
        let sub = c.subscribe("falco.>").await.expect("subscribe");
        c.flush().await.expect("flush");
        (c, sub)
    });

    // Without its client certificate the agent is refused: every attempt fails, nothing is
    // delivered and the alerts wait in the spool.
    let d = dispatcher(OutputSpec {
        spool: Some(Spool::open(&dir.join("refused"), "nats", 1 << 30).expect("spool")),
        ..OutputSpec::new(Box::new(NatsOutput::new(settings(false)).expect("output")))
    });
    d.enqueue(numbered(0));
    wait_until("a refused attempt", || snapshot(&d).retried > 0);
    let (_, snap) = d.shutdown(Duration::from_secs(1));
    assert_eq!(snap.outputs[0].delivered, 0, "{snap:?}");

    let d = dispatcher(OutputSpec {
        spool: Some(Spool::open(&dir.join("mutual"), "nats", 1 << 30).expect("spool")),
        ..OutputSpec::new(Box::new(NatsOutput::new(mutual).expect("output")))
    });
    for n in 0..N {
        d.enqueue(numbered(n));
    }
    let got = rt.block_on(async {
        let mut got = BTreeSet::new();
        while (got.len() as u64) < N {
            match tokio::time::timeout(Duration::from_secs(20), sub.next()).await {
                Ok(Some(m)) => {
                    let v: Value = serde_json::from_slice(&m.payload).expect("JSON alert");
                    got.insert(v["output_fields"]["evt.num"].as_u64().expect("evt.num"));
                }
                _ => break,
            }
        }
        got
    });
    assert_eq!(got, (0..N).collect::<BTreeSet<_>>());
    let (_, snap) = d.shutdown(Duration::from_secs(5));
    assert_eq!(snap.outputs[0].delivered, N);
    rt.block_on(async move {
        drop(sub);
        drop(client);
    });
    let _ = std::fs::remove_dir_all(&dir);
}
