//! `--support` (Falco's support bundle) and `-P` (the pid file).

use std::path::{Path, PathBuf};

use peregrine_rules::RulesInput;

use crate::error::{Context, Result};
use crate::FALCO_COMPAT_VERSION;

/// Falco's support bundle: versions, system, command line, configuration file and the content
/// of every rules file. Unreadable files are reported empty, as the bundle is for diagnosis.
pub fn bundle(config_file: Option<&Path>, rules: &[RulesInput]) -> serde_json::Value {
    let proc_kernel = |f: &str| {
        std::fs::read_to_string(crate::host_file(&format!("/proc/sys/kernel/{f}")))
            .map(|s| s.trim().to_string())
            .unwrap_or_default()
    };
    let config = config_file
        .and_then(|p| std::fs::read_to_string(p).ok())
        .unwrap_or_default();
    let rules_files: Vec<_> = rules
        .iter()
        .map(|input| {
            let content = match input {
                RulesInput::File(p) => std::fs::read_to_string(p).unwrap_or_default(),
                RulesInput::Text { content, .. } => content.clone(),
            };
            serde_json::json!({"name": input.name(), "content": content})
        })
        .collect();
    serde_json::json!({
        "version": env!("CARGO_PKG_VERSION"),
        "falco_compat_version": FALCO_COMPAT_VERSION,
        "engine_info": {"engine_version": peregrine_rules::version::ENGINE_VERSION.to_string()},
        "plugins": [],
        "system_info": {
            "sysname": proc_kernel("ostype"),
            "nodename": proc_kernel("hostname"),
            "release": proc_kernel("osrelease"),
            "version": proc_kernel("version"),
            "machine": std::env::consts::ARCH,
        },
        "cmdline": std::env::args().collect::<Vec<_>>().join(" "),
        "config": config,
        "rules_files": rules_files,
    })
}

/// `-P FILE`: holds the pid while the agent runs; removed when dropped.
pub struct PidFile(PathBuf);

impl PidFile {
    pub fn create(path: &Path) -> Result<PidFile> {
        std::fs::write(path, format!("{}\n", std::process::id()))
            .with_context(|| format!("writing pid file {}", path.display()))?;
        Ok(PidFile(path.to_path_buf()))
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        // Nothing to do about a file someone else removed.
        let _ = std::fs::remove_file(&self.0);
    }
}
