//! `peregrine events FILTER` through the binary: the filter is a full condition evaluated on
//! state fields (proc.name, fd.name), not only evt.type. The live part needs root; every
//! other process on the host runs in parallel, so the test matches only its own marker path.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

fn peregrine() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_peregrine"));
    command.env(peregrine_config::DEFAULT_CONFIG_ENV, "");
    command
}

/// Lines of a child's stream, read on a thread so the test can wait with a deadline.
fn lines(stream: impl std::io::Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Kills the view if the test fails before it exits on its own.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

fn run_quietly(cmd: &str, arg: &str) {
    let _ = Command::new(cmd)
        .arg(arg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Starts `peregrine events --stats ARGS` and waits (up to 30 s) until its capture runs;
/// returns the process, its stdout lines and the stderr lines seen before the start.
fn start_view(args: &[&str]) -> (Guard, Receiver<String>, Vec<String>) {
    let mut child = peregrine()
        .args(["events", "--stats"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("peregrine events starts");
    let out = lines(child.stdout.take().expect("stdout"));
    let err = lines(child.stderr.take().expect("stderr"));
    let child = Guard(child);
    let mut log = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    let started = loop {
        match err.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(l) if l.contains("capture started") => break true,
            Ok(l) => log.push(l),
            Err(_) => break false,
        }
    };
    assert!(started, "the view did not start: {log:#?}");
    (child, out, log)
}

#[test]
fn filter_on_process_and_file_names_prints_only_matching_events() {
    if !peregrine_testkit::live("filter_on_process_and_file_names_prints_only_matching_events") {
        return;
    }
    let dir = std::env::temp_dir().join(format!("peregrine-events-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let marker = format!("pg-ev-marker-{}", std::process::id());
    let target = dir.join(format!("{marker}.txt"));
    let other = dir.join("unrelated.txt");
    std::fs::write(&target, "x\n").expect("marker file");
    std::fs::write(&other, "y\n").expect("other file");

    let filter = format!("proc.name=cat and fd.name contains {marker}");
    let (mut child, out, log) =
        start_view(&["-n", "1", "-p", "%proc.name %evt.type %fd.name", &filter]);

    // Decoys first in every round: another program on the marker, cat on another file.
    let target_s = target.to_str().expect("utf-8 path");
    let other_s = other.to_str().expect("utf-8 path");
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut printed = Vec::new();
    while printed.is_empty() && Instant::now() < deadline {
        run_quietly("head", target_s);
        run_quietly("cat", other_s);
        run_quietly("cat", target_s);
        if let Ok(l) = out.recv_timeout(Duration::from_millis(500)) {
            printed.push(l);
        }
    }
    assert_eq!(
        printed,
        [format!("cat openat {target_s}")],
        "stderr: {log:#?}"
    );

    // -n 1: the view stops by itself after the first printed event.
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = child.0.try_wait().expect("wait") {
            break Some(s);
        }
        if Instant::now() >= deadline {
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.is_some_and(|s| s.success()), "{status:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn invalid_filters_fail_before_capture_with_the_compilers_message() {
    for (filter, message) in [
        ("no.such.field = 1", "no.such.field"),
        ("my_macro and evt.type=open", "Undefined macro 'my_macro'"),
        ("proc.name = (", "invalid filter"),
    ] {
        let out = peregrine()
            .args(["events", filter])
            .output()
            .expect("peregrine runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{filter}");
        assert!(stderr.contains(message), "{filter}: {stderr}");
        assert!(out.stdout.is_empty(), "{filter}");
    }
}

/// `poll` on a connected TCP socket and a listening one, both created by this test process
/// after the view started (so their state comes from the captured socket/bind/connect
/// events): the fd list renders with type characters and `fdlist.*` resolve each descriptor.
#[test]
fn poll_fd_lists_resolve_through_the_fd_table() {
    use std::os::fd::AsRawFd;
    if !peregrine_testkit::live("poll_fd_lists_resolve_through_the_fd_table") {
        return;
    }
    let me = std::process::id().to_string();
    let (_child, out, _) = start_view(&[
        "--pid",
        &me,
        "-p",
        "%evt.type|%evt.arg.fds|%fdlist.nums|%fdlist.names|%fdlist.cips|%fdlist.sips|\
         %fdlist.cports|%fdlist.sports",
        "evt.type=poll",
    ]);

    // An explicit port, so the captured bind names it (a bind to port 0 says 0).
    let base = 20_000 + (std::process::id() % 20_000) as u16;
    let listener = (0..200)
        .find_map(|k| std::net::TcpListener::bind(("127.0.0.1", base + k)).ok())
        .expect("a free port");
    let port = listener.local_addr().expect("address").port();
    let client = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connects");
    let cport = client.local_addr().expect("address").port();
    let (c, l) = (client.as_raw_fd(), listener.as_raw_fd());
    // Writable client (POLLOUT, 4) and a pending connection on the listener (POLLIN, 1).
    let expected = format!(
        "poll|{c}:44 {l}:41|{c},{l}|127.0.0.1:{cport}->127.0.0.1:{port},127.0.0.1:{port}|\
         127.0.0.1|127.0.0.1,127.0.0.1|{cport}|{port},{port}"
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = Vec::new();
    while Instant::now() < deadline && !seen.contains(&expected) {
        let mut set = [
            libc::pollfd {
                fd: c,
                events: libc::POLLOUT,
                revents: 0,
            },
            libc::pollfd {
                fd: l,
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: a valid array of two pollfds; a zero timeout does not block.
        unsafe { libc::poll(set.as_mut_ptr(), 2, 0) };
        while let Ok(line) = out.recv_timeout(Duration::from_millis(200)) {
            seen.push(line);
        }
    }
    assert!(seen.contains(&expected), "{expected}\nnot in {seen:#?}");
}
