//! A host for Falco plugins: shared libraries written against Falco's plugin API 3.x (C ABI),
//! loaded from `plugins:` and `load_plugins:` exactly as Falco loads them.
//!
//! - **Sourcing**: a plugin's `next_batch` events (`PPME_PLUGINEVENT_E`) go through the rules
//!   of its source on a thread of their own ([`SourceFields`] over a
//!   `peregrine_engine::SourcePipeline`), as the native `k8s_audit` source does.
//! - **Extraction**: the fields of `get_fields` join the filter catalogue
//!   (`peregrine_filter::fields::register_plugin_fields`), so rules and outputs of the sources
//!   in the plugin's `extract_event_sources` can use them; on syscall events they are extracted
//!   from the event encoded in scap form ([`SyscallExtension`]), on plugin events from the
//!   event as the plugin produced it.
//! - **Parsing**: `parse_event` sees the events of its sources before the rules do.
//!
//! Key decision: the host is written against the C header by hand ([`ffi`], its layouts checked
//! at compile time) and every value a plugin returns is checked before use, so a plugin that
//! returns an error or garbage (a bad type, an oversized or non-UTF-8 value, a foreign event)
//! is reported with its name and its event or value is dropped; the agent goes on. What cannot
//! be contained is a plugin that crashes in-process (a segfault, `abort`, a Rust panic — which
//! stops at the C boundary and aborts): plugins run inside the agent's address space, as in
//! Falco, and the operator who loads one trusts it with the agent's privileges.

pub mod ffi;
pub mod plugin;
pub mod schema;
mod source;

pub use plugin::{Batch, Capabilities, FieldDecl, Instance, OwnedEvent, Plugin, PluginConfig};
pub use source::{c_source, encode, ErrorLog, FieldCache, SourceFields, SyscallExtension};

use std::path::PathBuf;
use std::sync::Arc;

/// A plugin's failure or misbehaviour, always naming the plugin.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    #[error("cannot load plugin {plugin} from {}: {reason}", path.display())]
    Load {
        plugin: String,
        path: PathBuf,
        reason: String,
    },
    #[error("plugin {plugin}: required plugin API version '{required}' not compatible with the framework's API version '{host}'")]
    ApiVersion {
        plugin: String,
        required: String,
        host: String,
    },
    #[error("plugin {plugin}: invalid init_config: {reason}")]
    Config { plugin: String, reason: String },
    #[error("plugin {plugin}: initialization failed: {reason}")]
    Init { plugin: String, reason: String },
    #[error("plugin {plugin}: cannot open the event source: {reason}")]
    Open { plugin: String, reason: String },
    #[error("plugin {plugin}: next_batch failed: {reason}")]
    NextBatch { plugin: String, reason: String },
    #[error("plugin {plugin}: cannot extract {field}: {reason}")]
    Extract {
        plugin: String,
        field: String,
        reason: String,
    },
    #[error("plugin {plugin}: parse_event failed: {reason}")]
    Parse { plugin: String, reason: String },
    #[error("plugin {plugin}: {what} is not supported")]
    NotSupported { plugin: String, what: &'static str },
    /// The plugin returned something the API does not allow.
    #[error("plugin {plugin} returned garbage: {reason}")]
    Garbage { plugin: String, reason: String },
    #[error("{0}")]
    Fields(String),
    #[error("plugin {0} is loaded twice (plugin names must be unique)")]
    Duplicate(String),
}

impl PluginError {
    fn garbage(plugin: &str, reason: impl Into<String>) -> PluginError {
        PluginError::Garbage {
            plugin: plugin.to_string(),
            reason: reason.into(),
        }
    }

    /// The message, safe for a terminal or a log line (plugin text is escaped).
    pub fn safe(&self) -> String {
        peregrine_filter::escape::terminal_safe(&self.to_string())
    }
}

/// The loaded plugins of a run, their fields registered in the catalogue.
#[derive(Debug, Default, Clone)]
pub struct Host {
    pub plugins: Vec<Arc<Plugin>>,
}

