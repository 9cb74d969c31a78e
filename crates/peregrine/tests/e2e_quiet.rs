//! The quiet baseline, as root: the agent with its embedded default rules watches a benign
//! workload on the host (listing directories, reading ordinary files, a compile-like loop of
//! writing, transforming and concatenating files and, where a C compiler is installed,
//! compiling one, TCP connects to 127.0.0.1) and must raise no alert for it. Every process of the workload carries this run's scratch path in its
//! command line, which is how its alerts would be recognised among those of other processes.
//!
//! A quiet agent proves nothing if it is deaf, so the test ends with one real behaviour (a
//! read of /etc/shadow) and requires its alert: the agent was watching all along.

mod common;
mod e2e_harness;

use e2e_harness::{on_host, scratch, Agent, Expect, Want};
use std::io::{Read, Write};
use std::time::Duration;

/// Rounds of the workload; each runs every kind of benign activity once.
const ROUNDS: u32 = 5;

#[test]
fn benign_workload_raises_no_alert() {
    if !peregrine_testkit::e2e_root("benign_workload_raises_no_alert") {
        return;
    }
    let dir = scratch("e2e-quiet");
    let d = dir.display().to_string();
    std::fs::write(dir.join("notes.txt"), "hello\n").expect("notes");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listener");
    let port = listener.local_addr().expect("port").port();
    // Counts the workload's connections (each sends the scratch path) until the test sends
    // "stop", so the test knows they happened and the thread never waits forever.
    let accepter = std::thread::spawn(move || {
        let mut payloads = Vec::new();
        for mut conn in listener.incoming().flatten() {
            let mut buf = String::new();
            let _ = conn.read_to_string(&mut buf);
            if buf == "stop" {
                break;
            }
            payloads.push(buf);
        }
        payloads
    });
    let connect = format!(
        "import socket, sys; s = socket.create_connection(('127.0.0.1', {port})); \
         s.sendall(sys.argv[1].encode()); s.close()"
    );
    // `$1` is the scratch directory, so it is on every command line of the workload.
    let workload = format!(
        r#"set -e
for i in $(seq {ROUNDS}); do
    ls -la /usr/bin "$1" > "$1/ls.txt"
    cat /etc/hostname /etc/os-release "$1/notes.txt" > "$1/cat.txt"
    for f in main util io; do
        printf 'int %s_%s(void) {{ return %s; }}\n' "$f" "$i" "$i" > "$1/$f.c"
        sed -e 's/int/long/' "$1/$f.c" > "$1/$f.o"
    done
    sort "$1/main.o" "$1/util.o" "$1/io.o" > "$1/prog"
    if command -v cc > /dev/null; then cc -c -o "$1/main.obj" "$1/main.c"; fi
    /usr/bin/python3 -c "{connect}" "$1"
done"#
    );

    let mut agent = Agent::start_default(&["-o", "json_output=true"]);
    let status = on_host(&["sh".into(), "-c".into(), workload, "sh".into(), d.clone()])
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .status()
        .expect("workload runs");
    // Alerts of the workload would arrive within milliseconds; two seconds is plenty.
    let alerts = agent.drain(Duration::from_secs(2));
    let ours: Vec<String> = alerts
        .iter()
        .map(|a| a.to_string())
        .filter(|text| text.contains(&d))
        .collect();

    // The positive control: a real behaviour with the same marker must alert.
    let marker = dir.join("notes.txt").display().to_string();
    let _ = on_host(&["cat".into(), "/etc/shadow".into(), marker.clone()]).status();
    let control = Expect {
        rule: "Credential file opened for reading",
        priority: "Warning",
        fields: vec![(
            "proc.cmdline",
            Want::Is(format!("cat /etc/shadow {marker}")),
        )],
    };
    let heard = agent.expect_alert(Duration::from_secs(10), |v| control.matches(v));
    let stopped = agent.stop();
    if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
        let _ = s.write_all(b"stop");
    }
    let payloads = accepter.join().expect("accepter");
    let connections = payloads.iter().filter(|p| **p == d).count() as u32;
    let _ = std::fs::remove_dir_all(&dir);

    println!(
        "quiet baseline: {ROUNDS} rounds, {connections} connections, {} alerts from other \
         processes, {} from the workload",
        alerts.len() - ours.len(),
        ours.len()
    );
    assert!(status.success(), "workload failed: {status:?}");
    assert_eq!(connections, ROUNDS, "the workload's connections");
    assert!(ours.is_empty(), "the benign workload alerted:\n{ours:#?}");
    assert!(heard.is_some(), "the control behaviour raised no alert");
    assert!(stopped.success(), "{stopped:?}");
}
