//! What Peregrine's tests share, in one dev-only crate: where the upstream Falco material is
//! ([`upstream`]), which test tiers run ([`tier`]), whether we are root ([`root`]), real podman
//! containers ([`podman`]) and a private containerd ([`containerd`]), synthetic events and the
//! naive evaluator ([`synthetic`], [`naive`]), private instances of real servers
//! ([`services`]), and an HTTP receiver that can go away ([`receiver`]).
//!
//! Key decision: a test that cannot run here *skips with one line* instead of failing, and the
//! line is written to the process's real stderr (not libtest's captured output), so
//! `cargo test` shows it even for a passing test: `skipped: <test>: <why>`. CI turns the
//! skips that matter into failures: `PEREGRINE_REQUIRE_UPSTREAM=1` makes missing upstream
//! material an error, and `PEREGRINE_TIERS` selects tiers (all by default). The cost is a gate
//! call at the top of each gated test (`if !peregrine_testkit::live("name") { return; }`) and
//! the discipline of naming the test in it; a test that forgets its gate fails loudly instead
//! (e.g. [`upstream::dir`] panics with the same explanation), so a fresh clone shows it.
//!
//! The crate is `publish = false` and only ever a dev-dependency: library crates must not
//! depend on it, so the kit may depend on them (today `peregrine-filter` and
//! `peregrine-event`) without a cycle in any non-test build. Because a crate's own unit tests
//! (`#[cfg(test)]` in its `src/`) link a second copy of that crate through the kit, types from
//! the kit (a [`synthetic::SyntheticEvent`]) are meant for integration tests, benches and doc
//! tests; unit tests use the kit's crate-independent parts ([`upstream`], [`tier`]).

#![forbid(unsafe_code)]

pub mod containerd;
pub mod naive;
pub mod plugins;
pub mod podman;
pub mod receiver;
pub mod root;
pub mod services;
pub mod synthetic;
pub mod tier;
pub mod upstream;

mod skip;

pub use skip::skip;
pub use tier::Tier;

/// The gate of a live test (root, eBPF): true when the live tier is selected and we are root;
/// otherwise prints one skip line and returns false.
///
/// ```
/// fn cat_etc_shadow_alerts() {
///     if !peregrine_testkit::live("cat_etc_shadow_alerts") {
///         return;
///     }
///     // … load the BPF programs …
/// }
/// # cat_etc_shadow_alerts();
/// ```
pub fn live(test: &str) -> bool {
    tier::require(Tier::Live, test) && root::require(test)
}

/// The gate of an end-to-end test (real servers, no root needed): true when the e2e tier is
/// selected; otherwise prints one skip line and returns false.
pub fn e2e(test: &str) -> bool {
    tier::require(Tier::E2e, test)
}

/// The gate of an end-to-end test that also needs root (agents capturing live, containers).
pub fn e2e_root(test: &str) -> bool {
    tier::require(Tier::E2e, test) && root::require(test)
}
