//! Semantic versions as libsinsp's `sinsp_version` reads them (`%u.%u.%u`, anything after the
//! patch number ignored), for `required_engine_version` and `required_plugin_versions`.

/// A `major.minor.patch` version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version {
    pub major: u64,
    pub minor: u64,
    pub patch: u64,
}

impl Version {
    pub const fn new(major: u64, minor: u64, patch: u64) -> Version {
        Version {
            major,
            minor,
            patch,
        }
    }

    /// Parses `x.y.z` (leading blanks and a trailing suffix such as `-rc1` are accepted, as
    /// `sscanf("%u.%u.%u")` accepts them).
    pub fn parse(s: &str) -> Option<Version> {
        let mut rest = s.trim_start();
        let mut parts = [0u64; 3];
        for (i, part) in parts.iter_mut().enumerate() {
            if i > 0 {
                rest = rest.strip_prefix('.')?;
            }
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return None;
            }
            *part = rest[..digits].parse().ok()?;
            rest = &rest[digits..];
        }
        Some(Version::new(parts[0], parts[1], parts[2]))
    }

    /// `sinsp_version::compatible_with`: same major version and not older than `required`.
    pub fn compatible_with(&self, required: &Version) -> bool {
        self.major == required.major && self >= required
    }
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// Our engine version: the one of Falco 0.44, whose rules files we load.
pub const ENGINE_VERSION: Version = Version::new(0, 62, 0);

/// The version of Falco's `container` plugin whose fields we provide natively.
pub const CONTAINER_PLUGIN_VERSION: Version = Version::new(0, 4, 0);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_cases() {
        let cases = [
            ("0.57.0", Some(Version::new(0, 57, 0))),
            ("1.2.3-rc1", Some(Version::new(1, 2, 3))),
            (" 10.0.1", Some(Version::new(10, 0, 1))),
            ("1.2", None),
            ("not-a-number", None),
            ("", None),
            ("1..2", None),
        ];
        for (s, v) in cases {
            assert_eq!(Version::parse(s), v, "{s}");
        }
    }

    #[test]
    fn compatibility() {
        assert!(ENGINE_VERSION.compatible_with(&Version::new(0, 57, 0)));
        assert!(ENGINE_VERSION.compatible_with(&Version::new(0, 62, 0)));
        assert!(!ENGINE_VERSION.compatible_with(&Version::new(0, 63, 0)));
        assert!(!ENGINE_VERSION.compatible_with(&Version::new(1, 0, 0)));
    }
}
