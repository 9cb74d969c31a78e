//! Capability names, for `thread.cap_*` (libsinsp prints the set as names joined by spaces).

const NAMES: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// Appends the names of the capabilities set in `mask`, separated by spaces, to `out`.
pub fn write_caps(mask: u64, out: &mut Vec<u8>) {
    let mut first = true;
    for (bit, name) in NAMES.iter().enumerate() {
        if mask & (1u64 << bit) != 0 {
            if !first {
                out.push(b' ');
            }
            out.extend_from_slice(name.as_bytes());
            first = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(mask: u64, expected: &str) {
        let mut out = Vec::new();
        write_caps(mask, &mut out);
        assert_eq!(String::from_utf8_lossy(&out), expected);
    }

    #[test]
    fn names_bits_in_order() {
        check(0, "");
        check(1, "CAP_CHOWN");
        check((1 << 21) | (1 << 5), "CAP_KILL CAP_SYS_ADMIN");
        check(1 << 40, "CAP_CHECKPOINT_RESTORE");
        // Bits the table does not know are skipped rather than invented.
        check(1 << 50, "");
    }
}
