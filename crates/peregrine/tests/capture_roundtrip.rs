//! Capture files written live (root): `peregrine capture -w` records a marker behaviour, the
//! file passes the strict block check and its replay raises the alert the behaviour calls for;
//! an agent's rule-triggered capture holds the triggering event and what came before it, and
//! replaying that file with the same rules gives the very alerts the live agent raised.
//!
//! Every assertion is about events picked by marker paths in a per-test directory, so other
//! processes only add events nobody looks at. The tests of this file take turns (one live
//! consumer at a time keeps a busy 2-core CI machine responsive). Waits are bounded polls,
//! never timing assertions.

mod common;
mod e2e_harness;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use common::{peregrine, stderr, stdout};
use e2e_harness::{run, scratch, Agent};
use serde_json::Value;

/// One live capture at a time in this file.
static TURN: Mutex<()> = Mutex::new(());

fn turn() -> MutexGuard<'static, ()> {
    TURN.lock().unwrap_or_else(|p| p.into_inner())
}

/// Generous: BPF load, /proc seeding and a busy 2-core CI machine.
const ATTACH: Duration = Duration::from_secs(60);
const ALERT: Duration = Duration::from_secs(30);

fn marker_rule(marker: &Path, capture: bool) -> String {
    format!(
        "
- rule: Marker read
  desc: a marker file read by cat
  condition: evt.type in (open, openat, openat2) and fd.name = {} and proc.name = cat
  output: marker read (cmd=%proc.cmdline file=%fd.name pname=%proc.pname pid=%proc.pid type=%evt.type flags=%evt.arg.flags)
  priority: WARNING
  capture: {capture}
  capture_duration: 200
",
        marker.display()
    )
}

/// A running `peregrine capture`, attached once it said so on stderr.
struct Capturer {
    child: Child,
    log: mpsc::Receiver<String>,
}

impl Capturer {
    fn start(args: &[&str]) -> Capturer {
        let mut child = Command::new(env!("CARGO_BIN_EXE_peregrine"))
            .env(peregrine_config::DEFAULT_CONFIG_ENV, "")
            .arg("capture")
            .args(args)
            .env("PEREGRINE_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("capture starts");
        let (tx, rx) = mpsc::channel();
        let err = child.stderr.take().expect("stderr");
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let c = Capturer { child, log: rx };
        let deadline = Instant::now() + ATTACH;
        let mut seen = Vec::new();
        loop {
            match c
                .log
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            {
                Ok(l) if l.contains("capturing") => return c,
                Ok(l) => seen.push(l),
                Err(_) => panic!("peregrine capture did not attach: {seen:#?}"),
            }
        }
    }

    /// SIGINT, as a user stops it; returns the exit status and what it printed.
    fn stop(mut self) -> (std::process::ExitStatus, Vec<String>) {
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let status = self.child.wait().expect("capture exits");
        (status, self.log.try_iter().collect())
    }
}

impl Drop for Capturer {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `peregrine -r RULES -o json_output=true replay FILE`.
fn replay_json(rules: &Path, file: &str) -> std::process::Output {
    peregrine([
        "-r",
        &rules.display().to_string(),
        "-o",
        "json_output=true",
        "replay",
        file,
    ])
}

/// A shell loop in the background, killed (with its process group) on drop.
struct Looper(Child);

impl Looper {
    fn start(script: &str) -> Looper {
        use std::os::unix::process::CommandExt;
        let child = Command::new("/bin/sh")
            .args(["-c", script])
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("loop starts");
        Looper(child)
    }
}

impl Drop for Looper {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.0.id())])
            .status();
        let _ = self.0.wait();
    }
}

/// The JSON alerts of one rule among output lines, reduced to what must agree between live
/// and replay: rule, priority, the rendered output after its time prefix and every output
/// field but `evt.time`; plus the event time (ns) apart, see [`same_time`].
fn alerts(lines: impl Iterator<Item = String>, rule: &str) -> Vec<(Value, u64)> {
    lines
        .filter_map(|l| serde_json::from_str::<Value>(&l).ok())
        .filter(|v| v["rule"] == rule)
        .map(|v| {
            let mut fields = v["output_fields"].clone();
            let time = fields
                .as_object_mut()
                .and_then(|f| f.remove("evt.time"))
                .and_then(|t| t.as_u64())
                .unwrap_or(0);
            let output = v["output"].as_str().unwrap_or("");
            let text = output.split_once(": ").map_or(output, |(_, t)| t);
            let key = serde_json::json!({
                "rule": v["rule"],
                "priority": v["priority"],
                "output": text,
                "output_fields": fields,
            });
            (key, time)
        })
        .collect()
}

