//! Builds the kernel side and the Rust mirror of its record layout.
//!
//! 1. `vmlinux.h` is generated from the running kernel's BTF (`bpftool btf dump … format c`)
//!    into OUT_DIR, not committed: it is 2.8 MB, generation takes well under a second and has
//!    been reliable here. `PEREGRINE_VMLINUX_H` points at a pre-generated file instead (for
//!    build hosts without /sys/kernel/btf/vmlinux). CO-RE relocations make the object portable
//!    across kernels regardless of which kernel's header it was compiled against.
//! 2. `pg_syscalls.h` is generated into OUT_DIR from peregrine-event, the single source of
//!    truth for syscalls (see [`syscall_header`]), after checking that the kernel program
//!    writes exactly the syscalls whose schema is dedicated ([`check_writers`]).
//! 3. clang compiles `bpf/peregrine.bpf.c` (`-target bpf -g -O2`), which includes the rest of
//!    `bpf/`; the object is embedded in the crate with `include_bytes!`.
//! 4. bindgen turns `bpf/include/peregrine_record.h` into Rust; `src/layout.rs` asserts at
//!    compile time that peregrine-event's decoder constants match it.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let bpf_dir = manifest.join("../../bpf");
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("set by cargo"));
    println!("cargo:rerun-if-changed={}", bpf_dir.display());
    println!("cargo:rerun-if-env-changed=PEREGRINE_VMLINUX_H");
    println!("cargo:rerun-if-env-changed=CLANG");

    let vmlinux = out.join("vmlinux.h");
    match env::var_os("PEREGRINE_VMLINUX_H") {
        Some(p) => {
            std::fs::copy(&p, &vmlinux).unwrap_or_else(|e| {
                panic!(
                    "copying PEREGRINE_VMLINUX_H={}: {e}",
                    Path::new(&p).display()
                )
            });
        }
        None => generate_vmlinux(&vmlinux),
    }

    let sources = c_sources(&bpf_dir);
    let labels = writer_labels(&sources);
    if let Err(problems) = check_writers(&labels) {
        // A plain message and exit code rather than a panic: this is a finding, not a bug.
        eprintln!(
            "error: bpf/ and peregrine-event's schemas disagree on the syscalls with a \
             dedicated record:"
        );
        for p in problems {
            eprintln!("  - {p}");
        }
        std::process::exit(1);
    }
    std::fs::write(out.join("pg_syscalls.h"), syscall_header(&labels))
        .expect("writing pg_syscalls.h");

    let obj = out.join("peregrine.bpf.o");
    let clang = env::var("CLANG").unwrap_or_else(|_| "clang".to_string());
    let status = Command::new(&clang)
        .args([
            "-target",
            "bpf",
            "-g",
            "-O2",
            "-Wall",
            "-Werror",
            "-D__TARGET_ARCH_x86",
        ])
        .arg("-I")
        .arg(&out)
        .arg("-I")
        .arg(bpf_dir.join("include"))
        .arg("-c")
        .arg(bpf_dir.join("peregrine.bpf.c"))
        .arg("-o")
        .arg(&obj)
        .status()
        .unwrap_or_else(|e| panic!("running {clang} (Debian package: clang): {e}"));
    assert!(
        status.success(),
        "clang failed to compile bpf/peregrine.bpf.c"
    );

    let bindings = bindgen::Builder::default()
        .header(bpf_dir.join("include/peregrine_record.h").to_string_lossy())
        .allowlist_type("pg_.*")
        .allowlist_var("PG_.*")
        .derive_default(true)
        .layout_tests(false)
        .generate()
        .expect("bindgen over bpf/include/peregrine_record.h (Debian package: libclang-dev)");
    bindings
        .write_to_file(out.join("record_layout.rs"))
        .expect("writing record_layout.rs");
}

