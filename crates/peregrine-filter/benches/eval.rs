//! Compiled evaluation against the naive AST walker, on conditions shaped like Falco's stable
//! rules after list and macro substitution, over a mix of synthetic events.
//!
//! Every event is evaluated against every condition (no event-type index), so the number per
//! event is the cost of a full rule set pass; the ratio between the two benchmarks is what
//! compiling buys.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use peregrine_filter::compile::{compile, Filter, Scratch};
use peregrine_filter::{ast::Expr, parser};
use peregrine_testkit::naive;
use peregrine_testkit::synthetic::{SynthValue, SyntheticEvent};
use std::hint::black_box;

const SHELLS: &str = "ash, bash, csh, ksh, sh, tcsh, zsh, dash";
const SENSITIVE: &str = "/etc/shadow, /etc/sudoers, /etc/pam.conf, /etc/security/pwquality.conf";
const TRUSTED_READERS: &str = "iptables, ps, lsb_release, check-new-relea, dumpe2fs, \
    accounts-daemon, sshd, vsftpd, systemd, mysql_install_d, psql, screen, debconf-show, \
    sa-update, pam-auth-update, pam-config, spamd, polkit-agent-he, lsattr, file, sosreport, \
    scxcimservera, adclient, rtvscand, cockpit-session, userhelper, ossec-syscheckd";
const BIN_DIRS: &str = "/bin, /sbin, /usr/bin, /usr/sbin, /usr/local/bin, /usr/local/sbin";

/// Conditions written in the shape of the stable rules (lists already substituted).
fn conditions() -> Vec<String> {
    vec![
        format!(
            "evt.type in (execve, execveat) and proc.name in ({SHELLS}) and proc.tty != 0 \
             and container.id != host"
        ),
        format!(
            "evt.type in (open, openat, openat2) and evt.is_open_read=true and fd.typechar='f' \
             and fd.num>=0 and fd.name in ({SENSITIVE}) and not proc.name in ({TRUSTED_READERS})"
        ),
        "evt.type = connect and fd.typechar = 4 and fd.ip != \"0.0.0.0\" \
         and fd.net != \"127.0.0.0/8\" \
         and not fd.snet in (\"10.0.0.0/8\", \"172.16.0.0/12\", \"192.168.0.0/16\") \
         and evt.rawres >= 0"
            .to_string(),
        "evt.type in (execve, execveat) and ((proc.name = find and (proc.args contains id_rsa \
         or proc.args contains id_dsa)) or (proc.name = grep and proc.args contains \
         \"BEGIN PRIVATE\"))"
            .to_string(),
        format!(
            "evt.type in (open, openat, openat2) and evt.is_open_write=true \
             and fd.name pmatch ({BIN_DIRS}) and not proc.aname in (dpkg, rpm, yum, apt)"
        ),
        "evt.type = execve and proc.cmdline contains anyof (wget, curl, \" nc \", ncat, socat)"
            .to_string(),
        "evt.type = openat and fd.name glob '/proc/*/environ' and not proc.name in (ps, top)"
            .to_string(),
        "evt.type in (openat, open) and fd.name startswith /etc/ and user.name != root \
         and not proc.name endswith d"
            .to_string(),
    ]
}

