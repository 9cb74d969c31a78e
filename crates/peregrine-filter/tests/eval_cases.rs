//! Evaluation cases from falcosecurity/libs `userspace/libsinsp/test/`: boolean structure
//! (`filter_compiler.ut.cpp`, `boolean_evaluation`), operator and transformer semantics on
//! synthetic events (`filter_op_*.ut.cpp`, `filter_transformer.ut.cpp`), plus modifiers,
//! networks, multi-valued and missing fields.

use peregrine_filter::compile::{compile, Scratch};
use peregrine_filter::parser::parse;
use peregrine_testkit::synthetic::{SynthValue, SyntheticEvent};

fn eval(ev: &mut SyntheticEvent, text: &str) -> bool {
    let ast = parse(text).unwrap_or_else(|e| panic!("{text:?}: parse: {}", e.message));
    let c = compile(&ast).unwrap_or_else(|e| panic!("{text:?}: compile: {}", e.message));
    let mut scratch = Scratch::new();
    c.filter.eval(ev, &mut scratch)
}

fn check(ev: &mut SyntheticEvent, cases: &[(&str, bool)]) {
    for (text, want) in cases {
        assert_eq!(eval(ev, text), *want, "{text:?}");
    }
}

/// §5.2: `c.true=1` is always true and `c.false=1` always false; here they are fields of a
/// synthetic event that equal 1 and 2.
#[test]
fn boolean_structure() {
    let cases: &[(&str, bool)] = &[
        ("c.true=1", true),
        ("c.false=1", false),
        ("not c.true=1", false),
        ("not(c.true=1)", false),
        ("not not c.true=1", true),
        ("not not(c.true=1)", true),
        ("not (not c.true=1)", true),
        ("not not not c.true=1", false),
        ("not not not(c.true=1)", false),
        ("not (not (not c.true=1))", false),
        ("not(not(not c.true=1))", false),
        ("not not not not c.true=1", true),
        ("not not(not not c.true=1)", true),
        ("c.true=1 and c.true=1", true),
        ("c.true=1 and c.false=1", false),
        ("c.false=1 and c.true=1", false),
        ("c.false=1 and c.false=1", false),
        ("c.true=1 and not c.true=1", false),
        ("not c.true=1 and c.true=1", false),
        ("c.true=1 or c.true=1", true),
        ("c.true=1 or c.false=1", true),
        ("c.false=1 or c.true=1", true),
        ("c.false=1 or c.false=1", false),
        ("c.false=1 or not c.false=1", true),
        ("not c.false=1 or c.false=1", true),
        ("c.true=1 or c.true=1 and c.false=1", true),
        ("(c.true=1 or c.true=1) and c.false=1", false),
        ("not (not (c.true=1 or c.true=1) and c.false=1)", true),
        ("not (c.false=1 or c.false=1 or c.true=1)", false),
        ("not (c.false=1 or c.false=1 and not c.true=1)", true),
        ("not (c.false=1 or not c.false=1 and c.true=1)", false),
        (
            "not ((c.false=1 or not (c.false=1 and not c.true=1)) and c.true=1)",
            false,
        ),
    ];
    let mut ev = SyntheticEvent::new("openat")
        .with("proc.pid", 1i64)
        .with("proc.ppid", 2i64);
    for (text, want) in cases {
        let text = text
            .replace("c.true", "proc.pid")
            .replace("c.false", "proc.ppid");
        assert_eq!(eval(&mut ev, &text), *want, "{text:?}");
    }
    assert_eq!(cases.len(), 32);
}

#[test]
fn contains_icontains() {
    let mut ev = SyntheticEvent::new("open")
        .with("fd.num", 1i64)
        .with("fd.name", "/opt/dir/SUBDIR/file.txt")
        .with("evt.arg.flags", "O_RDWR|O_CREAT");
    check(
        &mut ev,
        &[
            ("evt.arg.flags contains O_CREAT", true),
            ("evt.arg.flags contains O_TMPFILE", false),
            ("evt.arg.flags icontains O_CREAT", true),
            ("evt.arg.flags icontains o_creat", true),
            ("fd.name contains /dir", true),
            ("fd.name icontains /subdir", true),
            ("fd.name icontains notthis", false),
        ],
    );
}

