//! Falco's informational flags that need neither rules nor a kernel: `-i` (ignored events),
//! `--list-events` (the event table), `--config-schema`, `--rule-schema`, `--page-size`,
//! `--list-plugins` and `--plugin-info`. Each writes to the writer it is given.

use std::io::Write;

use peregrine_event::raw::{KIND_PROCEXIT, KIND_SYSCALL};
use peregrine_event::schema::{self, DEDICATED};
use peregrine_event::{EventType, ParamType};
use serde_json::{json, Value};

use crate::error::{Result, RuntimeError};

/// `-i`: the syscalls ignored by default. Falco drops high-throughput I/O syscalls (`read`,
/// `write`, …) from the kernel selection unless `-A` is given, even when a rule names them.
/// Peregrine ignores none: the kernel selection is exactly what the active rules and the
/// state need ([`peregrine_engine::interest`]), so a rule on `read` gets its events. The
/// list is therefore empty; the header and layout are Falco's.
pub const IGNORED_SYSCALLS: &[&str] = &[];

/// `-i`.
pub fn write_ignored_events(out: &mut impl Write) -> Result<()> {
    writeln!(out, "Ignored syscall(s):")?;
    for name in IGNORED_SYSCALLS {
        writeln!(out, "- {name}")?;
    }
    writeln!(out)?;
    Ok(())
}

/// The type names Falco's `--list-events` prints (libscap's `PT_*` names).
fn type_name(ty: ParamType) -> &'static str {
    match ty {
        ParamType::Fd => "FD",
        ParamType::Errno => "ERRNO",
        ParamType::Pid => "PID",
        ParamType::Int => "INT64",
        ParamType::Uint => "UINT64",
        ParamType::Uid => "UID",
        ParamType::Gid => "GID",
        ParamType::Mode | ParamType::ChmodMode => "MODE",
        ParamType::AbsTime => "ABSTIME",
        ParamType::Str => "CHARBUF",
        ParamType::Path => "FSPATH",
        ParamType::RelPath(_) => "FSRELPATH",
        ParamType::Bytes => "BYTEBUF",
        ParamType::List => "CHARBUFARRAY",
        ParamType::SockAddr => "SOCKADDR",
        ParamType::SockTuple => "SOCKTUPLE",
        ParamType::Dyn => "DYNAMIC",
        ParamType::FdList => "FDLIST",
        ParamType::Flags(..) => "FLAGS32",
        ParamType::Enum(..) => "ENUMFLAGS32",
    }
}

/// One event of the table: its category, name and schema. Peregrine's records are exit
/// events carrying every parameter (`<`).
struct EventEntry {
    category: &'static str,
    name: &'static str,
    schema: &'static schema::Schema,
}

fn event_entries() -> Vec<EventEntry> {
    let mut out = Vec::new();
    for ty in EventType::all() {
        let (category, found) = match ty.syscall_nr() {
            Some(nr) => {
                let Ok(nr) = u16::try_from(nr) else { continue };
                let category = if DEDICATED.contains(&nr) {
                    "Syscall events"
                } else {
                    "Generic syscall events"
                };
                (category, schema::schema_for(KIND_SYSCALL, nr))
            }
            None if ty == EventType::PROCEXIT => {
                ("Tracepoint events", schema::schema_for(KIND_PROCEXIT, 0))
            }
            None => continue,
        };
        if let Some(schema) = found {
            out.push(EventEntry {
                category,
                name: ty.name(),
                schema,
            });
        }
    }
    out
}

const CATEGORIES: &[&str] = &[
    "Syscall events",
    "Generic syscall events",
    "Tracepoint events",
    "Plugin events",
    "Metaevents",
];

