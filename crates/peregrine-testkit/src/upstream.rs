//! The upstream Falco material (rules files, captures, Falco's test expectations): read at
//! test time from `shared/upstream` beside the clone, or from `$PEREGRINE_UPSTREAM`; never
//! copied into the repository.
//!
//! Absent material skips the test with one line, unless `PEREGRINE_REQUIRE_UPSTREAM=1` (set
//! by `.ci/run`), which makes it a failure: CI must run everything.

use std::path::{Path, PathBuf};

/// The variable that names the material's directory.
pub const VAR: &str = "PEREGRINE_UPSTREAM";
/// The variable that turns absent material from a skip into a failure (`1`).
pub const REQUIRE_VAR: &str = "PEREGRINE_REQUIRE_UPSTREAM";

/// Where the material is looked for: `$PEREGRINE_UPSTREAM`, else `../shared/upstream` beside
/// the workspace. It may not exist; see [`require`].
pub fn path() -> PathBuf {
    match std::env::var_os(VAR) {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/upstream"),
    }
}

/// Whether absent material must fail the test (`PEREGRINE_REQUIRE_UPSTREAM` set, not `0`).
pub fn required() -> bool {
    std::env::var(REQUIRE_VAR).is_ok_and(|v| !v.is_empty() && v != "0")
}

fn missing_reason(p: &Path) -> String {
    format!("upstream material not found at {} (set {VAR})", p.display())
}

/// What a gate does with the material at `p`: use it (`Ok(Some)`), skip (`Ok(None)`), or,
/// when `required`, fail with the reason (`Err`).
fn decide(p: &Path, required: bool) -> Result<Option<PathBuf>, String> {
    if p.is_dir() {
        return Ok(Some(p.to_path_buf()));
    }
    let why = missing_reason(p);
    if required {
        return Err(format!("{why} and {REQUIRE_VAR} is set"));
    }
    Ok(None)
}

/// The gate of a test that reads upstream material: `Some(dir)` when it exists; otherwise one
/// skip line and `None`, or a panic when [`required`].
pub fn require(test: &str) -> Option<PathBuf> {
    let p = path();
    match decide(&p, required()) {
        Ok(Some(dir)) => Some(dir),
        Ok(None) => {
            crate::skip(test, &missing_reason(&p));
            None
        }
        Err(e) => panic!("{test}: {e}"),
    }
}

/// The material's directory, for helpers called after the test's [`require`] gate and for
/// benches; panics with the same explanation when it is absent (a test that reaches this
/// without its gate is a bug the message names).
pub fn dir() -> PathBuf {
    let p = path();
    assert!(
        p.is_dir(),
        "{} (a test reading it must call peregrine_testkit::upstream::require first)",
        missing_reason(&p)
    );
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn present_material_is_used_and_absent_material_skips_or_fails() {
        let here = Path::new(env!("CARGO_MANIFEST_DIR"));
        assert_eq!(decide(here, true), Ok(Some(here.to_path_buf())));
        let missing = here.join("no-such-upstream");
        assert_eq!(decide(&missing, false), Ok(None));
        let e = decide(&missing, true).unwrap_err();
        assert_eq!(
            e,
            format!(
                "upstream material not found at {} (set PEREGRINE_UPSTREAM) and \
                 PEREGRINE_REQUIRE_UPSTREAM is set",
                missing.display()
            )
        );
    }
}