#[test]
fn pmatch() {
    let mut ev = SyntheticEvent::new("open").with("fd.name", "/opt/dir/subdir/file.txt");
    check(
        &mut ev,
        &[
            ("fd.name pmatch (/opt/dir)", true),
            ("fd.name pmatch (/opt/dir/subdir)", true),
            ("fd.name pmatch (/opt/dir2)", false),
            ("fd.name pmatch (/opt/dir, /opt/dir2)", true),
            ("fd.name pmatch (/opt/dir3, /opt/dir2)", false),
            ("fd.name pmatch (/opt/*)", true),
            ("fd.name pmatch (/opt/*/subdir)", true),
            ("fd.name pmatch (/opt/di?/subdir)", true),
            ("fd.name pmatch (/opt/dii?/subdir)", false),
            ("fd.name pmatch (/opt/di[r]/subdir)", true),
            ("fd.name pmatch (/opt/di[!r]/subdir)", false),
            ("fd.name pmatch (/opt/di[t]/subdir)", false),
            ("fd.name pmatch (/opt/di/subdir)", false),
            ("fd.name pmatch (/opt/*/subdir2)", false),
            ("fd.name pmatch (/opt/*/*)", true),
            ("fd.name pmatch (/opt/*/*/subsubdir)", false),
            ("fd.name pmatch (/opt/dir/subdir/file.txt)", true),
            ("fd.name pmatch (/opt/dir/)", true),
            ("fd.name pmatch ()", false),
        ],
    );
}

#[test]
fn numeric_compare() {
    let mut ev = SyntheticEvent::new("epoll_create")
        .with("evt.cpu", 1i64)
        .with("evt.rawarg.res", -22i64);
    check(
        &mut ev,
        &[
            ("evt.cpu < 300", true),
            ("evt.cpu > 300", false),
            ("evt.cpu < 2", true),
            ("evt.cpu > -500", true),
            ("evt.cpu <= 1025", true),
            ("evt.cpu >= 1025", false),
            ("evt.rawarg.res > 0", false),
            ("evt.rawarg.res < 0", true),
            ("evt.rawarg.res > 4294967295", false),
            ("evt.rawarg.res < -1", true),
            ("evt.rawarg.res > -65535", true),
            ("evt.cpu in (0, 1)", true),
            ("evt.cpu in (0, 2)", false),
            ("evt.cpu = 0x1", true),
        ],
    );
    let mut ev = SyntheticEvent::new("open")
        .with("fd.num", -1i64)
        .with("fd.name", "/tmp/the_file");
    check(
        &mut ev,
        &[
            ("fd.num >= 0", false),
            ("fd.num > 0", false),
            ("fd.num < 0", true),
            ("fd.num > 4294967295", false),
            ("fd.num < -1", false),
            ("fd.num > -65535", true),
            ("fd.num = -1", true),
        ],
    );
}

#[test]
fn bytebuf() {
    let mut ev = SyntheticEvent::new("read").with("evt.buffer", b"hello".as_slice());
    check(
        &mut ev,
        &[
            ("evt.buffer bcontains 68656c6c6f", true),
            ("evt.buffer bcontains 656c6C", true),
            ("evt.buffer bcontains 20", false),
            ("evt.buffer bcontains 656c6cAA", false),
            ("evt.buffer bstartswith 68", true),
            ("evt.buffer bstartswith 68656c6c6f", true),
            ("evt.buffer bstartswith 65", false),
            ("evt.buffer bstartswith 656c6C", false),
            ("evt.buffer contains ell", true),
            ("evt.buffer = hello", true),
        ],
    );
    let mut ev = SyntheticEvent::new("read").with("evt.buffer", b"a\0b".as_slice());
    check(
        &mut ev,
        &[
            ("evt.buffer = \"a\\x00b\"", true),
            ("evt.buffer = \"ab\"", false),
            ("evt.buffer bcontains 610062", true),
            ("evt.buffer bcontains 610162", false),
            ("evt.buffer bstartswith 6100", true),
        ],
    );
}