impl Host {
    /// Loads and initialises every entry, in order, and registers their fields. Like Falco,
    /// any failure stops start-up.
    pub fn load(entries: &[PluginConfig]) -> Result<Host, PluginError> {
        let mut host = Host::default();
        for e in entries {
            let p = Plugin::load(e)?;
            if host.plugins.iter().any(|q| q.name == p.name) {
                return Err(PluginError::Duplicate(p.name.clone()));
            }
            if p.caps.extraction {
                peregrine_filter::fields::register_plugin_fields(
                    &p.name,
                    &p.extract_sources,
                    &p.field_specs(),
                )
                .map_err(PluginError::Fields)?;
            }
            host.plugins.push(Arc::new(p));
        }
        Ok(host)
    }

    pub fn is_empty(&self) -> bool {
        self.plugins.is_empty()
    }

    pub fn get(&self, name: &str) -> Option<&Arc<Plugin>> {
        self.plugins.iter().find(|p| p.name == name)
    }

    /// The plugins with the sourcing capability.
    pub fn sources(&self) -> impl Iterator<Item = &Arc<Plugin>> {
        self.plugins.iter().filter(|p| p.caps.sourcing)
    }

    /// The plugins that extract from or parse syscall events.
    pub fn syscall_extension(&self) -> Option<SyscallExtension> {
        let sys = peregrine_filter::fields::SYSCALL_SOURCE;
        let any = self
            .plugins
            .iter()
            .any(|p| p.extracts_from(sys) || p.parses(sys));
        any.then(|| SyscallExtension::new(self.clone()))
    }

    /// The plugins as rules loading takes them: their sources are known sources and their
    /// versions are what `required_plugin_versions` is checked against.
    pub fn native_plugins(&self) -> Vec<peregrine_rules::NativePlugin> {
        self.plugins
            .iter()
            .filter_map(|p| {
                let (a, b, c) = plugin::parse_semver(&p.version)?;
                Some(peregrine_rules::NativePlugin {
                    name: p.name.clone(),
                    version: peregrine_rules::version::Version::new(a, b, c),
                    source: p.event_source.clone(),
                })
            })
            .collect()
    }

    /// `--list-plugins`, in Falco's words.
    pub fn write_list(&self, out: &mut String) {
        out.push_str(&format!("{} Plugins Loaded:\n\n", self.plugins.len()));
        for p in &self.plugins {
            write_info(p, out);
            out.push('\n');
        }
    }
}

/// One plugin's description as `--list-plugins` and `--plugin-info` print it (Falco's layout).
pub fn write_info(p: &Plugin, out: &mut String) {
    let safe = |s: &str| peregrine_filter::escape::terminal_safe(s);
    out.push_str(&format!("Name: {}\n", safe(&p.name)));
    out.push_str(&format!("Description: {}\n", safe(&p.description)));
    out.push_str(&format!("Contact: {}\n", safe(&p.contact)));
    out.push_str(&format!("Version: {}\n", safe(&p.version)));
    out.push_str("Capabilities: \n");
    if p.caps.sourcing {
        out.push_str(&format!(
            "  - Event Sourcing (ID={}, source='{}')\n",
            p.id,
            safe(p.event_source.as_deref().unwrap_or(""))
        ));
    }
    if p.caps.extraction {
        out.push_str("  - Field Extraction\n");
    }
    if p.caps.parsing {
        out.push_str("  - Event Parsing\n");
    }
}

/// `--plugin-info NAME`: the description, the init schema and the open parameters.
pub fn write_plugin_info(p: &Plugin, out: &mut String) {
    write_info(p, out);
    out.push('\n');
    match &p.init_schema {
        Some(s) => {
            out.push_str("Init config schema type: JSON\n");
            // Escaped line by line: the schema's own line breaks stay.
            for line in s.lines() {
                out.push_str(&peregrine_filter::escape::terminal_safe(line));
                out.push('\n');
            }
        }
        None => out.push_str("No init config schema available\n"),
    }
    out.push('\n');
    out.push_str(
        "No suggested open params available: plugin has not been configured with open params\n",
    );
}