/// `--list-events`: Falco's text layout (`## Category`, then `< name(TYPE **param**, …)`,
/// flag parameters followed by their names), or JSON with `json`.
pub fn write_events(out: &mut impl Write, json: bool) -> Result<()> {
    let entries = event_entries();
    if json {
        let mut categories = Vec::new();
        for category in CATEGORIES {
            let events: Vec<Value> = entries
                .iter()
                .filter(|e| e.category == *category)
                .map(|e| {
                    let params: Vec<Value> = e
                        .schema
                        .params
                        .iter()
                        .map(|p| json!({"name": p.name, "type": type_name(p.ty)}))
                        .collect();
                    json!({"name": e.name, "dir": "<", "params": params})
                })
                .collect();
            categories.push(json!({"category": category, "events": events}));
        }
        writeln!(out, "{}", serde_json::to_string_pretty(&categories)?)?;
        return Ok(());
    }
    for category in CATEGORIES {
        writeln!(out, "## {category}\n")?;
        for e in entries.iter().filter(|e| e.category == *category) {
            let params: Vec<String> = e
                .schema
                .params
                .iter()
                .map(|p| {
                    let mut s = format!("{} **{}**", type_name(p.ty), p.name);
                    if let ParamType::Flags(table, _) | ParamType::Enum(table, _) = p.ty {
                        let names: Vec<&str> = table.entries.iter().map(|(n, _)| *n).collect();
                        if !names.is_empty() {
                            s.push_str(": ");
                            s.push_str(&names.join(", "));
                        }
                    }
                    s
                })
                .collect();
            writeln!(out, "< {}({})", e.name, params.join(", "))?;
        }
        writeln!(out)?;
    }
    Ok(())
}

/// `--config-schema`: the JSON schema of falco.yaml as Peregrine reads it.
pub fn write_config_schema(out: &mut impl Write) -> Result<()> {
    let schema = peregrine_config::schema::json_schema();
    writeln!(out, "{}", serde_json::to_string_pretty(&schema)?)?;
    Ok(())
}

