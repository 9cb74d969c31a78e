//! The outcome of test files as text (a readable diff for people), TAP and JUnit XML (for CI).
//! Everything quoted from alerts or test files is escaped: a process name in an alert is
//! chosen by whoever ran the process.

use std::fmt::Write;

use peregrine_filter::escape::terminal_safe;

use crate::run::{FileOutcome, Verdict};

/// Totals over files.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
}

pub fn totals(files: &[FileOutcome]) -> Totals {
    let mut t = Totals::default();
    for c in files.iter().flat_map(|f| &f.cases) {
        match c.verdict {
            Verdict::Pass => t.passed += 1,
            Verdict::Fail(_) => t.failed += 1,
            Verdict::Skip(_) => t.skipped += 1,
        }
    }
    t
}

/// People's report: one line per test, and for a failure what differed and every alert seen.
pub fn text(files: &[FileOutcome]) -> String {
    let mut out = String::new();
    for f in files {
        for c in &f.cases {
            let name = terminal_safe(&c.name);
            match &c.verdict {
                Verdict::Pass => {
                    let _ = writeln!(out, "ok    {name}");
                }
                Verdict::Skip(why) => {
                    let _ = writeln!(out, "skip  {name}: {}", terminal_safe(why));
                }
                Verdict::Fail(problems) => {
                    let _ = writeln!(out, "FAIL  {name} ({})", c.pos);
                    for p in problems {
                        let _ = writeln!(out, "      {}", terminal_safe(p));
                    }
                    if c.observed.is_empty() {
                        let _ = writeln!(out, "      alerts seen: none");
                    } else {
                        let _ = writeln!(out, "      alerts seen ({}):", c.observed.len());
                        for o in c.observed.iter().take(20) {
                            let _ = writeln!(
                                out,
                                "        {} [{}]: {}",
                                terminal_safe(&o.rule),
                                o.priority,
                                terminal_safe(o.output.trim())
                            );
                        }
                        if c.observed.len() > 20 {
                            let _ = writeln!(out, "        … and {} more", c.observed.len() - 20);
                        }
                    }
                }
            }
        }
    }
    let t = totals(files);
    let _ = writeln!(
        out,
        "\n{} passed, {} failed, {} skipped",
        t.passed, t.failed, t.skipped
    );
    out
}

/// TAP version 13: one test point per test, failures with a YAML block of what differed.
pub fn tap(files: &[FileOutcome]) -> String {
    let n: usize = files.iter().map(|f| f.cases.len()).sum();
    let mut out = format!("TAP version 13\n1..{n}\n");
    let mut i = 0;
    for f in files {
        for c in &f.cases {
            i += 1;
            // `#` starts a directive in TAP: keep it out of the description.
            let name = terminal_safe(&c.name).replace('#', "\\#");
            match &c.verdict {
                Verdict::Pass => {
                    let _ = writeln!(out, "ok {i} - {name}");
                }
                Verdict::Skip(why) => {
                    let _ = writeln!(out, "ok {i} - {name} # SKIP {}", terminal_safe(why));
                }
                Verdict::Fail(problems) => {
                    let _ = writeln!(out, "not ok {i} - {name}");
                    let _ = writeln!(out, "  ---");
                    let _ = writeln!(out, "  at: {}", yaml_str(&c.pos.to_string()));
                    let _ = writeln!(out, "  problems:");
                    for p in problems {
                        let _ = writeln!(out, "    - {}", yaml_str(p.trim()));
                    }
                    let _ = writeln!(out, "  alerts:");
                    for o in &c.observed {
                        let _ = writeln!(
                            out,
                            "    - {}",
                            yaml_str(&format!("{}: {}", o.rule, o.output.trim()))
                        );
                    }
                    let _ = writeln!(out, "  ...");
                }
            }
        }
    }
    out
}

/// A double-quoted YAML string (JSON's escaping is valid YAML).
fn yaml_str(s: &str) -> String {
    let mut out = String::new();
    peregrine_filter::format::write_json_string(s, &mut out);
    out
}

/// JUnit XML: one test suite per file, one test case per test.
pub fn junit(files: &[FileOutcome]) -> String {
    let t = totals(files);
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"peregrine test\" tests=\"{}\" failures=\"{}\" skipped=\"{}\">\n",
        t.passed + t.failed + t.skipped,
        t.failed,
        t.skipped
    );
    for f in files {
        let ft = totals(std::slice::from_ref(f));
        let file = xml(&f.path.display().to_string());
        let _ = writeln!(
            out,
            "  <testsuite name=\"{file}\" tests=\"{}\" failures=\"{}\" skipped=\"{}\">",
            f.cases.len(),
            ft.failed,
            ft.skipped
        );
        for c in &f.cases {
            let _ = write!(
                out,
                "    <testcase name=\"{}\" classname=\"{file}\" time=\"{:.3}\"",
                xml(&c.name),
                c.duration.as_secs_f64()
            );
            match &c.verdict {
                Verdict::Pass => out.push_str("/>\n"),
                Verdict::Skip(why) => {
                    let _ = writeln!(
                        out,
                        ">\n      <skipped message=\"{}\"/>\n    </testcase>",
                        xml(why)
                    );
                }
                Verdict::Fail(problems) => {
                    let mut body = problems.join("\n");
                    body.push_str("\nalerts seen:");
                    for o in &c.observed {
                        let _ =
                            write!(body, "\n  {} [{}]: {}", o.rule, o.priority, o.output.trim());
                    }
                    let _ = writeln!(
                        out,
                        ">\n      <failure message=\"{}\">{}</failure>\n    </testcase>",
                        xml(problems.first().map_or("", |p| p.trim())),
                        xml(&body)
                    );
                }
            }
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

/// Text for an XML attribute or element: markup escaped, and the control characters XML 1.0
/// cannot carry at all replaced.
fn xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push_str("&#10;"),
            '\t' => out.push_str("&#9;"),
            c if (c as u32) < 0x20 => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}
