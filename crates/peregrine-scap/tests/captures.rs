//! Every upstream capture reads end to end, checks strictly, round-trips through the writer,
//! and contains what `captures/README.md` says it contains.

use peregrine_scap::event::block;
use peregrine_scap::{check, read_all, FdKind, OwnedEvent, Reader};

use peregrine_testkit::upstream::dir as upstream;

fn bytes(name: &str) -> Vec<u8> {
    let p = upstream().join("captures").join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// `(file, scap version, event blocks, FDL blocks, PL block type)` from captures/README.md.
type Row = (&'static str, (u16, u16), usize, usize, u32);
const CAPTURES: &[Row] = &[
    ("falco/cat_write.scap", (1, 0), 345, 73, block::PL_V6),
    (
        "falco/open-multiple-files.scap",
        (1, 0),
        1272,
        128,
        block::PL_V6,
    ),
    ("falco/syscall.scap", (1, 1), 368, 229, block::PL_V8),
    (
        "falco/connect_localhost.scap",
        (1, 0),
        374,
        184,
        block::PL_V7,
    ),
    ("falco/ping_sendto.scap", (1, 2), 1526, 136, block::PL_V9),
    ("falco/empty.scap", (1, 2), 143, 218, block::PL_V9),
    ("falco/empty_2016.scap", (1, 0), 83, 103, block::PL_V6),
    ("falco/psp_privileged.scap", (1, 2), 2059, 100, block::PL_V9),
    (
        "falco/psp_run_as_user_0_container.scap",
        (1, 2),
        4143,
        124,
        block::PL_V9,
    ),
    (
        "falco/psp_run_as_user_65534_container.scap",
        (1, 2),
        241,
        126,
        block::PL_V9,
    ),
    (
        "falco/psp_write_tmp_test.scap",
        (1, 2),
        229,
        124,
        block::PL_V9,
    ),
    ("libs/curl_google.scap", (1, 0), 1536, 54, block::PL_V5),
    (
        "libs/curl_google_comments.scap",
        (1, 0),
        1536,
        54,
        block::PL_V5,
    ),
    (
        "libs/single_ipv6_conn.scap",
        (1, 2),
        1728,
        154,
        block::PL_V9,
    ),
    ("libs/test_ipv6_client.scap", (1, 0), 326, 58, block::PL_V5),
    ("libs/sample.scap", (1, 2), 572, 94, block::PL_V9),
    (
        "sysdig-inspect/502Error.scap",
        (1, 0),
        22381,
        4,
        block::PL_V5,
    ),
];

#[test]
fn every_capture_reads_and_checks() {
    if peregrine_testkit::upstream::require("every_capture_reads_and_checks").is_none() {
        return;
    }
    for &(name, version, events, fdls, pl) in CAPTURES {
        let b = bytes(name);
        let c = read_all(&b);
        assert!(c.error.is_none(), "{name}: {:?}", c.error);
        assert_eq!(c.events.len(), events, "{name}: events");
        let m = &c.metadata;
        assert_eq!((m.section.major, m.section.minor), version, "{name}");
        assert!(m.machine.is_some(), "{name}: machine info");
        let s = check(&b).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(s.events as usize, events, "{name}: checked events");
        assert_eq!((s.major, s.minor), version, "{name}");
        let fdl = s.blocks.get(&block::FDL).or(s.blocks.get(&block::FDL_V2));
        assert_eq!(fdl.copied(), Some(fdls), "{name}: FDL blocks");
        assert_eq!(
            s.blocks.get(&pl).copied(),
            Some(1),
            "{name}: process list version"
        );
        assert_eq!(s.threads, m.threads.len(), "{name}: threads");
        let fds_read: usize = m.threads.iter().map(|t| t.fds.len()).sum::<usize>()
            + m.orphan_fds.iter().map(|(_, f)| f.len()).sum::<usize>();
        assert_eq!(s.fds, fds_read, "{name}: fds");
    }
}

/// Asserts that `rd` yields exactly the events `read_all` finds in upstream capture `name`;
/// returns how many.
fn assert_streams<R: std::io::Read>(rd: &mut Reader<R>, name: &str) -> usize {
    let all = read_all(&bytes(name)).events;
    let mut n = 0;
    while let Some(e) = rd.next_event().expect("event") {
        assert_eq!(e.to_owned_event(), all[n]);
        n += 1;
    }
    assert_eq!(n, all.len());
    n
}

/// Reading streams: the borrowed reader yields the same events as the owned collection.
#[test]
fn streaming_reader_matches_read_all() {
    if peregrine_testkit::upstream::require("streaming_reader_matches_read_all").is_none() {
        return;
    }
    let path = upstream().join("captures/libs/curl_google.scap");
    let mut rd = Reader::open(&path).expect("open");
    let n = assert_streams(&mut rd, "libs/curl_google.scap");
    assert_eq!(rd.stats().events as usize, n);
    assert_eq!(
        rd.stats().inferred_nparams as usize,
        n,
        "v1 file: every nparams inferred"
    );
}

/// A capture compressed with the standard `gzip` tool (its header names the original file)
/// reads as the plain file does, as libscap's gzopen reads it.
#[test]
fn a_capture_gzipped_by_the_gzip_tool_reads_like_the_plain_one() {
    if peregrine_testkit::upstream::require(
        "a_capture_gzipped_by_the_gzip_tool_reads_like_the_plain_one",
    )
    .is_none()
    {
        return;
    }
    let dir = std::env::temp_dir().join(format!("pg-gzip-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let plain = dir.join("sample.scap");
    std::fs::write(&plain, bytes("libs/sample.scap")).expect("copy");
    let status = std::process::Command::new("gzip")
        .args(["-k", "-9", "-f"])
        .arg(&plain)
        .status()
        .expect("gzip runs");
    assert!(status.success());
    let mut rd = Reader::open(dir.join("sample.scap.gz")).expect("opens");
    assert_streams(&mut rd, "libs/sample.scap");
    let _ = std::fs::remove_dir_all(&dir);
}

fn events(name: &str) -> Vec<OwnedEvent> {
    let c = read_all(&bytes(name));
    assert!(c.error.is_none(), "{name}: {:?}", c.error);
    c.events
}

fn name_of(e: &OwnedEvent) -> &'static str {
    peregrine_scap::table::lookup(e.ppm_type).map_or("unknown", |i| i.name)
}

fn str_param(e: &OwnedEvent, name: &str) -> String {
    let info = peregrine_scap::table::lookup(e.ppm_type).expect("known code");
    let i = info.params.iter().position(|p| p.name == name).expect(name);
    let v = &e.params[i];
    let end = v.iter().position(|&b| b == 0).unwrap_or(v.len());
    String::from_utf8_lossy(&v[..end]).into_owned()
}

fn i64_param(e: &OwnedEvent, name: &str) -> i64 {
    let info = peregrine_scap::table::lookup(e.ppm_type).expect("known code");
    let i = info.params.iter().position(|p| p.name == name).expect(name);
    i64::from_le_bytes(e.params[i].as_slice().try_into().expect("8 bytes"))
}

/// Per-type counts `(file, evt.type, enter count, exit count)` from captures/README.md.
#[test]
fn per_type_counts_match_the_readme() {
    if peregrine_testkit::upstream::require("per_type_counts_match_the_readme").is_none() {
        return;
    }
    let cases: &[(&str, &str, usize, usize)] = &[
        ("falco/syscall.scap", "open", 4, 4),
        ("falco/cat_write.scap", "open", 4, 4),
        ("falco/connect_localhost.scap", "socket", 3, 3),
        ("falco/connect_localhost.scap", "connect", 1, 1),
        ("falco/ping_sendto.scap", "sendmsg", 10, 10),
        ("falco/ping_sendto.scap", "procinfo", 1506, 0),
        ("falco/empty.scap", "procinfo", 143, 0),
        ("falco/empty_2016.scap", "procinfo", 80, 0),
        ("falco/empty_2016.scap", "container", 3, 0),
        ("falco/psp_privileged.scap", "procinfo", 2058, 0),
        ("falco/psp_privileged.scap", "container", 1, 0),
        ("falco/psp_run_as_user_65534_container.scap", "execve", 1, 1),
        ("falco/psp_write_tmp_test.scap", "open", 1, 1),
        ("falco/open-multiple-files.scap", "open", 13, 13),
        ("libs/sample.scap", "switch", 228, 0),
        ("libs/sample.scap", "scapevent", 1, 0),
    ];
    for &(file, ty, enter, exit) in cases {
        let evs = events(file);
        let of = |dir: u16| {
            evs.iter()
                .filter(|e| name_of(e) == ty && e.ppm_type & 1 == dir)
                .count()
        };
        assert_eq!((of(0), of(1)), (enter, exit), "{file}: {ty}");
    }
}

#[test]
fn event_contents_match_the_readme() {
    if peregrine_testkit::upstream::require("event_contents_match_the_readme").is_none() {
        return;
    }
    // syscall.scap: the open exits, in order.
    let opens: Vec<String> = events("falco/syscall.scap")
        .iter()
        .filter(|e| e.ppm_type == 3)
        .map(|e| str_param(e, "name"))
        .collect();
    let mut sorted = opens.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        [
            "/dev/null",
            "/dev/null",
            "/etc/ld.so.cache",
            "/lib/x86_64-linux-gnu/libc.so.6"
        ]
    );

    // connect_localhost: one non-blocking TCP connect.
    let evs = events("falco/connect_localhost.scap");
    let c = evs.iter().find(|e| e.ppm_type == 23).expect("connect exit");
    assert_eq!(i64_param(c, "res"), -115);
    let tuple = peregrine_scap::event::render_socktuple(&c.params[1]);
    assert_eq!(tuple.as_deref(), Some("127.0.0.1:47192->127.0.0.1:80"));

    // psp_run_as_user_65534: su -> nologin.
    let evs = events("falco/psp_run_as_user_65534_container.scap");
    let x = evs.iter().find(|e| e.ppm_type == 293).expect("execve exit");
    assert_eq!(
        (
            str_param(x, "exe"),
            str_param(x, "args"),
            str_param(x, "comm")
        ),
        ("-su".into(), "ls".into(), "nologin".into())
    );

    // open-multiple-files: /tmp/file-1 ... /tmp/file-13, once each.
    let mut names: Vec<String> = events("falco/open-multiple-files.scap")
        .iter()
        .filter(|e| e.ppm_type == 3)
        .map(|e| str_param(e, "name"))
        .collect();
    names.sort();
    let mut want: Vec<String> = (1..=13).map(|i| format!("/tmp/file-{i}")).collect();
    want.sort();
    assert_eq!(names, want);

    // psp_write_tmp_test: the write below /tmp.
    let evs = events("falco/psp_write_tmp_test.scap");
    let o = evs.iter().find(|e| e.ppm_type == 3).expect("open exit");
    assert_eq!(str_param(o, "name"), "/tmp/test");
}

/// Socket tuples decoded from connect/accept exits, per the IPv6 captures' READMEs.
#[test]
fn ipv6_socket_tuples() {
    if peregrine_testkit::upstream::require("ipv6_socket_tuples").is_none() {
        return;
    }
    let cases: &[(&str, u16, &[&str])] = &[
        (
            "libs/test_ipv6_client.scap",
            23,
            &["::1:38255->::1:2345", "::1:38255->2001:4860:4860::8888:53"],
        ),
        (
            "libs/single_ipv6_conn.scap",
            247,
            &["2001:db8::4:54405->2001:db8::3:1234"],
        ),
        (
            "libs/curl_google.scap",
            23,
            &[
                "2600:1f18:262c:6542:9aa6:df7a:9a47:d29e:40251->2001:4860:4860::8888:53",
                "2600:1f18:262c:6542:9aa6:df7a:9a47:d29e:37140->2607:f8b0:4004:802::2004:80",
            ],
        ),
    ];
    for &(file, code, want) in cases {
        let tuples: Vec<String> = events(file)
            .iter()
            .filter(|e| e.ppm_type == code)
            .filter_map(|e| e.params.get(1))
            .filter(|t| t.first() == Some(&10))
            .filter_map(|t| peregrine_scap::event::render_socktuple(t))
            .collect();
        assert_eq!(tuples, want, "{file}");
    }
}

#[test]
fn process_lists_and_machine_info() {
    if peregrine_testkit::upstream::require("process_lists_and_machine_info").is_none() {
        return;
    }
    let m = read_all(&bytes("libs/sample.scap")).metadata;
    assert_eq!(m.threads.len(), 94);
    assert_eq!(
        m.machine.as_ref().map(|mi| mi.hostname.as_str()),
        Some("ubuntu2204.localdomain")
    );
    let t = &m.threads[0];
    assert_eq!(
        (t.tid, t.comm.as_str(), t.exe.as_str()),
        (1, "systemd", "/sbin/init")
    );
    assert_eq!(t.exepath, "/usr/lib/systemd/systemd");
    assert_eq!(t.loginuid, u32::MAX);
    let cg = t.cgroups.strings();
    assert!(cg.contains(&"cpu=/init.scope".to_string()), "{cg:?}");
    assert!(cg.contains(&"memory=/init.scope".to_string()), "{cg:?}");
    assert!(!m.users.is_empty() && !m.groups.is_empty() && !m.interfaces.is_empty());
    assert!(m.users.iter().any(|u| u.uid == 0 && u.name == "root"));

    let m = read_all(&bytes("falco/empty.scap")).metadata;
    assert_eq!(m.threads.len(), 218);

    // cat_write: the shell that ran `cat` is in the process list; `cat` itself arrives
    // through its execve exit (comm `cat`, tid 20072).
    let c = read_all(&bytes("falco/cat_write.scap"));
    let x = c
        .events
        .iter()
        .find(|e| name_of(e) == "execve" && e.ppm_type & 1 == 1)
        .expect("execve exit");
    assert_eq!((x.tid, str_param(x, "comm")), (20072, "cat".to_string()));
    assert_eq!(str_param(x, "args"), "/dev/null");
    let parent = i64_param(x, "ptid") as u64;
    assert!(
        c.metadata.thread(parent).is_some(),
        "parent {parent} in the process list"
    );

    let host = |f: &str| read_all(&bytes(f)).metadata.machine.map(|m| m.hostname);
    assert_eq!(
        host("libs/curl_google.scap").as_deref(),
        Some("ip-10-0-0-79")
    );
    assert_eq!(
        host("sysdig-inspect/502Error.scap").as_deref(),
        Some("deleted")
    );
}

#[test]
fn fd_tables_decode_sockets_and_files() {
    if peregrine_testkit::upstream::require("fd_tables_decode_sockets_and_files").is_none() {
        return;
    }
    let m = read_all(&bytes("libs/single_ipv6_conn.scap")).metadata;
    let all: Vec<&FdKind> = m
        .threads
        .iter()
        .flat_map(|t| t.fds.iter().map(|f| &f.kind))
        .collect();
    assert!(all.iter().any(|k| matches!(k, FdKind::File { .. })));
    assert!(all.iter().any(|k| matches!(k, FdKind::Unix { .. })));
    let m = read_all(&bytes("falco/connect_localhost.scap")).metadata;
    let names: Vec<String> = m
        .threads
        .iter()
        .flat_map(|t| t.fds.iter())
        .filter(|f| {
            matches!(
                f.kind,
                FdKind::Ipv4Socket { .. } | FdKind::Ipv4Server { .. }
            )
        })
        .map(|f| f.kind.name())
        .collect();
    assert!(!names.is_empty());
    assert!(names.iter().all(|n| n.contains(':')), "{names:?}");
}

/// `curl_google_comments` is `curl_google` with 88 bytes of SHB options (and block comments).
#[test]
fn section_header_options_are_skipped() {
    if peregrine_testkit::upstream::require("section_header_options_are_skipped").is_none() {
        return;
    }
    let a = read_all(&bytes("libs/curl_google.scap"));
    let b = read_all(&bytes("libs/curl_google_comments.scap"));
    assert_eq!(b.metadata.section.options.len(), 88);
    assert!(a.metadata.section.options.is_empty());
    assert_eq!(a.events, b.events);
    assert_eq!(a.metadata.threads, b.metadata.threads);
    let s = check(&bytes("libs/curl_google_comments.scap")).expect("check");
    assert!(s.events_with_options > 0);
}

/// read → write (current layout) → strict check → read gives the same metadata and events.
#[test]
fn round_trip_every_capture() {
    if peregrine_testkit::upstream::require("round_trip_every_capture").is_none() {
        return;
    }
    for &(name, _, events, _, _) in CAPTURES {
        let a = read_all(&bytes(name));
        let out = peregrine_scap::writer::write_capture(&a.metadata, &a.events)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let s = check(&out).unwrap_or_else(|e| panic!("{name}: written file: {e}"));
        assert_eq!(s.events as usize, events, "{name}");
        assert_eq!((s.major, s.minor), (1, 2));
        assert_eq!(s.blocks.get(&block::PL_V9), Some(&1));
        assert!(s
            .blocks
            .keys()
            .all(|t| !matches!(*t, block::EV | block::FDL | block::PL_V5)));
        let b = read_all(&out);
        assert!(b.error.is_none(), "{name}: {:?}", b.error);
        let mut ma = a.metadata.clone();
        ma.section = b.metadata.section.clone();
        ma.skipped_blocks.clear();
        assert_eq!(b.metadata, ma, "{name}: metadata");
        assert_eq!(b.events, a.events, "{name}: events");
        // Written once more, the bytes are stable.
        let again = peregrine_scap::writer::write_capture(&b.metadata, &b.events).expect("write");
        assert_eq!(again, out, "{name}: second write differs");
    }
}

#[test]
fn gzip_output_reads_back() {
    if peregrine_testkit::upstream::require("gzip_output_reads_back").is_none() {
        return;
    }
    use std::io::Write;
    let a = read_all(&bytes("falco/syscall.scap"));
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut w = peregrine_scap::Writer::new(&mut gz, &a.metadata).expect("writer");
    for e in &a.events {
        w.write_owned(e).expect("event");
    }
    w.finish().expect("finish").flush().expect("flush");
    let out = gz.finish().expect("gzip");
    assert_eq!(&out[..2], &[0x1f, 0x8b]);
    let b = read_all(&out);
    assert!(b.error.is_none());
    assert_eq!(b.events, a.events);
}

#[test]
fn dump_prints_one_line_per_event() {
    if peregrine_testkit::upstream::require("dump_prints_one_line_per_event").is_none() {
        return;
    }
    let path = upstream().join("captures/falco/connect_localhost.scap");
    let mut out = Vec::new();
    let stats = peregrine_scap::dump(&path, &mut out).expect("dump");
    let text = String::from_utf8(out).expect("utf8");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 374);
    assert_eq!(stats.events, 374);
    let connect: Vec<&&str> = lines.iter().filter(|l| l.contains(" < connect ")).collect();
    assert_eq!(connect.len(), 1);
    assert!(
        connect[0].ends_with("< connect res=-115(EINPROGRESS) tuple=127.0.0.1:47192->127.0.0.1:80"),
        "{}",
        connect[0]
    );
    let first: Vec<&str> = lines[0].split(' ').collect();
    assert_eq!(first[0], "1");
    assert!(first[1].parse::<u64>().is_ok() && first[2].parse::<u16>().is_ok());

    // comm comes from the execve exit once it is seen.
    let mut out = Vec::new();
    peregrine_scap::dump(upstream().join("captures/falco/cat_write.scap"), &mut out).expect("dump");
    let text = String::from_utf8(out).expect("utf8");
    let open = text
        .lines()
        .find(|l| l.contains("< open fd=3 name=/dev/null"))
        .expect("open of /dev/null");
    assert!(open.contains(" cat 20072 < open "), "{open}");
}

/// Which libscap conversions the old captures need (falcosecurity/libs
/// `userspace/libscap/engine/savefile/converter/table.cpp`).
#[test]
fn old_captures_are_classified_for_conversion() {
    if peregrine_testkit::upstream::require("old_captures_are_classified_for_conversion").is_none()
    {
        return;
    }
    use peregrine_scap::convert::{classify, Conversion};
    let cases: &[(&str, u16, Conversion)] = &[
        // v1 open exits carry fd, name, flags, mode: dev and ino are appended.
        (
            "falco/cat_write.scap",
            3,
            Conversion::AppendParams { missing: 2 },
        ),
        ("falco/cat_write.scap", 2, Conversion::StoreEnter),
        (
            "falco/psp_write_tmp_test.scap",
            3,
            Conversion::AppendParams { missing: 1 },
        ),
        // sendmsg exits of 2019 carry res and data only.
        (
            "falco/ping_sendto.scap",
            49,
            Conversion::AppendParams { missing: 3 },
        ),
        ("falco/ping_sendto.scap", 48, Conversion::StoreEnter),
        (
            "falco/psp_run_as_user_65534_container.scap",
            293,
            Conversion::AppendParams { missing: 12 },
        ),
        ("falco/ping_sendto.scap", 234, Conversion::None),
    ];
    for &(file, code, want) in cases {
        let evs = events(file);
        let got: Vec<Conversion> = evs
            .iter()
            .filter(|e| e.ppm_type == code)
            .map(|e| classify(e.ppm_type, e.params.len()))
            .collect();
        assert!(!got.is_empty(), "{file}: no events of code {code}");
        assert!(got.iter().all(|c| *c == want), "{file} {code}: {got:?}");
    }
    // Every event of every capture classifies without `Unknown`.
    for &(name, ..) in CAPTURES {
        for e in events(name) {
            assert_ne!(
                classify(e.ppm_type, e.params.len()),
                Conversion::Unknown,
                "{name}: {}",
                e.ppm_type
            );
        }
    }
}
