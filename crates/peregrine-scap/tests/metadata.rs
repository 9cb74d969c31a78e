//! Metadata layouts the upstream captures do not exercise: every fd kind, interfaces without
//! link speed, IL/UL v1 blocks, and process lists V1–V4, built byte by byte.

use std::net::{Ipv4Addr, Ipv6Addr};

mod common;

use common::raw_block;
use peregrine_scap::event::block;
use peregrine_scap::{
    check, read_all, FdInfo, FdKind, Group, Interface, Metadata, NulList, ThreadInfo, User, Writer,
};

/// SHB + the given metadata blocks + one procinfo event.
fn file_with(blocks: &[Vec<u8>]) -> Vec<u8> {
    let mut w = Writer::new(Vec::new(), &Metadata::default()).expect("writer");
    w.write_parts(1, 1, 0, 234, 0, &[&[0; 8], &[0; 8]])
        .expect("event");
    let written = w.finish().expect("finish");
    // Keep the SHB (28 bytes), drop the writer's empty IL/UL/PL blocks, keep the event.
    let mut pos = 28;
    let mut events_at = 28;
    while pos < written.len() {
        let t = u32::from_le_bytes(written[pos..pos + 4].try_into().expect("4"));
        let len = u32::from_le_bytes(written[pos + 4..pos + 8].try_into().expect("4")) as usize;
        if t == block::EV_V2 {
            events_at = pos;
            break;
        }
        pos += len;
    }
    let mut b = written[..28].to_vec();
    for blk in blocks {
        b.extend_from_slice(blk);
    }
    b.extend_from_slice(&written[events_at..]);
    b
}

#[test]
fn every_fd_kind_and_interface_round_trips() {
    let mut t = ThreadInfo::new(10, 10, 1);
    t.args = NulList::from_items(["-c", "echo hi"]);
    let fds = [
        FdKind::Ipv4Socket {
            sip: Ipv4Addr::new(10, 0, 0, 1),
            dip: Ipv4Addr::new(1, 2, 3, 4),
            sport: 40000,
            dport: 443,
            l4proto: 2,
        },
        FdKind::Ipv4Server {
            ip: Ipv4Addr::UNSPECIFIED,
            port: 22,
            l4proto: 2,
        },
        FdKind::Ipv6Socket {
            sip: Ipv6Addr::LOCALHOST,
            dip: "2001:db8::3".parse().expect("ip"),
            sport: 54405,
            dport: 1234,
            l4proto: 2,
        },
        FdKind::Ipv6Server {
            ip: Ipv6Addr::UNSPECIFIED,
            port: 53,
            l4proto: 3,
        },
        FdKind::Unix {
            source: 0xffff_8800_0000_0001,
            destination: 0,
            path: "/run/x.sock".into(),
        },
        FdKind::File {
            open_flags: 3,
            name: "/tmp/a".into(),
            dev: None,
        },
        FdKind::Named {
            fd_type: 12,
            name: "".into(),
        },
        FdKind::Named {
            fd_type: 20,
            name: "memfd:x".into(),
        },
    ];
    t.fds = fds
        .iter()
        .enumerate()
        .map(|(i, k)| FdInfo {
            fd: i as i64,
            ino: 100 + i as u64,
            kind: k.clone(),
        })
        .collect();
    let meta = Metadata {
        interfaces: vec![
            Interface::V4 {
                name: "lo".into(),
                addr: Ipv4Addr::LOCALHOST,
                netmask: Ipv4Addr::new(255, 0, 0, 0),
                bcast: Ipv4Addr::LOCALHOST,
                linkspeed: None,
            },
            Interface::V6 {
                name: "eth0".into(),
                addr: "fe80::1".parse().expect("ip"),
                netmask: Ipv6Addr::UNSPECIFIED,
                bcast: Ipv6Addr::UNSPECIFIED,
                linkspeed: Some(1000),
            },
        ],
        users: vec![User {
            uid: 0,
            gid: 0,
            name: "root".into(),
            homedir: "/root".into(),
            shell: "/bin/sh".into(),
        }],
        groups: vec![Group {
            gid: 0,
            name: "root".into(),
        }],
        threads: vec![t],
        orphan_fds: vec![(
            99,
            vec![FdInfo {
                fd: 0,
                ino: 0,
                kind: FdKind::Named {
                    fd_type: 7,
                    name: "pipe:[1]".into(),
                },
            }],
        )],
        ..Metadata::default()
    };
    let mut w = Writer::new(Vec::new(), &meta).expect("writer");
    w.write_parts(1, 10, 0, 234, 0, &[&[0; 8], &[0; 8]])
        .expect("event");
    let b = w.finish().expect("finish");
    let s = check(&b).expect("check");
    assert_eq!((s.threads, s.fds), (1, 9));
    let c = read_all(&b);
    assert!(c.error.is_none());
    assert_eq!(c.metadata, meta);
    let names: Vec<String> = c.metadata.threads[0]
        .fds
        .iter()
        .map(|f| f.kind.name())
        .collect();
    assert_eq!(
        names[..5],
        [
            "10.0.0.1:40000->1.2.3.4:443",
            "0.0.0.0:22",
            "::1:54405->2001:db8::3:1234",
            ":::53",
            "/run/x.sock"
        ]
    );
    assert_eq!(c.metadata.threads[0].args.strings(), ["-c", "echo hi"]);
}

