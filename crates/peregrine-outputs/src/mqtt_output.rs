//! `mqtt_output` (Peregrine extension): each alert published to an MQTT broker with QoS 1
//! (at least once), on a topic from a template.
//!
//! Key decisions:
//! - **MQTT 5, driven on the output's own thread.** rumqttc's blocking client hands requests
//!   to an event loop that makes progress only when polled; this sink polls it itself after
//!   each publish until the broker's PUBACK arrives (one alert in flight, so the first PUBACK
//!   is its own) or `timeout` passes, and while idle (`flush`) to keep pings flowing. No extra
//!   thread. A broker that refuses or goes quiet costs one attempt; the connection is then
//!   rebuilt and the spool retries.
//! - **The id is a user property** (`peregrine_alert_id`, an MQTT 5 feature), so the payload
//!   stays Falco's JSON line.
//! - Topic template: `{priority}` (lower case) and `{rule}` (letters, digits, `-` and `_`
//!   kept, anything else `_`, so a rule never adds levels or wildcards).

use crate::format::FormatOptions;
use crate::output::{Output, OutputError};
use peregrine_filter::priority::Priority;
use rumqttc::v5::mqttbytes::v5::{Packet, PubAckReason, PublishProperties};
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::{Client, Connection, Event, MqttOptions};
use std::time::{Duration, Instant};

/// The `mqtt_output` keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MqttConfig {
    /// `mqtt://host[:port]` (1883 by default).
    pub url: String,
    /// Topic template: `{priority}` and `{rule}` are replaced.
    pub topic: String,
    /// MQTT client id.
    pub client_id: String,
    /// The longest one attempt (connect, publish, PUBACK) may take.
    pub timeout: Duration,
}

impl Default for MqttConfig {
    fn default() -> Self {
        MqttConfig {
            url: "mqtt://127.0.0.1:1883".into(),
            topic: "falco/{priority}".into(),
            client_id: "peregrine".into(),
            timeout: Duration::from_secs(5),
        }
    }
}

pub struct MqttOutput {
    cfg: MqttConfig,
    host: String,
    port: u16,
    link: Option<(Client, Connection)>,
}

impl MqttOutput {
    pub fn new(cfg: MqttConfig) -> Result<MqttOutput, OutputError> {
        let bad = |reason: String| OutputError::Config {
            key: "mqtt_output.url".into(),
            reason,
        };
        let rest = cfg
            .url
            .strip_prefix("mqtt://")
            .ok_or_else(|| bad(format!("expected mqtt://host[:port], got '{}'", cfg.url)))?;
        let (host, port) = match rest.trim_end_matches('/').rsplit_once(':') {
            Some((h, p)) => (
                h.to_string(),
                p.parse()
                    .map_err(|_| bad(format!("bad port in '{}'", cfg.url)))?,
            ),
            None => (rest.trim_end_matches('/').to_string(), 1883),
        };
        if host.is_empty() {
            return Err(bad(format!("no host in '{}'", cfg.url)));
        }
        if cfg.topic.is_empty() || cfg.topic.contains(['+', '#']) {
            return Err(OutputError::Config {
                key: "mqtt_output.topic".into(),
                reason: format!("not a topic to publish on: '{}'", cfg.topic),
            });
        }
        Ok(MqttOutput {
            cfg,
            host,
            port,
            link: None,
        })
    }

    /// The topic of an alert whose JSON line is `line`.
    pub fn topic(&self, line: &str, priority: Priority) -> String {
        crate::template::destination(&self.cfg.topic, line, priority)
    }

    fn unavailable(&self, reason: impl std::fmt::Display) -> OutputError {
        OutputError::Unavailable {
            output: "mqtt",
            target: self.cfg.url.clone(),
            reason: reason.to_string(),
        }
    }

