//! Replay of stored captures with writev and poll events: their old layouts convert to the
//! records live capture writes (poll's `fds` list, writev's data), and rules see the same
//! fields (`fdlist.*`, `evt.arg.fds` with type characters, `fd.name`).

mod common;

use peregrine_engine::replay::replay_file;
use peregrine_engine::{AlertSink, Match};

use peregrine_testkit::upstream::dir as upstream;

const RULES: &str = r#"
- rule: io
  desc: vector writes and polls
  condition: evt.type in (writev, poll) and evt.dir = <
  output: "%evt.num %evt.type %proc.name %evt.args | %fdlist.nums | %fdlist.names | %fd.name"
  priority: INFO
"#;

#[derive(Default)]
struct Outputs(Vec<String>);

impl AlertSink for Outputs {
    fn alert(&mut self, m: &Match<'_>) {
        self.0.push(m.output.to_string());
    }
}

/// The outputs of the rule over one capture.
fn replay(capture: &str) -> Vec<String> {
    let engine = common::engine(RULES);
    let mut out = Outputs::default();
    let path = upstream().join("captures").join(capture);
    let (pipe, _) = replay_file(engine, &path, &mut out).expect("replays");
    assert_eq!(pipe.stats().decode_errors, 0);
    out.0
}

#[test]
fn poll_replays_with_its_fd_list() {
    if peregrine_testkit::upstream::require("poll_replays_with_its_fd_list").is_none() {
        return;
    }
    let out = replay("libs/curl_google.scap");
    // Type character `6` from the replayed fd table; flags in Falco's PPM_POLL* (0x204 is
    // POLLOUT|POLLWRNORM); no `fd.name`, as poll has no `fd` parameter.
    let dns = "2600:1f18:262c:6542:9aa6:df7a:9a47:d29e:40251->2001:4860:4860::8888:53";
    let http = "2600:1f18:262c:6542:9aa6:df7a:9a47:d29e:37140->2607:f8b0:4004:802::2004:80";
    for expected in [
        format!("542 poll curl res=1 fds=4:64 timeout=0 | 4 | {dns} | <NA>"),
        "544 poll curl res=0 fds= timeout=4 | <NA> | <NA> | <NA>".to_string(),
        format!("594 poll curl res=1 fds=4:6204 timeout=0 | 4 | {http} | <NA>"),
        format!("615 poll curl res=1 fds=4:681 timeout=0 | 4 | {http} | <NA>"),
    ] {
        assert!(out.contains(&expected), "{expected}\nnot in {out:#?}");
    }
    assert_eq!(out.len(), 15, "{out:#?}");
}

#[test]
fn writev_replays_with_its_data() {
    if peregrine_testkit::upstream::require("writev_replays_with_its_data").is_none() {
        return;
    }
    let out = replay("sysdig-inspect/502Error.scap");
    assert_eq!(out.len(), 37, "{out:#?}");
    let line = out.iter().find(|l| l.starts_with("93 ")).expect("event 93");
    // Thread 844 is a new thread of the process (pid 13700) that the capture's process
    // list has: it inherits its name and its fd table, whose stderr is a pipe.
    assert_eq!(
        line,
        "93 writev python res=65 data=192.168.0.3 - - [23/Sep/2017 00:44:29] \"GET /bar \
         HTTP/1.1\" 200 -. fd=2(<p>pipe:[12351032]) size=65 | <NA> | <NA> | pipe:[12351032]"
    );
}
