//! Compile-time (semantic) cases: the operator × field-type matrix of libsinsp's
//! `operators_field_types_compatibility` test (falcosecurity/libs
//! `userspace/libsinsp/test/filter_compiler.ut.cpp`) and the extra compile cases.

use peregrine_filter::compile::{check_identifiers, compile, CompileError};
use peregrine_filter::parser::parse;

/// Parses and compiles; `Err` carries the parser's or the compiler's message.
fn build(text: &str) -> Result<usize, String> {
    let ast = parse(text).map_err(|e| format!("parse: {}", e.message))?;
    check_identifiers(&ast).map_err(|e: CompileError| e.message)?;
    compile(&ast)
        .map(|c| c.warnings.len())
        .map_err(|e| e.message)
}

/// Compiles (`ok`) or fails, in the parser or the compiler.
fn check(text: &str, ok: bool) {
    let got = build(text);
    assert_eq!(got.is_ok(), ok, "{text:?}: {got:?}");
}

fn check_msg(text: &str, message: &str) {
    match build(text) {
        Err(m) => assert_eq!(m, message, "{text:?}"),
        Ok(_) => panic!("{text:?} compiled, expected {message:?}"),
    }
}

fn check_warnings(text: &str, n: usize) {
    assert_eq!(build(text), Ok(n), "{text:?}");
}

const OPS: [&str; 19] = [
    "exists",
    "=",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    "contains",
    "icontains",
    "startswith",
    "endswith",
    "glob",
    "iglob",
    "regex",
    "pmatch",
    "in",
    "intersects",
    "bcontains",
    "bstartswith",
];

/// (field, example value, one y/n per operator of `OPS`), verbatim from the §3 table.
const MATRIX: &[(&str, &str, &str)] = &[
    ("evt.rawtime", "1", "yyyyyyynnnnnnnnyynn"),
    ("evt.is_io", "true", "yyynnnnnnnnnnnnyynn"),
    ("evt.buffer", "303000", "yyynnnnynyynnnnyyyy"),
    ("fd.name", "test", "yyyyyyyyyyyyyyyyynn"),
    ("thread.cpu", "1", "yyyyyyynnnnnnnnyynn"),
    ("evt.cpu", "1", "yyyyyyynnnnnnnnyynn"),
    ("fd.dev", "1", "yyyyyyynnnnnnnnyynn"),
    ("proc.pid", "1", "yyyyyyynnnnnnnnyynn"),
    ("fd.ip", "127.0.0.1", "yyynnnnnnnnnnnnyynn"),
    ("fd.net", "127.0.0.1/32", "yyynnnnnnnnnnnnyynn"),
    ("fd.port", "1", "yyyyyyynnnnnnnnyynn"),
    ("proc.pid.ts", "1", "yyyyyyynnnnnnnnyynn"),
    ("evt.count", "1", "yyyyyyynnnnnnnnyynn"),
    ("evt.num", "1", "yyyyyyynnnnnnnnyynn"),
];

#[test]
fn operator_field_type_matrix() {
    let mut n = 0;
    for (field, value, row) in MATRIX {
        assert_eq!(row.len(), OPS.len(), "{field}");
        for (op, want) in OPS.iter().zip(row.chars()) {
            let text = match *op {
                "exists" => format!("{field} exists"),
                "in" | "intersects" | "pmatch" => format!("{field} {op} ({value})"),
                // The grammar takes only numbers after an ordering operator.
                "<" | "<=" | ">" | ">=" => format!("{field} {op} 1"),
                _ => format!("{field} {op} {value}"),
            };
            check(&text, want == 'y');
            n += 1;
        }
    }
    assert_eq!(n, 14 * 19);
}