fn generate_vmlinux(dest: &Path) {
    let output = Command::new("bpftool")
        .args([
            "btf",
            "dump",
            "file",
            "/sys/kernel/btf/vmlinux",
            "format",
            "c",
        ])
        .output()
        .unwrap_or_else(|e| {
            panic!("running bpftool (Debian package: bpftool), or set PEREGRINE_VMLINUX_H: {e}")
        });
    assert!(
        output.status.success(),
        "bpftool btf dump failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    std::fs::write(dest, &output.stdout).expect("writing vmlinux.h");
}

/// `PG_SYS_<NAME>` of a syscall number: the C spelling of `peregrine_event::nr::<NAME>`.
fn c_name(nr: u16) -> String {
    let name = peregrine_event::EventType::from_syscall_nr(u32::from(nr))
        .map_or_else(|| format!("NR{nr}"), |t| t.name().to_ascii_uppercase());
    format!("PG_SYS_{name}")
}

/// The file whose writer labels are the variable-length records (emit_syscall's switch).
const VARIABLE_WRITERS: &str = "syscall/variable.h";

/// One writer label found in bpf/: the `PG_SYS_` name and the file (relative to bpf/).
struct Label {
    name: String,
    file: String,
}

/// `pg_syscalls.h`: the C names of the syscalls, and the case labels emit_scalar hands on.
///
/// Only syscalls with a dedicated schema get a name (`enum pg_sys`), and the writers switch
/// on `(enum pg_sys)nr`: a writer for a syscall without a schema does not compile (unknown
/// name, or clang's -Wswitch "case value not in enumerated type" under -Werror for a raw
/// number). `PG_CASES_VARIABLE` is the list of labels found in syscall/variable.h, so the
/// fixed-size dispatcher's "not mine" list is derived, not kept by hand; a syscall given both
/// a fixed and a variable writer is a duplicate case label there, which clang rejects.
fn syscall_header(labels: &[Label]) -> String {
    let mut h = String::from(
        "/* Generated by crates/peregrine-capture/build.rs from peregrine-event's syscall \
         table and schemas. Do not edit. */\n#ifndef PG_SYSCALLS_H\n#define PG_SYSCALLS_H\n\n\
         /* The syscalls with a dedicated schema (peregrine_event::schema::DEDICATED), by \
         their x86-64 numbers. */\nenum pg_sys {\n",
    );
    for &nr in peregrine_event::schema::DEDICATED {
        h.push_str(&format!("\t{} = {nr},\n", c_name(nr)));
    }
    h.push_str("};\n\n/* The labels of the variable-length writers (");
    h.push_str(VARIABLE_WRITERS);
    h.push_str("). */\n#define PG_CASES_VARIABLE");
    for l in labels.iter().filter(|l| l.file == VARIABLE_WRITERS) {
        h.push_str(&format!(" \\\n\tcase {}:", l.name));
    }
    h.push_str("\n\n");
    h.push_str(&returns_fd());
    h.push_str("#endif\n");
    h
}

/// `PG_CASES_RETURNS_FD`: the syscalls whose result is a new fd (their schema's first
/// parameter is `PT_FD`), whose sent record makes the kernel forget a shed open's mark on that
/// fd number (bpf/README.md, "Shedding").
fn returns_fd() -> String {
    use peregrine_event::schema::{schema_for, ParamType};
    let mut h = String::from(
        "/* The syscalls whose result is an fd (first parameter PT_FD in the schema). */\n\
         #define PG_CASES_RETURNS_FD",
    );
    for &nr in peregrine_event::schema::DEDICATED {
        let fd = schema_for(peregrine_event::raw::KIND_SYSCALL, nr)
            .and_then(|s| s.params.first())
            .is_some_and(|p| p.ty == ParamType::Fd);
        if fd {
            h.push_str(&format!(" \\\n\tcase {}:", c_name(nr)));
        }
    }
    h.push_str("\n\n");
    h
}

/// Every C file under bpf/ (relative path, contents), sorted for stable messages.
fn c_sources(bpf_dir: &Path) -> Vec<(String, String)> {
    fn walk(dir: &Path, base: &Path, out: &mut Vec<(String, String)>) {
        let entries =
            std::fs::read_dir(dir).unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()));
        for entry in entries {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                walk(&path, base, out);
            } else if path.extension().is_some_and(|e| e == "c" || e == "h") {
                let text = std::fs::read_to_string(&path)
                    .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
                let rel = path.strip_prefix(base).expect("under bpf/");
                out.push((rel.to_string_lossy().replace('\\', "/"), text));
            }
        }
    }
    let mut out = Vec::new();
    walk(bpf_dir, bpf_dir, &mut out);
    out.sort();
    out
}