#[test]
fn rhs_fields_and_regex() {
    let mut ev = SyntheticEvent::new("getcwd")
        .with("evt.args", "res=-2")
        .with("syscall.type", "getcwd")
        .with("evt.source", "syscall");
    check(
        &mut ev,
        &[
            ("(evt.type = getcwd)", true),
            ("(evt.args = evt.args)", false),
            ("(evt.args = val(evt.args))", true),
            ("(evt.args != val(evt.args))", false),
            ("tolower(syscall.type) = getcwd", true),
            ("toupper(syscall.type) = GETCWD", true),
            ("tolower(toupper(syscall.type)) = getcwd", true),
            ("syscall.type = val(evt.type)", true),
            ("evt.source regex '^[s]{1}ysca[l]{2}$'", true),
            ("evt.source regex 'yscal.*'", false),
            ("evt.source regex 'syscal.*'", true),
            ("toupper(evt.source) regex '^[A-Z]+$'", true),
            ("evt.source in val(evt.source)", true),
            ("evt.source in val(syscall.type)", false),
        ],
    );
}

#[test]
fn transformers() {
    let mut ev = SyntheticEvent::new("open")
        .with("fd.name", "/tmp/file_to_run")
        .with("fd.directory", "/tmp")
        .with("proc.name", "cat")
        .with("proc.args", "-n -t mnt /bin/sh");
    check(
        &mut ev,
        &[
            ("basename(fd.name) = file_to_run", true),
            ("basename(fd.name) = /tmp/file_to_run", false),
            ("len(fd.name) = 16", true),
            ("len(fd.name) > 16", false),
            (
                "join(\"-\", (fd.name,fd.directory)) = /tmp/file_to_run-/tmp",
                true,
            ),
            ("join(\"-\", (\"aaa\",\"bbb\")) = aaa-bbb", true),
            ("join(\",\", ()) = \"\"", true),
            (
                "join(\",\", (proc.name, \"x\", fd.directory)) = \"cat,x,/tmp\"",
                true,
            ),
            (
                "concat(proc.name, \":\", fd.name) = \"cat:/tmp/file_to_run\"",
                true,
            ),
            ("concat(proc.name, proc.exe) = cat", false),
            ("b64(proc.args) exists", false),
            ("getopt(proc.args, \"nt:\")[t] = mnt", true),
            ("getopt(proc.args, \"nt:\")[n] = \"\"", true),
            ("getopt(proc.args, \"nt:x\")[x] exists", false),
            ("toupper(proc.name) = CAT", true),
            ("proc.name = tolower(toupper(proc.name))", true),
        ],
    );
    let mut ev = SyntheticEvent::new("open").with("proc.name", "Y2F0");
    check(&mut ev, &[("b64(proc.name) = cat", true)]);
}

#[test]
fn string_operators_and_modifiers() {
    let mut ev = SyntheticEvent::new("execve")
        .with("proc.name", "sshd")
        .with("proc.cmdline", "sshd -D curl bash")
        .with("fd.name", "/proc/12/environ");
    check(
        &mut ev,
        &[
            ("proc.name startswith ss", true),
            ("proc.name endswith hd", true),
            ("proc.name endswith sh", false),
            ("proc.name glob 's*d'", true),
            ("proc.name glob sshd", true),
            ("proc.name glob ssh", false),
            ("proc.name iglob SSHD", true),
            ("proc.name glob 'S*D'", false),
            ("proc.name iglob 'S*D'", true),
            ("fd.name glob /proc/*/environ", true),
            ("proc.name in (bash, sshd)", true),
            ("proc.name in (bash, ssh)", false),
            ("proc.name intersects (sshd)", true),
            ("proc.name startswith oneof (ss, ssh)", false),
            ("proc.name startswith oneof (ss, x)", true),
            ("proc.name startswith anyof (ss, ssh)", true),
            ("proc.name startswith anyof (x, y)", false),
            ("proc.name startswith allof (ss, ssh)", true),
            ("proc.name startswith allof (ss, x)", false),
            ("proc.name = oneof (nmap, sshd)", true),
            ("proc.name == anyof (nmap, masscan)", false),
            ("proc.name != allof (nmap, masscan)", true),
            ("proc.name != allof (nmap, sshd)", false),
            ("proc.cmdline contains allof (curl, bash)", true),
            ("proc.cmdline contains allof (curl, wget)", false),
            ("proc.cmdline contains anyof (wget, bash)", true),
            ("proc.cmdline icontains anyof (WGET, BASH)", true),
            ("proc.cmdline icontains anyof (WGET, ZSH)", false),
            ("proc.name regex oneof ('s.*', 'x')", true),
            ("proc.name exists", true),
        ],
    );
}

