//! The field catalogue as `falco --list` shows it: grouped by class, deprecated fields left
//! out, in Falco's text layout ([`crate::fields::write_list`]) or as Markdown. (The JSON form
//! is built by the program from [`classes`], so this crate stays free of a JSON library.)

use crate::fields::{FieldInfo, CLASSES};
use std::fmt::Write as _;

/// One field of the catalogue, as `--list` prints it.
#[derive(Clone, Debug, PartialEq)]
pub struct FieldEntry {
    pub name: &'static str,
    pub ty: &'static str,
    pub desc: &'static str,
    pub filter_only: bool,
}

impl FieldEntry {
    fn of(f: &'static FieldInfo) -> FieldEntry {
        FieldEntry {
            name: f.name,
            ty: f.ty.name(),
            desc: f.desc,
            filter_only: f.flags.filter_only,
        }
    }
}

/// A field class (`evt`, `process`, `fd`, …) and its fields.
#[derive(Clone, Debug, PartialEq)]
pub struct FieldClass {
    pub name: &'static str,
    pub desc: &'static str,
    pub source: &'static str,
    pub fields: Vec<FieldEntry>,
}

/// The catalogue grouped by class, in catalogue order; deprecated fields are left out, as
/// `falco --list` leaves them out, and so are classes left empty by that.
pub fn classes() -> Vec<FieldClass> {
    let plugins = crate::fields::plugin_classes()
        .into_iter()
        .map(|(name, fields)| {
            let source = fields
                .first()
                .and_then(|f| f.plugin)
                .and_then(|p| p.sources.first().copied())
                .unwrap_or(crate::fields::SYSCALL_SOURCE);
            FieldClass {
                name,
                desc: "Fields of a loaded plugin.",
                source,
                fields: fields.iter().copied().map(FieldEntry::of).collect(),
            }
        });
    CLASSES
        .iter()
        .filter(|c| c.name != "plugin")
        .map(|c| FieldClass {
            name: c.name,
            desc: c.desc,
            source: c.source,
            fields: c
                .fields()
                .filter(|f| !f.flags.deprecated)
                .map(FieldEntry::of)
                .collect(),
        })
        .chain(plugins)
        .filter(|c| !c.fields.is_empty())
        .collect()
}

/// `falco --list` text layout for the catalogue of `sources` (`verbose` adds field types).
pub fn text(verbose: bool, sources: &[&str]) -> String {
    let mut out = String::new();
    crate::fields::write_list_of(&mut out, verbose, false, sources);
    out
}

/// `falco --list --markdown` for `classes`.
pub fn markdown(classes: &[FieldClass]) -> String {
    let mut out = String::new();
    for c in classes {
        // Writing to a String cannot fail.
        let _ = writeln!(out, "## Field Class: {}\n", c.name);
        let _ = writeln!(out, "{}\n", c.desc);
        let _ = writeln!(out, "Name | Type | Description");
        let _ = writeln!(out, ":----|:-----|:-----------");
        for f in &c.fields {
            let tag = if f.filter_only { "(FILTER ONLY) " } else { "" };
            let desc = f.desc.replace('|', "\\|");
            let _ = writeln!(out, "`{}` | {} | {tag}{desc}", f.name, f.ty);
        }
        let _ = writeln!(out);
    }
    out
}