#[test]
fn extra_compile_cases() {
    let cases: &[(&str, bool)] = &[
        ("thread.cpu = 1.0", false),
        ("thread.cpu = 1", true),
        ("fd.ip == anyof (127.0.0.1)", true),
        ("fd.ip == allof (127.0.0.1)", true),
        ("fd.ip != anyof (127.0.0.1)", true),
        ("fd.ip != allof (127.0.0.1)", true),
        ("fd.net == anyof (\"127.0.0.0/8\")", true),
        ("fd.net == allof (\"127.0.0.0/8\")", true),
        ("fd.net != anyof (\"127.0.0.0/8\")", true),
        ("fd.net != allof (\"127.0.0.0/8\")", true),
        ("fd.ip contains anyof (127.0.0.1)", false),
        ("fd.net startswith oneof (127.0.0.1)", false),
        ("fd.ip regex allof ('.*')", false),
        ("evt.buffer bcontains 12ab001fc5", true),
        ("evt.buffer bstartswith 48545450", true),
        ("evt.buffer bstartswith g", false),
        ("evt.buffer bstartswith 123Z", false),
        ("evt.buffer bstartswith abc_1", false),
        ("evt.buffer bcontains 2", false),
        ("evt.buffer bcontains 2g", false),
        ("evt.buffer bcontains", false),
        ("(val(evt.args) = val(evt.args))", false),
        ("(syscall.type = val(syscall.type, evt.type))", false),
        (
            "(syscall.type = val(tolower(toupper(syscall.type))))",
            false,
        ),
        ("syscall.type = val(evt.is_wait)", false),
        ("syscall.type = val(evt.type)", true),
        ("proc.name = \"\\x00\"", false),
        ("proc.name contains \"\\x00\"", false),
        ("proc.name icontains \"\\x00\"", false),
        ("proc.name startswith \"\\x00\"", false),
        ("proc.name endswith \"\\x00\"", false),
        ("proc.name pmatch (\"\\x00\")", false),
        ("proc.name glob \"\\x00\"", false),
        ("proc.name regex \"\\x00\"", false),
        ("evt.buffer = \"\\x00\"", true),
        ("evt.buffer bcontains \"\\x00\"", false),
        (
            "evt.buflen.in = val(evt.around[1404996934793590564])",
            false,
        ),
        ("toupper(evt.rawarg.res) = -1", false),
        ("toupper(evt.rawres) = -1", false),
        ("tolower(evt.rawres) = -1", false),
        ("b64(evt.rawres) = -1", false),
        ("evt.plugininfo regex val(evt.source)", false),
        ("fd.name pmatch val(proc.name)", false),
        ("proc.aname = val(proc.name)", false),
        ("proc.name = val(proc.aname)", false),
        ("fd.net = val(fd.net)", false),
        ("tolower(proc.aname) = bash", false),
        ("proc.aname[2] = bash", true),
        ("evt.arg.flags contains O_CREAT", true),
        ("evt.arg[0] = 3", true),
        ("evt.arg = 3", false),
        ("proc.name[1] = bash", false),
        ("proc.nme = bash", false),
        ("len(fd.name) > 3", true),
        ("len(fd.types) = 2", false),
        ("len(proc.pid) = 2", false),
        ("fd.types in (file, ipv4)", true),
        ("fd.types = file", false),
        ("join(\"-\", (fd.name, fd.directory)) = x", true),
        ("join(\"-\", (\"aaa\", \"bbb\")) = aaa-bbb", true),
        ("join(\",\", ()) = \"\"", true),
        ("join() = foo", false),
        ("join(\"-\") = foo", false),
        ("join(\"-\", \"a\", \"b\") = foo", false),
        ("concat(proc.name, \"-\", fd.name) = x", true),
        ("getopt(proc.args, \"nt:\")[t] = mnt", true),
        ("basename(fd.name) in (a, b)", true),
        ("fd.name regex '('", false),
        ("evt.is_io = maybe", false),
        ("fd.num = abc", false),
        ("fd.num = -1", true),
        ("fd.num = 0x10", true),
        ("fd.ip = 1.2.3", false),
        ("fd.snet in (\"10.0.0.0/8\", \"192.168.0.0/16\")", true),
        ("fd.net = \"10.0.0.0/33\"", false),
    ];
    for (text, ok) in cases {
        check(text, *ok);
    }
}

#[test]
fn compile_messages() {
    let cases: &[(&str, &str)] = &[
        (
            "toupper(fd.name)[x] = foo",
            "filter error: transformer 'toupper' does not support field arguments",
        ),
        (
            "fd.name = val(proc.name)[x]",
            "filter error: transformer 'val' does not support field arguments",
        ),
        (
            "proc.nme = bash",
            "filter_check called with nonexistent field proc.nme",
        ),
        (
            "spawned_process and proc.name = bash",
            "Undefined macro 'spawned_process' used in filter.",
        ),
        (
            "fd.ip contains 127.0.0.1",
            "filter error: 'contains' operator not supported for ip address and network filters",
        ),
        (
            "evt.buffer bcontains 2g",
            "filter error: bcontains and bstartswith operator support hex strings only",
        ),
        (
            "toupper(evt.rawres) = -1",
            "can't add field transformer: type 'INT64' is not supported by 'toupper' transformer applied on field 'evt.rawres'",
        ),
        (
            "syscall.type = val(evt.is_wait)",
            "filter error: field 'syscall.type' has type 'CHARBUF' while the right-hand side field 'evt.is_wait' has incompatible type 'BOOL'",
        ),
        ("thread.cpu = 1.0", "1.0 is not a valid number"),
    ];
    for (text, msg) in cases {
        check_msg(text, msg);
    }
}

#[test]
fn compile_warnings() {
    check_warnings("evt.source = evt.plugininfo", 1);
    check_warnings("evt.source = tolower(evt.plugininfo)", 0);
    check_warnings("proc.name = \"toupper(proc.pname)\"", 1);
    check_warnings("proc.name = \"proc.pname \"", 1);
    check_warnings("proc.name = cat", 0);
    // Regexes a simpler operator would do (libsinsp's heuristic).
    for re in [
        "^syscall$",
        "^syscall",
        "syscall$",
        "syscall",
        ".*syscall",
        "syscall.*",
        ".*syscall.*",
        ".+syscall",
        "syscall.+",
        ".?syscall",
        "syscall.?",
    ] {
        check_warnings(&format!("evt.source regex '{re}'"), 1);
    }
    check_warnings("evt.source regex '^[s]{1}ysca[l]{2}$'", 0);
}