#[test]
fn networks() {
    let mut ev = SyntheticEvent::new("connect")
        .with("fd.ip", "10.1.2.3")
        .with("fd.net", "10.1.2.3")
        .with("fd.snet", "10.1.2.3")
        .with("fd.port", 443u16);
    check(
        &mut ev,
        &[
            ("fd.ip = 10.1.2.3", true),
            ("fd.ip != 10.1.2.3", false),
            ("fd.ip = 10.1.2.4", false),
            ("fd.ip in (10.1.2.4, 10.1.2.3)", true),
            ("fd.ip == anyof (10.1.2.4, 10.1.2.3)", true),
            ("fd.ip = \"::1\"", false),
            ("fd.net = \"10.0.0.0/8\"", true),
            ("fd.net != \"127.0.0.0/8\"", true),
            ("fd.net = \"127.0.0.0/8\"", false),
            (
                "fd.snet in (\"192.168.0.0/16\", \"172.16.0.0/12\", \"10.0.0.0/8\")",
                true,
            ),
            ("fd.snet in (\"192.168.0.0/16\", \"172.16.0.0/12\")", false),
            ("fd.port = 443", true),
            ("fd.port in (80, 443)", true),
            ("fd.port > 1024", false),
        ],
    );
    // fd.ip, fd.net and fd.port cover both ends of a connection: `=` matches either end,
    // `!=` needs both ends to differ.
    let mut ev = SyntheticEvent::new("connect")
        .with(
            "fd.ip",
            vec![
                SynthValue::Ip("10.0.0.1".parse().unwrap()),
                SynthValue::Ip("127.0.0.1".parse().unwrap()),
            ],
        )
        .with(
            "proc.aname",
            vec![SynthValue::from("bash"), SynthValue::from("sshd")],
        );
    check(
        &mut ev,
        &[
            ("fd.ip = 127.0.0.1", true),
            ("fd.ip = 10.0.0.1", true),
            ("fd.ip != 127.0.0.1", false),
            ("fd.ip != 10.9.9.9", true),
            // proc.aname compares ancestor by ancestor, `!=` included.
            ("proc.aname != bash", true),
        ],
    );
}

#[test]
fn multi_valued_and_missing() {
    let mut ev = SyntheticEvent::new("execve")
        .with("proc.aname", vec!["bash", "sshd", "systemd"])
        .with("proc.aname[1]", "bash")
        .with("fd.types", vec!["file", "ipv4"]);
    check(
        &mut ev,
        &[
            // Without an argument, proc.aname matches if any ancestor matches.
            ("proc.aname = sshd", true),
            ("proc.aname = nginx", false),
            ("proc.aname in (nginx, systemd)", true),
            ("proc.aname startswith ssh", true),
            ("proc.aname[1] = bash", true),
            ("proc.aname[1] = sshd", false),
            // List fields: `in` needs every value in the set, `intersects` one.
            ("fd.types in (file, ipv4, unix)", true),
            ("fd.types in (file, unix)", false),
            ("fd.types intersects (unix, ipv4)", true),
            ("fd.types intersects (unix)", false),
            // A field without a value: every comparison is false, `!=` included.
            ("proc.name = cat", false),
            ("proc.name != cat", false),
            ("not proc.name = cat", true),
            ("proc.name exists", false),
            ("proc.name in (cat)", false),
            ("tolower(proc.name) = cat", false),
            ("len(proc.name) = 0", false),
            ("evt.type = execve", true),
            ("evt.type != execve", false),
            ("evt.type in (open, execve)", true),
            ("evt.type = nosuchcall", false),
        ],
    );
}
