//! Whether the tests run as root: loading eBPF programs, podman and containerd need it. Read
//! from `/proc/self/status` (no `unsafe` here; only `peregrine-capture` holds any).

/// True when the effective uid is 0.
pub fn is_root() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1))
        == Some("0")
}

/// The root gate: true as root; otherwise one skip line and false (CI runs as root).
pub fn require(test: &str) -> bool {
    if is_root() {
        return true;
    }
    crate::skip(test, "needs root (eBPF, containers); CI runs as root");
    false
}