    fn publish(
        &mut self,
        line: &str,
        priority: Priority,
        id: Option<&str>,
    ) -> Result<(), OutputError> {
        let topic = self.topic(line, priority);
        let timeout = self.cfg.timeout;
        let (client, conn) = self.link.get_or_insert_with(|| {
            let mut o = MqttOptions::new(self.cfg.client_id.clone(), self.host.clone(), self.port);
            o.set_keep_alive(Duration::from_secs(30))
                .set_clean_start(true)
                .set_connection_timeout(timeout.as_secs().max(1));
            Client::new(o, 16)
        });
        let props = PublishProperties {
            user_properties: id
                .map(|id| vec![("peregrine_alert_id".to_string(), id.to_string())])
                .unwrap_or_default(),
            content_type: Some("application/json".into()),
            ..PublishProperties::default()
        };
        let sent = client
            .publish_with_properties(topic, QoS::AtLeastOnce, false, line.to_string(), props)
            .map_err(|e| e.to_string());
        let outcome = sent.and_then(|()| {
            let end = Instant::now() + timeout;
            loop {
                let left = end.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break Err("no PUBACK in time".to_string());
                }
                match conn.recv_timeout(left) {
                    Ok(Ok(Event::Incoming(Packet::PubAck(ack)))) => {
                        break match ack.reason {
                            PubAckReason::Success | PubAckReason::NoMatchingSubscribers => Ok(()),
                            r => Err(format!("PUBACK {r:?}")),
                        }
                    }
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => break Err(e.to_string()),
                    Err(e) => break Err(format!("{e:?}")),
                }
            }
        });
        outcome.map_err(|e| {
            // Start over on the next attempt: the event loop would otherwise resend what
            // it still holds, beside the spool's own retry.
            self.link = None;
            self.unavailable(e)
        })
    }
}

impl Output for MqttOutput {
    fn name(&self) -> &str {
        "mqtt"
    }

    fn write(&mut self, line: &str, priority: Priority) -> Result<(), OutputError> {
        self.publish(line, priority, None)
    }

    fn write_with_id(
        &mut self,
        line: &str,
        priority: Priority,
        id: &str,
    ) -> Result<(), OutputError> {
        self.publish(line, priority, Some(id))
    }

    fn format(&self) -> Option<FormatOptions> {
        Some(FormatOptions {
            json_output: true,
            json_include_output_property: true,
            json_include_output_fields_property: true,
            ..FormatOptions::default()
        })
    }

    /// Idle: lets the event loop answer pings, so the broker keeps the connection.
    fn flush(&mut self) -> Result<(), OutputError> {
        if let Some((_, conn)) = self.link.as_mut() {
            loop {
                match conn.recv_timeout(Duration::from_millis(1)) {
                    Ok(Ok(_)) => {}
                    Ok(Err(_)) => {
                        self.link = None;
                        break;
                    }
                    Err(_) => break,
                }
            }
        }
        Ok(())
    }

    fn reopen(&mut self) -> Result<(), OutputError> {
        self.link = None;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_and_topic() {
        let out = MqttOutput::new(MqttConfig {
            url: "mqtt://broker".into(),
            topic: "falco/{priority}/{rule}".into(),
            ..MqttConfig::default()
        })
        .expect("valid");
        assert_eq!((out.host.as_str(), out.port), ("broker", 1883));
        assert_eq!(
            out.topic(r#"{"rule":"Shell in a/b #1"}"#, Priority::Notice),
            "falco/notice/Shell_in_a_b__1"
        );
        for (url, topic, key) in [
            ("tcp://x", "t", "mqtt_output.url"),
            ("mqtt://x:port", "t", "mqtt_output.url"),
            ("mqtt://x", "a/#", "mqtt_output.topic"),
        ] {
            match MqttOutput::new(MqttConfig {
                url: url.into(),
                topic: topic.into(),
                ..MqttConfig::default()
            }) {
                Err(OutputError::Config { key: k, .. }) => assert_eq!(k, key),
                _ => panic!("{url} {topic} accepted"),
            }
        }
    }
}
