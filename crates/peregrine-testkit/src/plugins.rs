//! The test plugins of `crates/peregrine-plugins/test-plugins` (built with Falco's Rust SDK):
//! a crate that lists them as dev-dependencies gets their shared libraries built by cargo
//! beside its test binaries, in `target/<profile>/deps`.

use std::path::PathBuf;

/// The shared library of test plugin `name` (`ticker`, `procext`), next to the running test.
pub fn test_plugin(name: &str) -> PathBuf {
    let file = format!("libperegrine_test_plugin_{name}.so");
    let exe = std::env::current_exe().expect("test executable path");
    let mut dir = exe
        .parent()
        .expect("test executable directory")
        .to_path_buf();
    // Integration tests run from `deps/`; a binary's tests may run from the profile directory.
    for _ in 0..2 {
        for d in [dir.clone(), dir.join("deps")] {
            if d.join(&file).is_file() {
                return d.join(&file);
            }
        }
        if !dir.pop() {
            break;
        }
    }
    panic!(
        "{file} not found near {}: list the test plugin crate as a dev-dependency",
        exe.display()
    )
}
