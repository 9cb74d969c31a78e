//! The `k8s_audit` source's event loop: audit events from a file, a directory or the webhook
//! go through the source's rules (a [`SourcePipeline`]) and their matches through the same
//! sink as syscall matches. It runs on its own thread beside the capture loop, or alone when
//! `syscall` is disabled, as Falco runs one event loop per source.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use peregrine_config::AuditSourceConfig;
use peregrine_engine::{AlertSink, SourcePipeline};
use peregrine_filter::escape::terminal_safe;
use peregrine_k8saudit::{AuditFields, OpenParams, Parsed};

use crate::error::{Result, RuntimeError};

pub use webhook::{Webhook, WebhookCounters, WebhookStats};

/// What the source read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AuditStats {
    /// Audit events evaluated.
    pub events: u64,
    /// Payloads or events rejected (each logged).
    pub rejected: u64,
}

/// Evaluates `parsed`'s events and logs its problems (as the plugin logs them).
fn evaluate(
    parsed: &mut Parsed,
    pipe: &mut SourcePipeline,
    sink: &mut dyn AlertSink,
    hostname: &str,
    stats: &mut AuditStats,
) {
    for e in parsed.errors.drain(..) {
        stats.rejected += 1;
        log::error!("k8saudit: {}", terminal_safe(&e.to_string()));
    }
    for ev in parsed.events.drain(..) {
        stats.events += 1;
        let mut src = AuditFields {
            event: &ev,
            num: stats.events,
            hostname,
        };
        pipe.process(&mut src, ev.time_ns, sink);
    }
}

/// Runs the source until its input ends (a path, standard input), `stop` is set or
/// `deadline` passes; a webhook counts its requests in `counters` (for `/metrics`).
pub fn run(
    cfg: &AuditSourceConfig,
    pipe: &mut SourcePipeline,
    sink: &mut dyn AlertSink,
    stop: &AtomicBool,
    deadline: Option<Instant>,
    counters: Arc<WebhookCounters>,
) -> Result<AuditStats> {
    let params = OpenParams::parse(&cfg.open_params)
        .map_err(|e| RuntimeError::Invalid(format!("k8saudit open_params: {e}")))?;
    let hostname = peregrine_outputs::hostname();
    let mut stats = AuditStats::default();
    let mut parsed = Parsed::default();
    match params {
        OpenParams::Path(path) => {
            peregrine_k8saudit::input::read_path(&path, &mut |line| {
                peregrine_k8saudit::parse_payload(line, cfg.init.max_event_size, &mut parsed);
                evaluate(&mut parsed, pipe, sink, &hostname, &mut stats);
                !stop.load(Ordering::Relaxed) && deadline.is_none_or(|d| Instant::now() < d)
            })
            .map_err(|e| RuntimeError::Invalid(format!("k8saudit: {e}")))?;
        }
        OpenParams::Follow(path) => {
            let done =
                || stop.load(Ordering::Relaxed) || deadline.is_some_and(|d| Instant::now() >= d);
            peregrine_k8saudit::input::follow(
                &path,
                cfg.init.max_event_size,
                &mut |line| {
                    peregrine_k8saudit::parse_payload(line, cfg.init.max_event_size, &mut parsed);
                    evaluate(&mut parsed, pipe, sink, &hostname, &mut stats);
                    !done()
                },
                &done,
            )
            .map_err(|e| RuntimeError::Invalid(format!("k8saudit: {e}")))?;
        }
        OpenParams::Webhook { .. } => {
            let server = Webhook::start(&params, &cfg.init, counters)?;
            log::info!("k8saudit: webhook listening on {}", server.local_addr());
            loop {
                if stop.load(Ordering::Relaxed) || deadline.is_some_and(|d| Instant::now() >= d) {
                    break;
                }
                if let Some(mut batch) = server.recv(Duration::from_millis(100)) {
                    evaluate(&mut batch, pipe, sink, &hostname, &mut stats);
                }
            }
            // Batches already answered 200 are evaluated before the source stops.
            while let Some(mut batch) = server.recv(Duration::ZERO) {
                evaluate(&mut batch, pipe, sink, &hostname, &mut stats);
            }
            let w = server.stats();
            log::info!(
                "k8saudit webhook: {} requests accepted, {} refused",
                w.accepted,
                w.refused
            );
            stats.rejected += w.refused;
        }
    }
    Ok(stats)
}

mod webhook {
    //! The audit webhook: the API server's webhook backend POSTs `EventList` batches to
    //! `http(s)://HOST:PORT/PATH`. Served by peregrine-web's server loop, so a slow or idle
    //! client is cut off by its head and request deadlines and never holds the event loop,
    //! which only receives parsed batches over a bounded channel.
    //!
    //! Differences from the plugin, on purpose: a body that is not an audit payload is
    //! answered 400 with the reason (the plugin answers 200 and logs it), so a misconfigured
    //! sender finds out; a body over `webhookMaxBatchSize` is 400 as in the plugin.

    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
    use std::sync::Arc;
    use std::time::Duration;

