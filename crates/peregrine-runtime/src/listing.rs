//! What the informational modes print: `-L` (rules), the rules summary of a run and a dry
//! run, `--list` (fields), `--version`, and Falco's log-line timestamp. Each writes to the
//! writer it is given, so the binary decides where output goes and tests read it back.

use std::io::Write;

use peregrine_filter::listing::{self, FieldClass};
use peregrine_rules::{Priority, RuleSet};

use crate::rules::{EmbeddedRules, RulesSource};
use crate::FALCO_COMPAT_VERSION;

/// The forms of `--list`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldsFormat {
    Text,
    Markdown,
    Json,
}

/// `--version`.
pub fn write_version(out: &mut impl Write) -> std::io::Result<()> {
    writeln!(
        out,
        "Peregrine version: {} ({})",
        env!("CARGO_PKG_VERSION"),
        std::env::consts::ARCH
    )?;
    writeln!(out, "Falco compatibility: {FALCO_COMPAT_VERSION}")?;
    writeln!(
        out,
        "Engine:        {}",
        peregrine_rules::version::ENGINE_VERSION
    )?;
    writeln!(out, "Event sources: syscall")
}

/// `-L`: Falco's two-column listing, descriptions wrapped at 110 columns.
pub fn write_rule_list(out: &mut impl Write, rules: &RuleSet) -> std::io::Result<()> {
    const NAME_WIDTH: usize = 50;
    writeln!(out, "{:<NAME_WIDTH$} Description", "Rule")?;
    writeln!(out, "{:<NAME_WIDTH$} -----------", "----")?;
    for rule in rules.rules() {
        let wrapped = wrap(&rule.desc, NAME_WIDTH + 1, 110);
        writeln!(out, "{:<NAME_WIDTH$} {wrapped}", rule.name)?;
    }
    Ok(())
}

/// Wraps `text` into lines of at most `width` columns where the first line starts at column
/// `indent` and continuation lines are indented to it.
fn wrap(text: &str, indent: usize, width: usize) -> String {
    let room = width.saturating_sub(indent).max(20);
    let mut lines = vec![String::new()];
    for word in text.split_whitespace() {
        let Some(line) = lines.last_mut() else { break };
        if !line.is_empty() && line.len() + 1 + word.len() > room {
            lines.push(word.to_string());
        } else {
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
    }
    lines.join(&format!("\n{}", " ".repeat(indent)))
}

/// The rules summary a run and a dry run print: the files, the count of rules loaded and
/// enabled, and the count per priority.
pub fn write_summary(
    out: &mut impl Write,
    source: &RulesSource,
    embedded: EmbeddedRules,
    rules: &RuleSet,
    min_priority: Priority,
) -> std::io::Result<()> {
    match source {
        RulesSource::Embedded => writeln!(out, "Rules files: {} (embedded)", embedded.name)?,
        RulesSource::Files(files) => {
            writeln!(out, "Rules files:")?;
            for f in files {
                writeln!(out, "   {}", f.display())?;
            }
        }
    }
    let all = rules.rules();
    let enabled = (0..all.len())
        .filter(|&i| u32::try_from(i).is_ok_and(|i| rules.is_active(i)))
        .count();
    writeln!(
        out,
        "Rules loaded: {} ({enabled} enabled, minimum priority {})",
        all.len(),
        min_priority.as_str()
    )?;
    for p in Priority::ALL {
        let n = all.iter().filter(|r| r.priority == p).count();
        writeln!(out, "   {:<14} {n}", format!("{}:", p.as_str()))?;
    }
    Ok(())
}

/// `--list [SOURCE]`: the field catalogue in Falco's text layout, Markdown or JSON, or its
/// names only (`-N`).
pub fn write_fields(
    out: &mut impl Write,
    source: Option<&str>,
    format: FieldsFormat,
    names_only: bool,
    verbose: bool,
    available: &[&str],
) -> crate::Result<()> {
    // The sources listed: the one asked for (if the run has it), else every one it has.
    let sources: Vec<&str> = match source {
        Some(s) => available.iter().copied().filter(|a| *a == s).collect(),
        None => available.to_vec(),
    };
    let classes: Vec<FieldClass> = listing::classes()
        .into_iter()
        .filter(|c| sources.contains(&c.source))
        .collect();
    if names_only {
        for f in classes.iter().flat_map(|c| &c.fields) {
            writeln!(out, "{}", f.name)?;
        }
        return Ok(());
    }
    match format {
        FieldsFormat::Text if !classes.is_empty() => {
            write!(out, "{}", listing::text(verbose, &sources))?
        }
        FieldsFormat::Text => {}
        FieldsFormat::Markdown => write!(out, "{}", listing::markdown(&classes))?,
        FieldsFormat::Json => {
            let json: Vec<_> = classes
                .iter()
                .map(|c| {
                    serde_json::json!({
                        "name": c.name,
                        "desc": c.desc,
                        "event_sources": [c.source],
                        "fields": c.fields.iter().map(|f| serde_json::json!({
                            "name": f.name,
                            "type": f.ty,
                            "desc": f.desc,
                            "filter_only": f.filter_only,
                        })).collect::<Vec<_>>(),
                    })
                })
                .collect();
            writeln!(out, "{}", serde_json::to_string_pretty(&json)?)?;
        }
    }
    Ok(())
}

/// Falco's log-line timestamp: `2026-11-28T22:39:02+0000` with `time_format_iso_8601`,
/// else ctime's `Sat Nov 28 22:39:02 2026` (both UTC).
pub fn log_time(unix_secs: u64, iso: bool) -> String {
    let days = unix_secs / 86_400;
    let secs = unix_secs % 86_400;
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    let (year, month, day) = peregrine_event::time::civil_from_days(days as i64);
    if iso {
        return format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}+0000");
    }
    const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let weekday = WEEKDAYS[(days % 7) as usize];
    let month_name = MONTHS[(month - 1) as usize % 12];
    format!("{weekday} {month_name} {day:2} {h:02}:{m:02}:{s:02} {year}")
}

#[cfg(test)]
mod tests {
    use super::{log_time, wrap};

    #[test]
    fn log_time_matches_falco_formats() {
        for (secs, iso, expected) in [
            (0, true, "1970-01-01T00:00:00+0000"),
            (0, false, "Thu Jan  1 00:00:00 1970"),
            (1_470_327_477, true, "2016-08-04T16:17:57+0000"),
            (1_470_327_477, false, "Thu Aug  4 16:17:57 2016"),
            (1_709_164_800, true, "2024-02-29T00:00:00+0000"),
            (1_796_083_200, false, "Tue Dec  1 00:00:00 2026"),
        ] {
            assert_eq!(log_time(secs, iso), expected, "{secs} iso={iso}");
        }
    }

    #[test]
    fn wrap_indents_continuation_lines() {
        assert_eq!(wrap("a b c", 4, 100), "a b c");
        assert_eq!(wrap("aaaa bbbb", 2, 24), "aaaa bbbb");
        let long = "word ".repeat(30);
        let wrapped = wrap(&long, 10, 40);
        let lines: Vec<_> = wrapped.lines().collect();
        assert!(lines.len() > 1);
        assert!(lines[1..].iter().all(|l| l.starts_with(&" ".repeat(10))));
        assert!(lines.iter().all(|l| l.trim_start().len() <= 30));
    }
}