/// `--rule-schema`: a JSON schema (draft-06) of a rules file: a list of
/// `required_engine_version`, `required_plugin_versions`, `list`, `macro` and `rule` items.
pub fn rule_schema() -> Value {
    let string_list = json!({"type": "array", "items": {"type": "string"}});
    let override_ = json!({
        "type": "object",
        "additionalProperties": false,
        "patternProperties": {".*": {"type": "string", "enum": ["append", "replace"]}}
    });
    let exception = json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["name"],
        "properties": {
            "name": {"type": "string"},
            "fields": {"type": ["string", "array"]},
            "comps": {"type": ["string", "array"]},
            "values": {"type": "array"}
        }
    });
    json!({
        "$schema": "http://json-schema.org/draft-06/schema#",
        "title": "Falco rules file",
        "type": "array",
        "items": {"$ref": "#/definitions/Item"},
        "definitions": {
            "Item": {
                "anyOf": [
                    {"$ref": "#/definitions/RequiredEngineVersion"},
                    {"$ref": "#/definitions/RequiredPluginVersions"},
                    {"$ref": "#/definitions/List"},
                    {"$ref": "#/definitions/Macro"},
                    {"$ref": "#/definitions/Rule"}
                ]
            },
            "RequiredEngineVersion": {
                "type": "object",
                "additionalProperties": false,
                "required": ["required_engine_version"],
                "properties": {"required_engine_version": {"type": ["string", "integer"]}}
            },
            "RequiredPluginVersions": {
                "type": "object",
                "additionalProperties": false,
                "required": ["required_plugin_versions"],
                "properties": {
                    "required_plugin_versions": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["name", "version"],
                            "properties": {
                                "name": {"type": "string"},
                                "version": {"type": "string"},
                                "alternatives": {
                                    "type": "array",
                                    "items": {
                                        "type": "object",
                                        "required": ["name", "version"],
                                        "properties": {
                                            "name": {"type": "string"},
                                            "version": {"type": "string"}
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            },
            "List": {
                "type": "object",
                "additionalProperties": false,
                "required": ["list"],
                "properties": {
                    "list": {"type": "string"},
                    "items": {"type": "array", "items": {"type": ["string", "number", "boolean"]}},
                    "append": {"type": "boolean"},
                    "override": override_
                }
            },
            "Macro": {
                "type": "object",
                "additionalProperties": false,
                "required": ["macro"],
                "properties": {
                    "macro": {"type": "string"},
                    "condition": {"type": "string"},
                    "append": {"type": "boolean"},
                    "override": override_
                }
            },
            "Rule": {
                "type": "object",
                "additionalProperties": false,
                "required": ["rule"],
                "properties": {
                    "rule": {"type": "string"},
                    "desc": {"type": "string"},
                    "condition": {"type": "string"},
                    "output": {"type": "string"},
                    "priority": {
                        "type": "string",
                        "enum": ["EMERGENCY", "ALERT", "CRITICAL", "ERROR", "WARNING",
                                 "NOTICE", "INFORMATIONAL", "INFO", "DEBUG",
                                 "emergency", "alert", "critical", "error", "warning",
                                 "notice", "informational", "info", "debug"]
                    },
                    "source": {"type": "string"},
                    "enabled": {"type": "boolean"},
                    "tags": string_list,
                    "exceptions": {"type": "array", "items": exception},
                    "skip-if-unknown-filter": {"type": "boolean"},
                    "warn_evttypes": {"type": "boolean"},
                    "capture": {"type": "boolean"},
                    "capture_duration": {"type": "integer"},
                    "append": {"type": "boolean"},
                    "override": override_
                }
            }
        }
    })
}

/// `--rule-schema`.
pub fn write_rule_schema(out: &mut impl Write) -> Result<()> {
    writeln!(out, "{}", serde_json::to_string_pretty(&rule_schema())?)?;
    Ok(())
}

/// The system page size, from the auxiliary vector the kernel hands every process
/// (`AT_PAGESZ`), read without `unsafe`.
pub fn page_size() -> Option<u64> {
    const AT_PAGESZ: u64 = 6;
    let auxv = std::fs::read("/proc/self/auxv").ok()?;
    let word = |chunk: &[u8]| -> Option<u64> { Some(u64::from_ne_bytes(chunk.try_into().ok()?)) };
    auxv.chunks_exact(16)
        .filter_map(|pair| Some((word(&pair[..8])?, word(&pair[8..])?)))
        .find(|&(key, _)| key == AT_PAGESZ)
        .map(|(_, value)| value)
        .filter(|&v| v > 0)
}

/// `--page-size`: Falco 0.44 prints the system page size and exits.
pub fn write_page_size(out: &mut impl Write) -> Result<()> {
    let size = page_size()
        .ok_or_else(|| RuntimeError::Invalid("Unable to get the system page size".to_string()))?;
    writeln!(out, "Your system page size is: {size} bytes")?;
    Ok(())
}

/// `--list-plugins`: the plugins the configuration loaded from shared libraries, in Falco's
/// layout (the native k8saudit/json and container support are not plugins here).
pub fn write_plugins(out: &mut impl Write) -> Result<()> {
    let mut text = String::new();
    crate::plugins::host().write_list(&mut text);
    if crate::plugins::host().is_empty() {
        text.push('\n');
    }
    out.write_all(text.as_bytes())?;
    Ok(())
}

/// `--plugin-info NAME`: a loaded plugin's description, init schema and open parameters;
/// any other name is Falco's unknown-plugin error.
pub fn plugin_info(name: &str, out: &mut impl Write) -> Result<()> {
    let Some(p) = crate::plugins::host().get(name) else {
        return Err(RuntimeError::Invalid(format!(
            "can't find plugin and print its info: {}",
            peregrine_filter::escape::terminal_safe(name)
        )));
    };
    let mut text = String::new();
    peregrine_plugins::write_plugin_info(p, &mut text);
    out.write_all(text.as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(f: impl Fn(&mut Vec<u8>) -> Result<()>) -> String {
        let mut out = Vec::new();
        f(&mut out).expect("writes");
        String::from_utf8(out).expect("utf-8")
    }

    #[test]
    fn event_table_lists_syscalls_with_their_parameters() {
        let t = text(|o| write_events(o, false));
        assert!(t.starts_with("## Syscall events\n\n"), "{t}");
        let openat = t
            .lines()
            .find(|l| l.starts_with("< openat("))
            .expect("openat listed");
        assert!(openat.contains("FSRELPATH **name**"), "{openat}");
        assert!(openat.contains("O_RDONLY"), "{openat}");
        assert!(t.contains("## Tracepoint events\n\n< procexit("), "{t}");
        let j: Value = serde_json::from_str(&text(|o| write_events(o, true))).expect("json");
        assert_eq!(j[0]["category"], "Syscall events");
    }

    #[test]
    fn fixed_outputs() {
        assert_eq!(text(write_ignored_events), "Ignored syscall(s):\n\n");
        assert_eq!(text(write_plugins), "0 Plugins Loaded:\n\n\n");
        assert!(page_size().is_some_and(|s| s.is_power_of_two()));
        let err = plugin_info("container", &mut Vec::new()).expect_err("no plugins");
        assert_eq!(
            err.to_string(),
            "can't find plugin and print its info: container"
        );
        let schema = rule_schema();
        assert_eq!(schema["definitions"]["Rule"]["required"], json!(["rule"]));
    }
}
