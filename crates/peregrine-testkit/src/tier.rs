//! Test tiers: `fast` (no root, no servers: most tests), `live` (root, eBPF: the kernel
//! capture), `e2e` (real containers and servers). `PEREGRINE_TIERS` lists the selected ones,
//! comma-separated (`fast`, `live,e2e`); unset, empty or `all` selects every tier.
//! `scripts/test --tier TIER` sets it and runs the test targets that hold that tier.
//!
//! Fast tests carry no gate (they are the default and the many); live and e2e tests call
//! [`require`] (through [`crate::live`], [`crate::e2e`]) at their top.

use std::fmt;

/// The variable that selects tiers.
pub const VAR: &str = "PEREGRINE_TIERS";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Tier {
    /// No root, no servers: `cargo test` anywhere.
    Fast,
    /// Root and eBPF: programs loaded into this machine's kernel.
    Live,
    /// Real containers and servers (podman, Prometheus, rsyslog, the kit's services).
    E2e,
}

impl Tier {
    pub const ALL: [Tier; 3] = [Tier::Fast, Tier::Live, Tier::E2e];

    pub fn name(self) -> &'static str {
        match self {
            Tier::Fast => "fast",
            Tier::Live => "live",
            Tier::E2e => "e2e",
        }
    }

    pub fn from_name(name: &str) -> Option<Tier> {
        Tier::ALL.into_iter().find(|t| t.name() == name)
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The tiers a `PEREGRINE_TIERS` value selects; an unknown name is an error naming it.
pub fn parse(value: &str) -> Result<Vec<Tier>, String> {
    let value = value.trim();
    if value.is_empty() || value == "all" {
        return Ok(Tier::ALL.to_vec());
    }
    value
        .split(',')
        .map(|n| {
            Tier::from_name(n.trim()).ok_or_else(|| {
                format!("{VAR}: unknown tier {n:?} (expected fast, live, e2e or all)")
            })
        })
        .collect()
}

/// Whether `tier` is selected by the environment; a malformed `PEREGRINE_TIERS` panics.
pub fn selected(tier: Tier) -> bool {
    match std::env::var(VAR) {
        Ok(v) => parse(&v).unwrap_or_else(|e| panic!("{e}")).contains(&tier),
        Err(_) => true,
    }
}

/// The tier gate: true when `tier` is selected; otherwise one skip line and false.
pub fn require(tier: Tier, test: &str) -> bool {
    if selected(tier) {
        return true;
    }
    crate::skip(
        test,
        &format!(
            "{tier} tier not selected ({VAR}={})",
            std::env::var(VAR).unwrap_or_default()
        ),
    );
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiers_parse_with_all_as_the_default() {
        assert_eq!(parse("").unwrap(), Tier::ALL);
        assert_eq!(parse("all").unwrap(), Tier::ALL);
        assert_eq!(parse("live").unwrap(), [Tier::Live]);
        assert_eq!(parse("fast, e2e").unwrap(), [Tier::Fast, Tier::E2e]);
        let e = parse("slow").unwrap_err();
        assert!(e.contains("\"slow\""), "{e}");
    }
}
