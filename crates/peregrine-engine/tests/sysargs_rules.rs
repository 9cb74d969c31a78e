//! Custom rules on syscalls whose records used to be Falco's generic event: their arguments
//! (signal, prot flags, the fd a write goes to, a chroot path) now reach conditions and outputs.
//! Records are built with the kernel layout, exactly as the capture sends them.

mod common;

use peregrine_engine::Match;
use peregrine_event::builder::RecordBuilder;

const RULES: &str = r#"
- rule: kill9
  desc: d
  condition: evt.type = kill and evt.rawarg.sig = 9
  output: kill %evt.arg.pid sig=%evt.arg.sig
  priority: INFO
- rule: exec_mapping
  desc: d
  condition: evt.type = mprotect and evt.arg.prot contains PROT_EXEC
  output: mprotect prot=%evt.arg.prot len=%evt.arg.length
  priority: INFO
- rule: etc_write
  desc: d
  condition: evt.type = write and fd.name startswith /etc
  output: write to %fd.name fd=%evt.arg.fd size=%evt.arg.size data=%evt.arg.data
  priority: INFO
- rule: chroot
  desc: d
  condition: evt.type = chroot and evt.res = SUCCESS
  output: chroot to %evt.arg.path
  priority: INFO
- rule: anon_exec_mmap
  desc: d
  condition: evt.type = mmap and evt.arg.flags contains MAP_ANONYMOUS and evt.arg.prot contains PROT_EXEC
  output: mmap flags=%evt.arg.flags
  priority: INFO
- rule: setuid_bit
  desc: as falco-incubating's "Set Setuid or Setgid bit"
  condition: evt.type = chmod and (evt.arg.mode contains "S_ISUID" or evt.arg.mode contains "S_ISGID")
  output: chmod %evt.arg.filename mode=%evt.arg.mode
  priority: INFO
"#;

type Args<'a> = &'a [(&'a str, i64)];

fn rec(ts: u64, name: &str, ints: Args<'_>, strs: &[(&str, &str)]) -> Vec<u8> {
    let mut b = RecordBuilder::syscall(name)
        .map(|b| b.ts(ts).thread(4242, 4242))
        .expect("builder");
    for (k, v) in ints {
        b = b.arg(k, *v).expect("int arg");
    }
    for (k, v) in strs {
        b = b.arg(k, *v).expect("str arg");
    }
    b.build()
}

#[test]
fn rules_see_the_new_parameters() {
    let mut pipe = common::offline_pipeline(RULES);
    let data = RecordBuilder::syscall("write")
        .and_then(|b| b.ts(5).thread(4242, 4242).arg("res", 4i64))
        .and_then(|b| b.arg("data", "root"))
        .and_then(|b| b.arg("fd", 7i64))
        .and_then(|b| b.arg("size", 4u32))
        .expect("write")
        .build();
    let records = vec![
        rec(1, "kill", &[("res", 0), ("pid", 99), ("sig", 9)], &[]),
        rec(2, "kill", &[("res", 0), ("pid", 98), ("sig", 15)], &[]),
        // PROT_READ|PROT_EXEC, then PROT_READ|PROT_WRITE (no match).
        rec(
            3,
            "mprotect",
            &[("res", 0), ("addr", 4096), ("length", 8192), ("prot", 5)],
            &[],
        ),
        rec(
            3,
            "mprotect",
            &[("res", 0), ("addr", 4096), ("length", 8192), ("prot", 3)],
            &[],
        ),
        rec(
            4,
            "openat",
            &[("fd", 7), ("dirfd", -100), ("flags", 1)],
            &[("name", "/etc/passwd")],
        ),
        data,
        rec(6, "chroot", &[("res", 0)], &[("path", "/srv/jail")]),
        // MAP_PRIVATE|MAP_ANONYMOUS with PROT_READ|PROT_WRITE|PROT_EXEC.
        rec(7, "mmap", &[("prot", 7), ("flags", 0x22), ("fd", -1)], &[]),
        rec(
            8,
            "chmod",
            &[("res", 0), ("mode", 0o4755)],
            &[("filename", "/tmp/s")],
        ),
        rec(
            9,
            "chmod",
            &[("res", 0), ("mode", 0o644)],
            &[("filename", "/tmp/p")],
        ),
    ];
    let mut got = Vec::new();
    let mut sink = |m: &Match<'_>| got.push(format!("{}: {}", m.rule.name, m.output));
    for r in &records {
        pipe.process_record(r, 0, &mut sink);
    }
    assert_eq!(
        got,
        [
            // evt.arg gives libsinsp's resolved form (names), evt.rawarg the number.
            "kill9: kill 99 sig=SIGKILL",
            "exec_mapping: mprotect prot=PROT_READ|PROT_EXEC len=8192",
            "etc_write: write to /etc/passwd fd=<f>/etc/passwd size=4 data=root",
            "chroot: chroot to /srv/jail",
            "anon_exec_mmap: mmap flags=MAP_PRIVATE|MAP_ANONYMOUS",
            "setuid_bit: chmod /tmp/s mode=S_IXOTH|S_IROTH|S_IXGRP|S_IRGRP|S_IXUSR|S_IWUSR|S_IRUSR|S_ISUID",
        ]
    );
}
