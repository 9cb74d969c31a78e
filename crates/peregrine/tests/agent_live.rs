//! End to end as root: `peregrine -r RULES` attaches to the kernel, and `cat /etc/shadow`
//! produces the rule's alert on stdout within one second (polled against a deadline).
//! Needs the agent wired into `main.rs` (`agent::run` for the run mode).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const RULE: &str = "
- rule: Read shadow
  desc: t
  condition: evt.type in (open, openat, openat2) and fd.name = /etc/shadow and proc.name = cat
  output: shadow read by %proc.cmdline (file=%fd.name)
  priority: WARNING
";

#[test]
fn cat_etc_shadow_alerts_within_a_second() {
    let dir = std::env::temp_dir().join(format!("peregrine-agent-live-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let rules = dir.join("rules.yaml");
    std::fs::write(&rules, RULE).expect("rules file");
    let mut agent = Command::new(env!("CARGO_BIN_EXE_peregrine"))
        .arg("-r")
        .arg(&rules)
        .args(["-M", "30"])
        .env("PEREGRINE_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("agent starts");
    let (tx, rx) = mpsc::channel::<(bool, String)>();
    let out = agent.stdout.take().expect("stdout");
    let err = agent.stderr.take().expect("stderr");
    let tx2 = tx.clone();
    std::thread::spawn(move || {
        for l in BufReader::new(out).lines().map_while(Result::ok) {
            let _ = tx.send((true, l));
        }
    });
    std::thread::spawn(move || {
        for l in BufReader::new(err).lines().map_while(Result::ok) {
            let _ = tx2.send((false, l));
        }
    });
    // Ready once the agent says it is capturing (BPF loaded, /proc seeded).
    let ready_by = Instant::now() + Duration::from_secs(20);
    let mut log = Vec::new();
    let ready = loop {
        match rx.recv_timeout(ready_by.saturating_duration_since(Instant::now())) {
            Ok((false, l)) if l.contains("capturing") => break true,
            Ok((_, l)) => log.push(l),
            Err(_) => break false,
        }
    };
    if !ready {
        let _ = agent.kill();
        panic!("agent did not attach: {log:#?}");
    }
    let cat = Command::new("cat")
        .arg("/etc/shadow")
        .stdout(Stdio::null())
        .status()
        .expect("cat runs");
    assert!(cat.success());
    let deadline = Instant::now() + Duration::from_secs(1);
    let found = loop {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok((true, l))
                if l.ends_with("Warning shadow read by cat /etc/shadow (file=/etc/shadow)") =>
            {
                break true
            }
            Ok((_, l)) => log.push(l),
            Err(_) => break false,
        }
    };
    // SIGTERM: the agent must exit cleanly (status 0) after printing its statistics.
    let _ = Command::new("kill")
        .args(["-TERM", &agent.id().to_string()])
        .status();
    let status = agent.wait().expect("agent exits");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(found, "no alert within 1 s: {log:#?}");
    assert!(status.success(), "{status:?}");
}