fn events() -> Vec<SyntheticEvent> {
    let ip = |s: &str| SynthValue::Ip(s.parse().expect("literal address"));
    vec![
        SyntheticEvent::new("openat")
            .with("proc.name", "cat")
            .with("proc.aname", vec!["bash", "sshd", "systemd"])
            .with("fd.name", "/etc/shadow")
            .with("fd.typechar", "f")
            .with("fd.num", 3i64)
            .with("evt.is_open_read", true)
            .with("evt.is_open_write", false)
            .with("user.name", "alice")
            .with("container.id", "host"),
        SyntheticEvent::new("execve")
            .with("proc.name", "bash")
            .with("proc.args", "-c ls")
            .with("proc.cmdline", "bash -c ls")
            .with("proc.tty", 34816u32)
            .with("container.id", "0123456789ab"),
        SyntheticEvent::new("connect")
            .with("proc.name", "curl")
            .with("fd.typechar", "4")
            .with("fd.ip", vec![ip("10.0.0.5"), ip("93.184.216.34")])
            .with("fd.net", vec![ip("10.0.0.5"), ip("93.184.216.34")])
            .with("fd.snet", ip("93.184.216.34"))
            .with("evt.rawres", 0i64),
        SyntheticEvent::new("openat")
            .with("proc.name", "cp")
            .with("proc.aname", vec!["bash", "sshd"])
            .with("fd.name", "/usr/bin/evil")
            .with("fd.typechar", "f")
            .with("fd.num", 4i64)
            .with("evt.is_open_read", false)
            .with("evt.is_open_write", true)
            .with("user.name", "root"),
        SyntheticEvent::new("read")
            .with("proc.name", "nginx")
            .with("fd.name", "/var/log/nginx/access.log")
            .with("fd.num", 5i64),
        SyntheticEvent::new("execve")
            .with("proc.name", "find")
            .with("proc.args", "/ -name id_rsa")
            .with("proc.cmdline", "find / -name id_rsa")
            .with("proc.tty", 0u32)
            .with("container.id", "host"),
    ]
}

fn bench(c: &mut Criterion) {
    let asts: Vec<Expr> = conditions()
        .iter()
        .map(|t| parser::parse(t).expect("bench condition parses"))
        .collect();
    let filters: Vec<Filter> = asts
        .iter()
        .map(|a| compile(a).expect("bench condition compiles").filter)
        .collect();
    let mut evs = events();
    let mut scratch = Scratch::new();

    // Both evaluators must agree on every (event, condition) before their speed is compared.
    for ev in evs.iter_mut() {
        for (a, f) in asts.iter().zip(&filters) {
            assert_eq!(f.eval(ev, &mut scratch), naive::eval(a, ev));
        }
    }

    let mut g = c.benchmark_group("eval");
    g.throughput(Throughput::Elements(evs.len() as u64));
    g.bench_function("compiled", |b| {
        b.iter(|| {
            let mut n = 0u32;
            for ev in evs.iter_mut() {
                for f in &filters {
                    n += f.eval(ev, &mut scratch) as u32;
                }
            }
            black_box(n)
        })
    });
    g.bench_function("naive", |b| {
        b.iter(|| {
            let mut n = 0u32;
            for ev in evs.iter_mut() {
                for a in &asts {
                    n += naive::eval(a, ev) as u32;
                }
            }
            black_box(n)
        })
    });
    g.finish();
}

/// Long lists, where the set/trie/automaton strategies matter most: 500 names, 200
/// directories, 100 substrings, against events that miss (the common case).
fn bench_lists(c: &mut Criterion) {
    let names: Vec<String> = (0..500).map(|i| format!("proc{i}")).collect();
    let dirs: Vec<String> = (0..200).map(|i| format!("/opt/app{i}")).collect();
    let needles: Vec<String> = (0..100).map(|i| format!("--flag{i}")).collect();
    let texts = [
        format!("proc.name in ({})", names.join(", ")),
        format!("fd.name pmatch ({})", dirs.join(", ")),
        format!("proc.cmdline contains anyof ({})", needles.join(", ")),
    ];
    let mut ev = SyntheticEvent::new("openat")
        .with("proc.name", "nginx")
        .with("fd.name", "/var/lib/nginx/cache/entry")
        .with("proc.cmdline", "nginx -g daemon off; --worker 4");
    let mut scratch = Scratch::new();
    let mut g = c.benchmark_group("lists");
    for (label, text) in ["in_500", "pmatch_200", "contains_anyof_100"]
        .iter()
        .zip(&texts)
    {
        let ast = parser::parse(text).expect("bench list condition parses");
        let filter = compile(&ast).expect("bench list condition compiles").filter;
        g.bench_function(format!("{label}/compiled"), |b| {
            b.iter(|| black_box(filter.eval(&mut ev, &mut scratch)))
        });
        g.bench_function(format!("{label}/naive"), |b| {
            b.iter(|| black_box(naive::eval(&ast, &mut ev)))
        });
    }
    g.finish();
}

criterion_group!(benches, bench, bench_lists);
criterion_main!(benches);
