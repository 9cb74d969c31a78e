//! `webhook_output` (Peregrine extension): chat webhooks — Slack's incoming-webhook body
//! (which Mattermost and Rocket.Chat accept), Microsoft Teams' MessageCard and Discord's
//! embed — posted like `http_output`, with the alert id in `X-Peregrine-Alert-Id`.
//!
//! Key decision: one sink with a `format` key rather than one per service: the transport,
//! retry rules and TLS are the same, only the body differs. The body is built from Falco's
//! JSON line (the sink asks for it whatever `json_output` says): the output text as the
//! message, the rule as the title, priority and host as fields, colour by priority.

use crate::format::FormatOptions;
use crate::http::ALERT_ID_HEADER;
use crate::output::{Output, OutputError};
use peregrine_filter::priority::Priority;
use serde_json::{json, Value};
use std::time::Duration;

/// Which chat service's body to send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChatFormat {
    Slack,
    Teams,
    Discord,
}

impl ChatFormat {
    pub fn parse(s: &str) -> Option<ChatFormat> {
        match s.to_ascii_lowercase().as_str() {
            "slack" | "mattermost" | "rocketchat" => Some(ChatFormat::Slack),
            "teams" => Some(ChatFormat::Teams),
            "discord" => Some(ChatFormat::Discord),
            _ => None,
        }
    }
}

/// The `webhook_output` keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookConfig {
    pub url: String,
    pub format: ChatFormat,
    /// Whole-request timeout.
    pub timeout: Duration,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        WebhookConfig {
            url: String::new(),
            format: ChatFormat::Slack,
            timeout: Duration::from_secs(10),
        }
    }
}

pub struct WebhookOutput {
    cfg: WebhookConfig,
    agent: ureq::Agent,
}

impl WebhookOutput {
    pub fn new(cfg: WebhookConfig) -> Result<WebhookOutput, OutputError> {
        if !(cfg.url.starts_with("http://") || cfg.url.starts_with("https://")) {
            return Err(OutputError::Config {
                key: "webhook_output.url".into(),
                reason: format!("expected an http:// or https:// URL, got '{}'", cfg.url),
            });
        }
        let agent = ureq::AgentBuilder::new()
            .timeout(cfg.timeout)
            .redirects(0)
            .build();
        Ok(WebhookOutput { cfg, agent })
    }

    /// The body for one alert line (Falco's JSON).
    pub fn body(&self, line: &str, priority: Priority) -> Value {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|_| json!({"output": line}));
        let text = |k: &str| {
            v.get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let (output, rule, host) = (text("output"), text("rule"), text("hostname"));
        let color = colour(priority);
        match self.cfg.format {
            ChatFormat::Slack => json!({
                "text": output,
                "attachments": [{
                    "color": format!("#{color:06x}"),
                    "fields": [
                        {"title": "rule", "value": rule, "short": true},
                        {"title": "priority", "value": priority.as_str(), "short": true},
                        {"title": "hostname", "value": host, "short": true},
                    ],
                    "footer": "Peregrine",
                }],
            }),
            ChatFormat::Teams => json!({
                "@type": "MessageCard",
                "@context": "https://schema.org/extensions",
                "summary": rule,
                "themeColor": format!("{color:06X}"),
                "title": rule,
                "text": output,
                "sections": [{"facts": [
                    {"name": "priority", "value": priority.as_str()},
                    {"name": "hostname", "value": host},
                ]}],
            }),
            ChatFormat::Discord => json!({
                "content": output,
                "embeds": [{
                    "title": rule,
                    "color": color,
                    "fields": [
                        {"name": "priority", "value": priority.as_str(), "inline": true},
                        {"name": "hostname", "value": host, "inline": true},
                    ],
                }],
            }),
        }
    }

    fn post(
        &mut self,
        line: &str,
        priority: Priority,
        id: Option<&str>,
    ) -> Result<(), OutputError> {
        let body = self.body(line, priority).to_string();
        let mut req = self
            .agent
            .post(&self.cfg.url)
            .set("Content-Type", "application/json");
        if let Some(id) = id {
            req = req.set(ALERT_ID_HEADER, id);
        }
        match req.send_string(&body) {
            Ok(_) => Ok(()),
            Err(ureq::Error::Status(code, _)) if code == 429 || code >= 500 => {
                Err(OutputError::Unavailable {
                    output: "webhook",
                    target: self.cfg.url.clone(),
                    reason: format!("HTTP status {code}"),
                })
            }
            Err(ureq::Error::Status(code, _)) => Err(OutputError::Refused {
                output: "webhook",
                target: self.cfg.url.clone(),
                reason: format!("HTTP status {code}"),
            }),
            Err(ureq::Error::Transport(t)) => Err(OutputError::Unavailable {
                output: "webhook",
                target: self.cfg.url.clone(),
                reason: t.to_string(),
            }),
        }
    }
}

impl Output for WebhookOutput {
    fn name(&self) -> &str {
        "webhook"
    }

    fn write(&mut self, line: &str, priority: Priority) -> Result<(), OutputError> {
        self.post(line, priority, None)
    }

    fn write_with_id(
        &mut self,
        line: &str,
        priority: Priority,
        id: &str,
    ) -> Result<(), OutputError> {
        self.post(line, priority, Some(id))
    }

    fn format(&self) -> Option<FormatOptions> {
        Some(FormatOptions {
            json_output: true,
            json_include_output_property: true,
            ..FormatOptions::default()
        })
    }
}

/// Red for the severe, orange for warnings, blue for the rest.
fn colour(p: Priority) -> u32 {
    match p {
        Priority::Emergency | Priority::Alert | Priority::Critical | Priority::Error => 0xd0_21_1c,
        Priority::Warning => 0xf5_a6_23,
        _ => 0x4a_90_e2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out(format: ChatFormat) -> WebhookOutput {
        WebhookOutput::new(WebhookConfig {
            url: "http://127.0.0.1:9/".into(),
            format,
            ..WebhookConfig::default()
        })
        .expect("valid")
    }

    const LINE: &str = r#"{"hostname":"h1","output":"12:00:00: Critical shell","priority":"Critical","rule":"Shell","source":"syscall","tags":[],"time":"2026-11-28T21:05:03.123456789Z"}"#;

    #[test]
    fn bodies() {
        let s = out(ChatFormat::Slack).body(LINE, Priority::Critical);
        assert_eq!(s["text"], "12:00:00: Critical shell");
        assert_eq!(s["attachments"][0]["color"], "#d0211c");
        assert_eq!(s["attachments"][0]["fields"][0]["value"], "Shell");
        let t = out(ChatFormat::Teams).body(LINE, Priority::Critical);
        assert_eq!(
            (t["@type"].as_str(), t["title"].as_str()),
            (Some("MessageCard"), Some("Shell"))
        );
        assert_eq!(t["sections"][0]["facts"][1]["value"], "h1");
        let d = out(ChatFormat::Discord).body(LINE, Priority::Warning);
        assert_eq!(d["content"], "12:00:00: Critical shell");
        assert_eq!(d["embeds"][0]["color"], 0xf5a623);
        assert_eq!(ChatFormat::parse("Mattermost"), Some(ChatFormat::Slack));
        assert_eq!(ChatFormat::parse("irc"), None);
    }
}