fn epoch_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// Event times agree up to the clock offsets of two processes: each converts the kernel's
/// boot-time stamps to wall-clock time with its own reading of both clocks, so the live agent
/// and the capture differ by microseconds. A second is far beyond that and far below any
/// wrong time (a boot-time stamp, a replay-time stamp).
fn same_time(a: u64, b: u64) -> bool {
    a.abs_diff(b) < 1_000_000_000 && a > 1_600_000_000_000_000_000
}

#[test]
fn a_capture_replays_into_the_alert_of_its_behaviour() {
    if !peregrine_testkit::live("a_capture_replays_into_the_alert_of_its_behaviour") {
        return;
    }
    let _turn = turn();
    let dir = scratch("capture-roundtrip");
    let marker = dir.join("marker.txt");
    std::fs::write(&marker, "x").expect("marker");
    let rules = dir.join("rules.yaml");
    std::fs::write(&rules, marker_rule(&marker, false)).expect("rules");
    let file = dir.join("live.scap.gz");
    let file_arg = file.display().to_string();

    // The event types keep the kernel selection small; `execve` is written too, so the
    // replay knows the process.
    let capture = Capturer::start(&[
        "-w",
        &file_arg,
        "-z",
        "evt.type in (open, openat, openat2, execve) and proc.name = cat",
    ]);
    let target = marker.display().to_string();
    let before = epoch_ns();
    let cat = Command::new("cat")
        .arg(&target)
        .stdout(Stdio::null())
        .status()
        .expect("cat runs");
    assert!(cat.success());
    let after = epoch_ns();
    // The kernel wrote the events into the ring while cat ran; the capture drains its ring
    // before it exits, so stopping it now loses nothing.
    let (status, capture_log) = capture.stop();
    assert!(status.success(), "capture failed: {capture_log:#?}");

    let bytes = std::fs::read(&file).expect("capture file written");
    assert_eq!(&bytes[..2], &[0x1f, 0x8b], "-z writes gzip");
    let summary = peregrine_scap::check(&bytes)
        .unwrap_or_else(|e| panic!("strict check of {}: {e}", file.display()));
    assert!(summary.events > 0, "{summary:?}");

    let out = replay_json(&rules, &file_arg);
    assert!(out.status.success(), "replay: {}", stderr(&out));
    let replayed = alerts(stdout(&out).lines().map(String::from), "Marker read");
    assert_eq!(replayed.len(), 1, "{replayed:#?} {}", stderr(&out));
    let (alert, time) = &replayed[0];
    let fields = &alert["output_fields"];
    assert_eq!(fields["proc.cmdline"], format!("cat {target}"), "{alert}");
    assert_eq!(fields["fd.name"], target.as_str(), "{alert}");
    // The parent is this test process, known from the capture's process list.
    let me = std::fs::read_to_string("/proc/self/comm").expect("comm");
    assert_eq!(fields["proc.pname"], me.trim(), "{alert}");
    // Alert time is the event's time (one clock reading of slack either side).
    assert!(
        *time + 1_000_000_000 >= before && *time <= after + 1_000_000_000,
        "{alert}"
    );
}

/// Every `(params joined)` text of the events of a capture, for marker searches.
fn event_texts(path: &Path) -> Vec<String> {
    let bytes = std::fs::read(path).expect("capture file");
    peregrine_scap::check(&bytes).unwrap_or_else(|e| panic!("strict check: {e}"));
    let cap = peregrine_scap::read_all(&bytes);
    assert!(cap.error.is_none(), "{:?}", cap.error);
    cap.events
        .iter()
        .map(|e| {
            e.params
                .iter()
                .map(|p| String::from_utf8_lossy(p).into_owned())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

fn capture_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("scratch dir")
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("cap_") && n.ends_with(".scap"))
        })
        .collect();
    v.sort();
    v
}

