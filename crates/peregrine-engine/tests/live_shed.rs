//! Shedding through the whole pipeline (root, eBPF): with the kernel shedding opens of paths
//! no rule names, a rule on a named path still alerts with the right `fd.name` on the open,
//! and on later reads, writes (through a dup2'd fd) and closes of its fd, including when the
//! fd number was used by a shed open just before; the unnamed paths are shed and counted.
#![cfg(feature = "live")]

use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use peregrine_engine::live::{LiveOptions, LiveSource};
use peregrine_engine::{Engine, Match, Pipeline, Settings};
use peregrine_rules::shed::PathNeeds;
use peregrine_rules::Loader;
use peregrine_state::StateConfig;

fn rules(keep: &str) -> String {
    let mut text = String::new();
    for (ty, what) in [
        ("evt.type in (open, openat, openat2)", "open"),
        ("evt.type=read", "read"),
        ("evt.type=write", "write"),
        ("evt.type=close", "close"),
    ] {
        text.push_str(&format!(
            "- rule: shed {what}\n  desc: t\n  condition: {ty} and fd.name startswith {keep}/\n  \
             output: \"{what} %fd.name\"\n  priority: WARNING\n"
        ));
    }
    text
}

#[test]
fn named_paths_keep_their_fd_names_while_others_are_shed() {
    if !peregrine_testkit::live("named_paths_keep_their_fd_names_while_others_are_shed") {
        return;
    }
    let dir = std::env::temp_dir().join(format!("pg-engine-shed-{}", std::process::id()));
    let (keep, other) = (dir.join("keep"), dir.join("other"));
    std::fs::create_dir_all(&keep).unwrap();
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(keep.join("a"), b"x").unwrap();
    std::fs::write(other.join("x"), b"y").unwrap();
    let (keep, other) = (keep.display().to_string(), other.display().to_string());

    let mut loader = Loader::new();
    loader.load_str("rules.yaml", &rules(&keep));
    let (set, res) = loader.finish();
    assert!(res.successful(), "{}", res.as_text());
    let engine = Arc::new(Engine::new(set, Settings::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let (ready_tx, ready_rx) = mpsc::channel::<Result<(), String>>();
    let (alert_tx, alert_rx) = mpsc::channel::<String>();
    let worker = {
        let (engine, stop) = (engine.clone(), stop.clone());
        std::thread::spawn(move || {
            let opts = LiveOptions {
                ring_bytes: 1 << 22,
                shed: true,
                ..LiveOptions::default()
            };
            let mut live = match LiveSource::open_with(&engine, opts) {
                Ok(l) => l,
                Err(e) => {
                    let _ = ready_tx.send(Err(e.to_string()));
                    return Err(String::new());
                }
            };
            assert!(
                matches!(live.shedding(), Some(PathNeeds::Atoms(a)) if a.len() == 1),
                "{:?}",
                live.shedding()
            );
            let before = live.counters().map_err(|e| e.to_string())?;
            let mut pipe = Pipeline::new(engine, StateConfig::default());
            let _ = pipe.state_mut().seed_from_proc();
            let _ = ready_tx.send(Ok(()));
            let mut sink = |m: &Match<'_>| {
                let _ = alert_tx.send(m.output.to_string());
            };
            live.run(&mut pipe, &mut sink, &stop, None)
                .map_err(|e| e.to_string())?;
            let after = live.counters().map_err(|e| e.to_string())?;
            Ok((
                after.shed_open_path - before.shed_open_path,
                after.shed_close - before.shed_close,
            ))
        })
    };
    ready_rx
        .recv()
        .expect("worker started")
        .expect("live capture attaches (needs root)");
    // fd 3 is opened on an unnamed path (shed), closed (shed), then reused by a named open;
    // `echo > file` writes through fd 1, a dup2 of the file's fd.
    let script = format!(
        "for i in 1 2 3 4 5 6 7 8 9 10; do cat {other}/x; done; \
         exec 3< {other}/x; exec 3<&-; exec 3< {keep}/a; cat <&3; exec 3<&-; \
         echo hi > {keep}/w"
    );
    let status = Command::new("sh")
        .arg("-c")
        .arg(&script)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("sh runs");
    assert!(status.success());
    let want = [
        format!("open {keep}/a"),
        format!("read {keep}/a"),
        format!("close {keep}/a"),
        format!("open {keep}/w"),
        format!("write {keep}/w"),
        format!("close {keep}/w"),
    ];
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = Vec::new();
    while !want.iter().all(|w| seen.contains(w)) {
        let left = deadline.saturating_duration_since(Instant::now());
        match alert_rx.recv_timeout(left) {
            Ok(o) => seen.push(o),
            Err(_) => break,
        }
    }
    stop.store(true, Ordering::Relaxed);
    let run = worker.join().expect("worker joins");
    let _ = std::fs::remove_dir_all(&dir);
    for w in &want {
        assert!(seen.contains(w), "missing alert {w:?}; seen: {seen:?}");
    }
    assert!(
        seen.iter().all(|s| s.ends_with("/a") || s.ends_with("/w")),
        "an alert with a wrong fd name: {seen:?}"
    );
    let (opens, closes) = run.expect("capture runs");
    // The ten cats' and the shell's opens of other/x at least (other processes add more).
    assert!(opens >= 11, "shed opens: {opens}");
    assert!(closes >= 11, "shed closes: {closes}");
}