/// IL v1 (no entry lengths) with the `*_NOLINKSPEED` types, UL v1, and an unknown fd type.
#[test]
fn v1_interface_user_and_fd_blocks() {
    let mut il = Vec::new();
    il.extend_from_slice(&3u16.to_le_bytes()); // IPV4_NOLINKSPEED
    il.extend_from_slice(&2u16.to_le_bytes());
    il.extend_from_slice(&[127, 0, 0, 1, 255, 0, 0, 0, 127, 255, 255, 255]);
    il.extend_from_slice(b"lo");
    il.extend_from_slice(&4u16.to_le_bytes()); // IPV6_NOLINKSPEED
    il.extend_from_slice(&1u16.to_le_bytes());
    il.extend_from_slice(&[0u8; 48]);
    il.extend_from_slice(b"x");
    let mut ul = vec![0u8];
    ul.extend_from_slice(&1000u32.to_le_bytes());
    ul.extend_from_slice(&100u32.to_le_bytes());
    for s in ["bob", "/home/bob", "/bin/bash"] {
        ul.extend_from_slice(&(s.len() as u16).to_le_bytes());
        ul.extend_from_slice(s.as_bytes());
    }
    ul.push(1);
    ul.extend_from_slice(&100u32.to_le_bytes());
    ul.extend_from_slice(&5u16.to_le_bytes());
    ul.extend_from_slice(b"users");
    let mut fdl = 7u64.to_le_bytes().to_vec();
    fdl.extend_from_slice(&5i64.to_le_bytes());
    fdl.extend_from_slice(&0u64.to_le_bytes());
    fdl.push(99); // unknown type: no payload
    let b = file_with(&[
        raw_block(block::IL, &il),
        raw_block(block::UL, &ul),
        raw_block(block::FDL, &fdl),
    ]);
    let c = read_all(&b);
    assert!(c.error.is_none(), "{:?}", c.error);
    let m = &c.metadata;
    assert_eq!(m.interfaces.len(), 2);
    assert!(
        matches!(&m.interfaces[0], Interface::V4 { name, linkspeed: None, addr, .. } if name == "lo" && *addr == Ipv4Addr::LOCALHOST)
    );
    assert!(matches!(&m.interfaces[1], Interface::V6 { name, linkspeed: None, .. } if name == "x"));
    assert_eq!(m.users[0].homedir, "/home/bob");
    assert_eq!(
        m.groups,
        vec![Group {
            gid: 100,
            name: "users".into()
        }]
    );
    let (tid, fds) = &m.orphan_fds[0];
    assert_eq!(*tid, 7);
    assert_eq!(fds[0].kind.name(), "unknown-type:[99]");
    check(&b).expect("check");
}

/// Process-list entries of versions 1–4 (and 8), field by field.
#[test]
fn old_process_list_versions() {
    for (ty, v) in [
        (block::PL_V1, 1u8),
        (block::PL_V2_INT, 2),
        (block::PL_V3, 3),
        (block::PL_V4, 4),
        (block::PL_V8, 8),
    ] {
        let mut e = Vec::new();
        let s16 = |e: &mut Vec<u8>, s: &[u8]| {
            e.extend_from_slice(&(s.len() as u16).to_le_bytes());
            e.extend_from_slice(s);
        };
        for id in [5u64, 5, 1] {
            e.extend_from_slice(&id.to_le_bytes());
        }
        if v >= 6 {
            e.extend_from_slice(&9u64.to_le_bytes()); // sid
        }
        if v >= 8 {
            e.extend_from_slice(&6u64.to_le_bytes()); // vpgid
        }
        s16(&mut e, b"bash");
        s16(&mut e, b"/bin/bash");
        if v >= 7 {
            s16(&mut e, b"/usr/bin/bash");
        }
        s16(&mut e, b"-l\0");
        s16(&mut e, b"/root");
        e.extend_from_slice(&1024u64.to_le_bytes());
        e.extend_from_slice(&0u32.to_le_bytes()); // flags
        e.extend_from_slice(&1000u32.to_le_bytes()); // uid
        e.extend_from_slice(&1001u32.to_le_bytes()); // gid
        if v >= 2 {
            for x in [10u32, 11, 12] {
                e.extend_from_slice(&x.to_le_bytes());
            }
            e.extend_from_slice(&13u64.to_le_bytes());
            e.extend_from_slice(&14u64.to_le_bytes());
        }
        if v >= 3 {
            s16(&mut e, b"A=1\0B=2\0");
        }
        if v >= 4 {
            e.extend_from_slice(&15i64.to_le_bytes());
            e.extend_from_slice(&16i64.to_le_bytes());
            s16(&mut e, b"cpu=/\0");
        }
        if v >= 5 {
            s16(&mut e, b"/");
        }
        let b = file_with(&[raw_block(ty, &e)]);
        let c = read_all(&b);
        assert!(c.error.is_none(), "v{v}: {:?}", c.error);
        let t = &c.metadata.threads[0];
        assert_eq!(
            (t.tid, t.comm.as_str(), t.cwd.as_str(), t.uid, t.gid),
            (5, "bash", "/root", 1000, 1001),
            "v{v}"
        );
        assert_eq!(t.args.strings(), ["-l"], "v{v}");
        assert_eq!(t.vmrss_kb, if v >= 2 { 11 } else { 0 }, "v{v}");
        assert_eq!(t.env.strings().len(), if v >= 3 { 2 } else { 0 }, "v{v}");
        assert_eq!(t.vpid, if v >= 4 { 16 } else { 0 }, "v{v}");
        assert_eq!(t.sid, if v >= 6 { 9 } else { 0 }, "v{v}");
        assert_eq!(t.exepath, if v >= 7 { "/usr/bin/bash" } else { "" }, "v{v}");
        assert_eq!(t.vpgid, if v >= 8 { 6 } else { 0 }, "v{v}");
        assert_eq!(t.loginuid, u32::MAX, "v{v}: default");
        check(&b).unwrap_or_else(|e| panic!("v{v}: {e}"));
    }
}