#[test]
fn a_rule_triggered_capture_holds_the_trigger_and_what_came_before_and_replays_alike() {
    if !peregrine_testkit::live(
        "a_rule_triggered_capture_holds_the_trigger_and_what_came_before_and_replays_alike",
    ) {
        return;
    }
    let _turn = turn();
    let dir = scratch("capture-rule");
    let marker = dir.join("trigger.txt");
    let before = dir.join("before.txt");
    std::fs::write(&marker, "x").expect("marker");
    std::fs::write(&before, "y").expect("before marker");
    let rules = dir.join("rules.yaml");
    std::fs::write(&rules, marker_rule(&marker, true)).expect("rules");
    let prefix = dir.join("cap").display().to_string();

    let mut agent = Agent::start(
        &rules,
        &[
            "-o",
            "json_output=true",
            "-o",
            "capture.enabled=true",
            "-o",
            &format!("capture.path_prefix={prefix}"),
        ],
    );
    // An earlier event of the same kind, by another process: it must be in the window.
    run("head", &["-c1", &before.display().to_string()]);
    run("cat", &[&marker.display().to_string()]);
    let seen = agent.wait_for(ALERT, |l| l.stdout && l.text.contains("\"Marker read\""));
    // Stopping the agent finishes the capture in progress.
    let log = agent.log.clone();
    let status = agent.stop();
    assert!(seen, "no alert: {log:#?}");
    assert!(status.success(), "{status:?}");

    let files = capture_files(&dir);
    assert_eq!(files.len(), 1, "{files:?} {log:#?}");
    let name = files[0].file_name().and_then(|n| n.to_str()).unwrap_or("");
    assert!(name.starts_with("cap_Marker_read_"), "{name}");
    let texts = event_texts(&files[0]);
    let at = |needle: &Path| {
        let n = needle.display().to_string();
        texts.iter().position(|t| t.contains(&n))
    };
    let trigger = at(&marker).unwrap_or_else(|| panic!("trigger event missing: {texts:#?}"));
    let earlier = at(&before).unwrap_or_else(|| panic!("earlier event missing: {texts:#?}"));
    assert!(earlier < trigger, "{earlier} < {trigger}");

    // The file replays into the alerts the live agent raised.
    let live = alerts(log.into_iter(), "Marker read");
    assert_eq!(live.len(), 1, "{live:#?}");
    let out = replay_json(&rules, &files[0].display().to_string());
    assert!(out.status.success(), "replay: {}", stderr(&out));
    let replayed = alerts(stdout(&out).lines().map(String::from), "Marker read");
    let keys = |a: &[(Value, u64)]| a.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>();
    assert_eq!(
        keys(&replayed),
        keys(&live),
        "replay stderr: {}",
        stderr(&out)
    );
    assert!(same_time(replayed[0].1, live[0].1), "{replayed:?} {live:?}");
}

/// `-C 0` starts a new file before every event and `-W 3` keeps three names, so 20 events
/// leave exactly FILE0..FILE2, each a complete capture (metadata, then its last event).
#[test]
fn size_rotation_cycles_through_w_files_that_each_stand_alone() {
    if !peregrine_testkit::live("size_rotation_cycles_through_w_files_that_each_stand_alone") {
        return;
    }
    let _turn = turn();
    let dir = scratch("capture-rotate");
    let base = dir.join("rot.scap");
    let base_arg = base.display().to_string();
    // The test makes its own events (a quiet host may not make 20 soon), and the filter keeps
    // only those.
    let marker = scratch("capture-rotate-marker").join("marker");
    std::fs::write(&marker, "x").expect("marker");
    let filter = format!(
        "evt.type in (open, openat, openat2) and fd.name = {}",
        marker.display()
    );
    let _reader = Looper::start(&format!(
        "while :; do cat {} >/dev/null; sleep 0.01; done",
        marker.display()
    ));
    let out = peregrine([
        "capture", "-w", &base_arg, "-n", "20", "-C", "0", "-W", "3", "-M", "120", &filter,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("dir")
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    names.sort();
    assert_eq!(names, ["rot.scap0", "rot.scap1", "rot.scap2"]);
    for n in &names {
        let bytes = std::fs::read(dir.join(n)).expect("file");
        let s = peregrine_scap::check(&bytes).unwrap_or_else(|e| panic!("{n}: {e}"));
        assert_eq!(s.events, 1, "{n}: {s:?}");
        let cap = peregrine_scap::read_all(&bytes);
        assert!(!cap.metadata.threads.is_empty(), "{n}: no process list");
    }
}

/// A capture stopped before its first event is a valid file with the process, fd and user
/// lists and no events, as Falco's and sysdig's are: it passes the strict check, and it
/// replays (to nothing) without an error.
#[test]
fn a_capture_stopped_before_its_first_event_is_valid() {
    if !peregrine_testkit::live("a_capture_stopped_before_its_first_event_is_valid") {
        return;
    }
    let _turn = turn();
    let dir = scratch("capture-empty");
    let file = dir.join("empty.scap");
    let file_arg = file.display().to_string();
    // No process has this name, so nothing is ever written, however busy the machine.
    let capture = Capturer::start(&[
        "-w",
        &file_arg,
        "evt.type = openat and proc.name = pg-no-such-proc",
    ]);
    let (status, capture_log) = capture.stop();
    assert!(status.success(), "capture failed: {capture_log:#?}");

    let bytes = std::fs::read(&file).expect("capture file written");
    let summary = peregrine_scap::check(&bytes)
        .unwrap_or_else(|e| panic!("strict check of {}: {e}", file.display()));
    assert_eq!(summary.events, 0, "{summary:?}");
    assert!(
        summary.threads > 0,
        "the process list is there: {summary:?}"
    );

    let rules = dir.join("rules.yaml");
    std::fs::write(&rules, marker_rule(&dir.join("marker.txt"), false)).expect("rules");
    let out = replay_json(&rules, &file_arg);
    assert!(out.status.success(), "replay: {}", stderr(&out));
    assert!(stdout(&out).trim().is_empty(), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("0 capture events read"),
        "{}",
        stderr(&out)
    );
}
