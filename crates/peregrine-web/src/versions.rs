//! The `/versions` document.

/// What `/versions` reports, under Falco's keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Versions {
    pub falco_version: String,
    pub libs_version: String,
    pub engine_version: String,
    pub engine_version_semver: String,
    pub default_driver_version: String,
    pub driver_api_version: String,
    pub driver_schema_version: String,
    pub plugin_api_version: String,
}

impl Versions {
    /// This build's versions. Peregrine has no separate libs or driver release: its kernel
    /// programs ship inside the binary, so they carry the agent's version. `engine_version` is
    /// the minor number of the semver, as Falco reports it.
    pub fn peregrine(engine: &peregrine_rules::version::Version) -> Versions {
        let own = env!("CARGO_PKG_VERSION").to_string();
        Versions {
            falco_version: own.clone(),
            libs_version: own.clone(),
            engine_version: engine.minor.to_string(),
            engine_version_semver: engine.to_string(),
            default_driver_version: own.clone(),
            driver_api_version: own.clone(),
            driver_schema_version: own,
            // No plugin API is offered.
            plugin_api_version: "0.0.0".into(),
        }
    }

    /// The JSON body, keys sorted as Falco's JSON library prints them.
    pub fn to_json(&self) -> String {
        let v = serde_json::json!({
            "default_driver_version": self.default_driver_version,
            "driver_api_version": self.driver_api_version,
            "driver_schema_version": self.driver_schema_version,
            "engine_version": self.engine_version,
            "engine_version_semver": self.engine_version_semver,
            "falco_version": self.falco_version,
            "libs_version": self.libs_version,
            "plugin_api_version": self.plugin_api_version,
        });
        v.to_string()
    }
}
