//! `rules_files` entries and `-r` paths: a file stays itself, a directory becomes its rules files.

use crate::ConfigError;
use std::path::{Path, PathBuf};

/// A file stays itself; a directory becomes its `*.yaml`/`*.yml` files in name order (Falco's
/// order, so that a local file can override the stock rules it sorts after).
pub fn expand_rules_path(path: &Path) -> Result<Vec<PathBuf>, ConfigError> {
    let meta = std::fs::metadata(path).map_err(|source| ConfigError::RulesPath {
        path: path.to_path_buf(),
        source,
    })?;
    if !meta.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let dir_err = |source| ConfigError::RulesDir {
        path: path.to_path_buf(),
        source,
    };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(path).map_err(dir_err)? {
        let p = entry.map_err(dir_err)?.path();
        let yaml = matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml"));
        if yaml && p.is_file() {
            files.push(p);
        }
    }
    files.sort();
    if files.is_empty() {
        return Err(ConfigError::EmptyRulesDir {
            path: path.to_path_buf(),
        });
    }
    Ok(files)
}