    use axum::body::Body;
    use axum::extract::State;
    use axum::http::{header, HeaderMap, StatusCode};
    use axum::routing::post;
    use axum::Router;
    use peregrine_k8saudit::{InitConfig, OpenParams, Parsed};
    use peregrine_web::server::WebServer;

    use crate::error::{Result, RuntimeError};

    /// Batches waiting for the event loop; a full queue makes senders wait (back-pressure
    /// on the API server, which retries), never an unbounded buffer.
    const QUEUE: usize = 256;

    /// Requests answered 200 and refused, for the stats line and tests.
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
    pub struct WebhookStats {
        pub accepted: u64,
        pub refused: u64,
    }

    /// The webhook's request counters; the agent holds them too, for `/metrics`.
    #[derive(Debug, Default)]
    pub struct WebhookCounters {
        accepted: AtomicU64,
        refused: AtomicU64,
    }

    impl WebhookCounters {
        pub fn stats(&self) -> WebhookStats {
            WebhookStats {
                accepted: self.accepted.load(Ordering::Relaxed),
                refused: self.refused.load(Ordering::Relaxed),
            }
        }

        /// The counters in the Prometheus text format, for `/metrics`.
        pub fn prometheus_text(&self) -> String {
            let s = self.stats();
            format!(
                "# HELP peregrine_k8saudit_webhook_requests_total Requests to the k8saudit \
                 webhook, by result (refused: answered 400).\n\
                 # TYPE peregrine_k8saudit_webhook_requests_total counter\n\
                 peregrine_k8saudit_webhook_requests_total{{result=\"accepted\"}} {}\n\
                 peregrine_k8saudit_webhook_requests_total{{result=\"refused\"}} {}\n",
                s.accepted, s.refused
            )
        }
    }

    struct Ctx {
        tx: SyncSender<Parsed>,
        max_body: usize,
        max_event: usize,
        counters: Arc<WebhookCounters>,
    }

    /// A running webhook; dropping it stops the server.
    pub struct Webhook {
        server: WebServer,
        rx: Receiver<Parsed>,
        counters: Arc<WebhookCounters>,
    }

    impl Webhook {
        pub fn start(
            params: &OpenParams,
            init: &InitConfig,
            counters: Arc<WebhookCounters>,
        ) -> Result<Webhook> {
            let OpenParams::Webhook {
                tls,
                host,
                port,
                path,
            } = params
            else {
                return Err(RuntimeError::Invalid(
                    "k8saudit: open_params is not a webhook address".into(),
                ));
            };
            let (tx, rx) = sync_channel(QUEUE);
            let ctx = Arc::new(Ctx {
                tx,
                max_body: init.webhook_max_batch_size,
                max_event: init.max_event_size,
                counters: counters.clone(),
            });
            let router = Router::new().route(path, post(receive)).with_state(ctx);
            let host = if host.is_empty() { "0.0.0.0" } else { host };
            let pem = tls.then_some(init.ssl_certificate.as_path());
            let server = WebServer::start_router(host, *port, pem, router)
                .map_err(|e| RuntimeError::Invalid(format!("k8saudit webhook: {e}")))?;
            Ok(Webhook {
                server,
                rx,
                counters,
            })
        }

        pub fn local_addr(&self) -> std::net::SocketAddr {
            self.server.local_addr()
        }

        /// The next batch, waiting at most `timeout`.
        pub fn recv(&self, timeout: Duration) -> Option<Parsed> {
            self.rx.recv_timeout(timeout).ok()
        }

        pub fn stats(&self) -> WebhookStats {
            self.counters.stats()
        }
    }

    fn refuse(ctx: &Ctx, reason: String) -> (StatusCode, String) {
        ctx.counters.refused.fetch_add(1, Ordering::Relaxed);
        (StatusCode::BAD_REQUEST, reason + "\n")
    }

    async fn receive(
        State(ctx): State<Arc<Ctx>>,
        headers: HeaderMap,
        body: Body,
    ) -> (StatusCode, String) {
        let json = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("application/json"));
        if !json {
            return refuse(&ctx, "wrong Content Type; expected application/json".into());
        }
        let Ok(bytes) = axum::body::to_bytes(body, ctx.max_body).await else {
            return refuse(
                &ctx,
                format!(
                    "body unreadable or larger than webhookMaxBatchSize ({} bytes)",
                    ctx.max_body
                ),
            );
        };
        let mut parsed = Parsed::default();
        peregrine_k8saudit::parse_payload(&bytes, ctx.max_event, &mut parsed);
        if parsed.events.is_empty() {
            if let Some(e) = parsed.errors.first() {
                // Our own wording (serde's position, or the plugin's text), never the body.
                return refuse(&ctx, e.to_string());
            }
        }
        ctx.counters.accepted.fetch_add(1, Ordering::Relaxed);
        let tx = ctx.tx.clone();
        // The bounded queue may block: off the server's thread.
        let sent = tokio::task::spawn_blocking(move || tx.send(parsed).is_ok()).await;
        if sent.unwrap_or(false) {
            (StatusCode::OK, "<html><body>Ok</body></html>\n".into())
        } else {
            (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n".into())
        }
    }
}
