//! The `metrics` block: which of Falco's metric groups are collected, how often the
//! "Falco internal: metrics snapshot" alert is emitted, and how values are shown. Defaults are
//! Falco's when a key is absent (Falco's built-in defaults, not its shipped falco.yaml).

use serde_json::Value;
use std::time::Duration;

use crate::ConfigError;

/// Falco's `metrics.*` keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetricsConfig {
    /// `metrics.enabled`: the master switch (`/metrics` also needs
    /// `webserver.prometheus_metrics_enabled`).
    pub enabled: bool,
    /// `metrics.interval` in Falco's duration syntax (`15s`, `1m`, `1h30m`, `500ms`).
    pub interval: Duration,
    /// `metrics.output_rule`: emit "Falco internal: metrics snapshot" every `interval`.
    pub output_rule: bool,
    pub rules_counters_enabled: bool,
    pub resource_utilization_enabled: bool,
    pub state_counters_enabled: bool,
    pub kernel_event_counters_enabled: bool,
    pub kernel_event_counters_per_cpu_enabled: bool,
    pub libbpf_stats_enabled: bool,
    pub convert_memory_to_mb: bool,
    pub include_empty_values: bool,
}

impl Default for MetricsConfig {
    /// Falco's built-in defaults (falco `configuration.cpp`).
    fn default() -> Self {
        MetricsConfig {
            enabled: false,
            interval: Duration::from_secs(300),
            output_rule: false,
            rules_counters_enabled: true,
            resource_utilization_enabled: true,
            state_counters_enabled: true,
            kernel_event_counters_enabled: true,
            kernel_event_counters_per_cpu_enabled: false,
            libbpf_stats_enabled: true,
            convert_memory_to_mb: true,
            include_empty_values: false,
        }
    }
}

impl MetricsConfig {
    /// Reads the `metrics` mapping; keys Peregrine does not use (`output_file`,
    /// `plugins_metrics_enabled`, `jemalloc_stats_enabled`, …) are accepted and ignored.
    pub fn from_value(value: &Value) -> Result<MetricsConfig, ConfigError> {
        let mut m = MetricsConfig::default();
        let flags: [(&str, &mut bool); 10] = [
            ("enabled", &mut m.enabled),
            ("output_rule", &mut m.output_rule),
            ("rules_counters_enabled", &mut m.rules_counters_enabled),
            (
                "resource_utilization_enabled",
                &mut m.resource_utilization_enabled,
            ),
            ("state_counters_enabled", &mut m.state_counters_enabled),
            (
                "kernel_event_counters_enabled",
                &mut m.kernel_event_counters_enabled,
            ),
            (
                "kernel_event_counters_per_cpu_enabled",
                &mut m.kernel_event_counters_per_cpu_enabled,
            ),
            ("libbpf_stats_enabled", &mut m.libbpf_stats_enabled),
            ("convert_memory_to_mb", &mut m.convert_memory_to_mb),
            ("include_empty_values", &mut m.include_empty_values),
        ];
        for (key, slot) in flags {
            if let Some(v) = value.get(key) {
                *slot = crate::boolean(&format!("metrics.{key}"), v)?;
            }
        }
        if let Some(v) = value.get("interval") {
            let text = crate::string("metrics.interval", v)?;
            m.interval = parse_duration(&text).ok_or_else(|| ConfigError::Value {
                key: "metrics.interval".into(),
                reason: format!(
                    "'{text}' is not a duration such as 15s, 1m, 1h30m or 500ms \
                     (units y, w, d, h, m, s, ms, in that order)"
                ),
            })?;
        }
        Ok(m)
    }
}

/// Falco's (Prometheus's) duration syntax: one or more `<integer><unit>` terms with units
/// in decreasing order, each at most once: `y w d h m s ms` (a year is 365 days).
pub fn parse_duration(text: &str) -> Option<Duration> {
    const UNITS: [(&str, u64); 7] = [
        ("y", 365 * 86_400_000),
        ("w", 7 * 86_400_000),
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
        ("ms", 1),
    ];
    let mut rest = text.trim();
    if rest.is_empty() {
        return None;
    }
    let mut ms: u64 = 0;
    let mut next_unit = 0;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let n: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let letters = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let unit = &rest[..letters];
        rest = &rest[letters..];
        let i = UNITS[next_unit..].iter().position(|(u, _)| *u == unit)? + next_unit;
        ms = ms.checked_add(n.checked_mul(UNITS[i].1)?)?;
        next_unit = i + 1;
    }
    Some(Duration::from_millis(ms))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn falco_durations() {
        let ms = |t: &str| parse_duration(t).map(|d| d.as_millis());
        assert_eq!(ms("1s"), Some(1_000));
        assert_eq!(ms("15s"), Some(15_000));
        assert_eq!(ms("1m"), Some(60_000));
        assert_eq!(ms("2h"), Some(7_200_000));
        assert_eq!(ms("1h30m"), Some(5_400_000));
        assert_eq!(ms("500ms"), Some(500));
        assert_eq!(ms("1d"), Some(86_400_000));
        for bad in ["", "1", "s", "1x", "1m1h", "1s1s", "-1s", "1.5s", "1 s"] {
            assert_eq!(ms(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn block_with_falco_defaults() {
        let m = MetricsConfig::from_value(&json!({
            "enabled": true, "interval": "15s", "output_rule": "true",
            "state_counters_enabled": false, "output_file": ""
        }))
        .expect("reads");
        assert_eq!(
            m,
            MetricsConfig {
                enabled: true,
                interval: Duration::from_secs(15),
                output_rule: true,
                state_counters_enabled: false,
                ..MetricsConfig::default()
            }
        );
        let err = MetricsConfig::from_value(&json!({"interval": "soon"})).unwrap_err();
        assert!(err.to_string().contains("metrics.interval"), "{err}");
    }
}