/// The writer labels of the kernel program: `case PG_SYS_<NAME>:` in a writer's switch, and
/// the names given to `PG_WRITES_<n>(nr, NAME, …)`, the comparisons that route the clone and
/// exec families. Comments are ignored.
///
/// Why labels and not one exhaustive switch (`-Wswitch-enum`): the records are written by
/// several switches (fixed-size in the dispatcher, variable-length in a tail call, clone and
/// exec in their own programs), so no single switch covers the set; one extra switch at run
/// time only to please the compiler would cost every syscall. The labels are where the
/// dispatch happens, so counting them checks the code that runs.
fn writer_labels(sources: &[(String, String)]) -> Vec<Label> {
    let mut labels = Vec::new();
    for (file, text) in sources {
        let code = strip_comments(text);
        let mut push = |name: &str| {
            labels.push(Label {
                name: name.to_string(),
                file: file.clone(),
            })
        };
        for (i, _) in code.match_indices("case PG_SYS_") {
            let rest = &code[i + "case ".len()..];
            let name = ident(rest);
            if rest[name.len()..].trim_start().starts_with(':') {
                push(name);
            }
        }
        for (i, _) in code.match_indices("PG_WRITES_") {
            let line_start = code[..i].rfind('\n').map_or(0, |n| n + 1);
            if code[line_start..i].trim_start().starts_with("#define") {
                continue;
            }
            let Some(open) = code[i..].find('(') else {
                continue;
            };
            let Some(close) = code[i + open..].find(')') else {
                continue;
            };
            let args = &code[i + open + 1..i + open + close];
            for arg in args.split(',').skip(1) {
                push(&format!("PG_SYS_{}", arg.trim()));
            }
        }
    }
    labels
}

fn ident(s: &str) -> &str {
    let end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    &s[..end]
}

/// C source without its comments (string literals kept as they are).
fn strip_comments(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < b.len() {
        if b[i..].starts_with(b"//") {
            i = s[i..].find('\n').map_or(b.len(), |n| i + n);
        } else if b[i..].starts_with(b"/*") {
            i = s[i + 2..].find("*/").map_or(b.len(), |n| i + 2 + n + 2);
            out.push(' ');
        } else if b[i] == b'"' {
            let mut j = i + 1;
            while j < b.len() && b[j] != b'"' {
                j += if b[j] == b'\\' { 2 } else { 1 };
            }
            let end = (j + 1).min(b.len());
            out.push_str(&s[i..end]);
            i = end;
        } else {
            let ch = s[i..].chars().next().expect("in bounds");
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    out
}

/// The kernel program writes exactly the syscalls whose schema is dedicated, each once.
///
/// A dedicated schema without a writer would decode nothing (the kernel would send the
/// generic record under a name whose schema expects other parameters); a writer without a
/// schema would send parameters user space cannot name. Both fail the build here, naming the
/// syscall, instead of a live test (or a user) finding it.
fn check_writers(labels: &[Label]) -> Result<(), Vec<String>> {
    use std::collections::BTreeMap;
    let mut found: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for l in labels {
        found.entry(&l.name).or_default().push(&l.file);
    }
    let mut problems = Vec::new();
    let dedicated: Vec<(u16, String)> = peregrine_event::schema::DEDICATED
        .iter()
        .map(|&nr| (nr, c_name(nr)))
        .collect();
    for (nr, name) in &dedicated {
        match found.get(name.as_str()).map(Vec::as_slice) {
            None | Some([]) => problems.push(format!(
                "{} ({nr}) has a dedicated schema (crates/peregrine-event/src/schema.rs) but no \
                 writer in bpf/: add `case {name}:` to a writer in bpf/syscall/, or remove the \
                 schema",
                name_of(*nr)
            )),
            Some([_]) => {}
            Some(files) => problems.push(format!(
                "{} ({nr}) is written more than once: bpf/{}",
                name_of(*nr),
                files.join(", bpf/")
            )),
        }
    }
    for (name, files) in &found {
        if !dedicated.iter().any(|(_, n)| n == name) {
            problems.push(format!(
                "{name} has a writer in bpf/{} but no dedicated schema: add one in \
                 crates/peregrine-event/src/schema.rs (dedicated_schema), or remove the writer",
                files.join(", bpf/")
            ));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

fn name_of(nr: u16) -> &'static str {
    peregrine_event::EventType::from_syscall_nr(u32::from(nr)).map_or("?", |t| t.name())
}
