//! The server: a listener bound on the caller's thread (so bind and certificate errors are
//! returned by [`WebServer::start`]), then a current-thread tokio runtime on a dedicated
//! `peregrine-web` thread that accepts connections and serves each with hyper's HTTP/1.1
//! connection driver and the axum router. See the crate documentation for the limits and the
//! eviction policy, and why.

use crate::metrics::MetricsSnapshot;
use crate::versions::Versions;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, Method, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use peregrine_config::WebConfig;
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;
use tokio::sync::{oneshot, Notify};
use tokio::time::Instant;
use tower::ServiceExt;

/// A server that could not start.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error("webserver: cannot resolve listen address {addr}: {source}")]
    Resolve {
        addr: String,
        source: std::io::Error,
    },
    #[error("webserver: cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    /// `webserver.ssl_enabled` is set and `webserver.ssl_certificate` cannot be used: the
    /// server does not start rather than fall back to plain HTTP.
    #[error("webserver: cannot use TLS certificate {} (webserver.ssl_certificate): {reason}", path.display())]
    Tls { path: PathBuf, reason: String },
    #[error("webserver: cannot start the server runtime: {0}")]
    Spawn(std::io::Error),
}

/// Largest request head (request line and headers) accepted; larger gets 431. The endpoints
/// take no parameters, so real requests are tiny.
pub const MAX_REQUEST: usize = 8 * 1024;
/// Largest request body a route may read (the silences API's; the webhook and API routes
/// to come inherit the limit).
pub const MAX_BODY: usize = 1024 * 1024;
/// Connections open at once. Reaching it evicts a connection instead of refusing the new one
/// (see the crate documentation).
pub const MAX_CONNECTIONS: usize = 256;
/// Time from accepting a connection to having its whole request head (TLS handshake
/// included); a client that has not sent it by then is disconnected, however it trickles.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(5);
/// Time a connection may live in all, writing the response included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Ends the connection a request came on, when a handler decides its client must go (a live
/// stream whose client stopped reading): the server puts one in each request's extensions.
/// The connection is closed at once, whatever its response is doing; nothing is flushed.
#[derive(Clone, Debug)]
pub struct Disconnect(Arc<Notify>);

impl Disconnect {
    pub fn now(&self) {
        // A stored permit: the connection ends even if its task is not waiting yet.
        self.0.notify_one();
    }
}

/// Where `/metrics` gets its figures: called once per scrape, on a blocking thread of the
/// server's runtime.
pub trait Collect: Send + Sync + 'static {
    fn collect(&self) -> MetricsSnapshot;
}

impl<F: Fn() -> MetricsSnapshot + Send + Sync + 'static> Collect for F {
    fn collect(&self) -> MetricsSnapshot {
        self()
    }
}

/// A snapshot the agent refreshes periodically; a scrape copies the latest one.
impl Collect for std::sync::Mutex<MetricsSnapshot> {
    fn collect(&self) -> MetricsSnapshot {
        // A writer that panicked mid-update leaves a usable, if stale, snapshot.
        self.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// What every connection shares.
struct Site {
    /// The health path, answered before routing.
    healthz: String,
    /// Whether `/healthz` says ok: see [`WebServer::start_pending`].
    ready: Arc<AtomicBool>,
    router: Router,
    tls: Option<tokio_rustls::TlsAcceptor>,
}

/// A running server. [`WebServer::shutdown`] (or dropping it) stops accepting, closes the
/// connections in flight and joins the server thread.
pub struct WebServer {
    addr: SocketAddr,
    ready: Arc<AtomicBool>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl WebServer {
    /// Loads the TLS certificate when `ssl_enabled`, binds and starts serving. `metrics` is
    /// served only when the configuration enables Prometheus metrics and a source is given.
    pub fn start(
        cfg: &WebConfig,
        versions: &Versions,
        metrics: Option<Arc<dyn Collect>>,
    ) -> Result<WebServer, WebError> {
        Self::start_with(cfg, versions, metrics, None, true)
    }

    /// [`WebServer::start`], with `/healthz` answering 503 `{"status": "starting"}` until
    /// [`WebServer::set_ready`]. The agent starts its server this way before it attaches the
    /// capture, so a bad address or certificate stops it at once, while a probe is not told
    /// the node is watched before it is.
    pub fn start_pending(
        cfg: &WebConfig,
        versions: &Versions,
        metrics: Option<Arc<dyn Collect>>,
    ) -> Result<WebServer, WebError> {
        Self::start_with(cfg, versions, metrics, None, false)
    }

    /// [`WebServer::start_pending`] with the silences API ([`crate::silences`]) served over
    /// `silences`.
    pub fn start_pending_with_silences(
        cfg: &WebConfig,
        versions: &Versions,
        metrics: Option<Arc<dyn Collect>>,
        silences: Arc<peregrine_triage::Silences>,
    ) -> Result<WebServer, WebError> {
        Self::start_with(cfg, versions, metrics, Some(silences), false)
    }

    /// [`WebServer::start_pending`] with the optional routes of [`Extras`]: the silences API,
    /// and the console's access control and alerts API.
    pub fn start_pending_with(
        cfg: &WebConfig,
        versions: &Versions,
        metrics: Option<Arc<dyn Collect>>,
        extras: Extras,
    ) -> Result<WebServer, WebError> {
        Self::start_full(cfg, versions, metrics, extras, false)
    }

    /// From now on `/healthz` says ok.
    pub fn set_ready(&self) {
        self.ready.store(true, Ordering::SeqCst);
    }

    fn start_with(
        cfg: &WebConfig,
        versions: &Versions,
        metrics: Option<Arc<dyn Collect>>,
        silences: Option<Arc<peregrine_triage::Silences>>,
        ready: bool,
    ) -> Result<WebServer, WebError> {
        let extras = Extras {
            silences,
            ..Extras::default()
        };
        Self::start_full(cfg, versions, metrics, extras, ready)
    }

    fn start_full(
        cfg: &WebConfig,
        versions: &Versions,
        metrics: Option<Arc<dyn Collect>>,
        extras: Extras,
        ready: bool,
    ) -> Result<WebServer, WebError> {
        let mut extras = extras;
        let mut console = extras.console.take();
        let ready = Arc::new(AtomicBool::new(ready));
        let tls = if cfg.ssl_enabled {
            Some(load_tls(&cfg.ssl_certificate)?)
        } else {
            None
        };
        let (runtime, listener, addr) = bind(&cfg.listen_address, cfg.listen_port)?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        log::info!(
            "webserver: listening on {scheme}://{addr} (health endpoint {})",
            cfg.k8s_healthz_endpoint
        );
        if addr.ip().is_unspecified() && tls.is_none() {
            log::warn!(
                "webserver: serving unauthenticated plain HTTP on every interface ({addr}); \
                 set webserver.listen_address (e.g. 127.0.0.1) to restrict it, or enable \
                 webserver.ssl_enabled"
            );
        }
        if let Some(c) = console.as_ref() {
            if !c.has_credentials() && !addr.ip().is_loopback() {
                log::warn!(
                    "webserver: console.enabled is set but no credential is configured \
                     (console.token, PEREGRINE_CONSOLE_TOKEN, console.read_only_token or \
                     console.users) and the server listens on {addr}, not only on loopback: \
                     the console and its API are not served"
                );
                console = None;
            }
        }
        if console.is_none() {
            extras.alerts = None;
            extras.fleet = None;
            extras.debug = None;
        }
        // The console's pages come with the alerts API.
        let pages = extras.alerts.as_ref().map(|a| {
            let counters = extras.counters.take().or_else(|| metrics.clone());
            let live = extras.live.take().unwrap_or_default();
            crate::console::Console::new(a.clone(), live, counters)
        });
        if extras.silences.is_some() && console.is_none() && !addr.ip().is_loopback() {
            log::warn!(
                "webserver: the silences API (silences_api.enabled) is unauthenticated and \
                 served on {addr}, not only on loopback: anyone who reaches it can silence \
                 alerts; set webserver.listen_address to 127.0.0.1 or put an authenticating \
                 proxy in front"
            );
        }
        let site = Arc::new(Site {
            healthz: cfg.k8s_healthz_endpoint.clone(),
            ready: ready.clone(),
            router: router(
                versions.to_json(),
                metrics.clone().filter(|_| cfg.prometheus_metrics_enabled),
                console.map(|c| Arc::new(crate::access::Access::new(&c, cfg.ssl_enabled))),
                extras,
                pages,
            ),
            tls,
        });
        spawn(runtime, listener, addr, site, ready)
    }

    /// Serves `router` alone (no health path) on `host:port` with the same defences as the
    /// web server (head and request deadlines, connection cap, head size limit), over TLS with
    /// Falco's combined PEM file when `tls_pem` is given. The routes set their own body limit.
    /// The k8s audit webhook is served this way.
    pub fn start_router(
        host: &str,
        port: u16,
        tls_pem: Option<&Path>,
        router: Router,
    ) -> Result<WebServer, WebError> {
        let tls = tls_pem.map(load_tls).transpose()?;
        let (runtime, listener, addr) = bind(host, port)?;
        let ready = Arc::new(AtomicBool::new(true));
        let site = Arc::new(Site {
            // No request path is empty: nothing is answered before the router.
            healthz: String::new(),
            ready: ready.clone(),
            router,
            tls,
        });
        spawn(runtime, listener, addr, site, ready)
    }

    /// The bound address (the real port when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting, closes open connections and waits for the server thread; the port
    /// is free when this returns.
    pub fn shutdown(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for WebServer {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

/// Resolves and binds `host:port` (an IPv6 literal with or without brackets) and makes the
/// server's runtime, which owns the listener.
fn bind(
    host: &str,
    port: u16,
) -> Result<(tokio::runtime::Runtime, tokio::net::TcpListener, SocketAddr), WebError> {
    let spec = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let addrs: Vec<SocketAddr> = spec
        .to_socket_addrs()
        .map_err(|source| WebError::Resolve {
            addr: spec.clone(),
            source,
        })?
        .collect();
    let bind_err = |source| WebError::Bind {
        addr: spec.clone(),
        source,
    };
    let listener = std::net::TcpListener::bind(&addrs[..]).map_err(bind_err)?;
    listener.set_nonblocking(true).map_err(bind_err)?;
    let addr = listener.local_addr().map_err(bind_err)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .thread_name("peregrine-web-blocking")
        .build()
        .map_err(WebError::Spawn)?;
    let listener = {
        let _ctx = runtime.enter();
        tokio::net::TcpListener::from_std(listener).map_err(bind_err)?
    };
    Ok((runtime, listener, addr))
}

/// Runs the accept loop of `site` on its own thread.
fn spawn(
    runtime: tokio::runtime::Runtime,
    listener: tokio::net::TcpListener,
    addr: SocketAddr,
    site: Arc<Site>,
    ready: Arc<AtomicBool>,
) -> Result<WebServer, WebError> {
    let (stop, stopped) = oneshot::channel();
    let thread = std::thread::Builder::new()
        .name("peregrine-web".into())
        .spawn(move || {
            runtime.block_on(accept_loop(listener, site, stopped));
            // Connections still open are dropped (closed) with the runtime; a scrape
            // collecting on a blocking thread gets a moment to finish.
            runtime.shutdown_timeout(Duration::from_secs(1));
        })
        .map_err(WebError::Spawn)?;
    Ok(WebServer {
        addr,
        ready,
        stop: Some(stop),
        thread: Some(thread),
    })
}

/// Reads Falco's combined PEM file: the certificate chain and the private key together.
fn load_tls(path: &Path) -> Result<tokio_rustls::TlsAcceptor, WebError> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let fail = |reason: String| WebError::Tls {
        path: path.to_path_buf(),
        reason,
    };
    let pem = std::fs::read(path).map_err(|e| fail(e.to_string()))?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| fail(format!("malformed PEM: {e}")))?;
    if certs.is_empty() {
        return Err(fail("no CERTIFICATE block in the file".into()));
    }
    let key = PrivateKeyDer::from_pem_slice(&pem).map_err(|e| match e {
        rustls_pki_types::pem::Error::NoItemsFound => {
            fail("no PRIVATE KEY block in the file (Falco's file holds both)".into())
        }
        e => fail(format!("malformed PEM: {e}")),
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| fail(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| fail(e.to_string()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

// ---- routes -----------------------------------------------------------------------------------

/// Everything but the health path, which [`handle`] answers before routing. `extras` come
/// checked (see [`WebServer::start_pending_with`]); their `console` is `access` by now.
fn router(
    versions_json: String,
    metrics: Option<Arc<dyn Collect>>,
    access: Option<Arc<crate::access::Access>>,
    extras: Extras,
    pages: Option<crate::console::Console>,
) -> Router {
    // `console` was taken out by the caller (it is `access` now).
    let Extras {
        silences,
        isolation,
        console: _,
        alerts,
        debug,
        metrics_text,
        fleet,
        live: _,
        counters: _,
    } = extras;
    // The console's live stream has series of its own.
    let metrics_text = match (metrics_text, pages.as_ref().map(|p| p.live.clone())) {
        (Some(t), Some(live)) => {
            Some(Arc::new(move || t() + &live.prometheus_text()) as MetricsText)
        }
        (None, Some(live)) => Some(Arc::new(move || live.prometheus_text()) as MetricsText),
        (t, None) => t,
    };
    let versions_json: Arc<str> = versions_json.into();
    let mut router = Router::new().route(
        "/versions",
        get(move || async move {
            (
                [(header::CONTENT_TYPE, "application/json")],
                versions_json.to_string(),
            )
        })
        .fallback(not_allowed),
    );
    if let Some(source) = metrics {
        router = router.route(
            "/metrics",
            get(metrics_page)
                .fallback(not_allowed)
                .with_state((source, metrics_text)),
        );
    }
    if let Some(store) = silences {
        router = router.merge(crate::silences::routes(store));
    }
    if let Some(registry) = isolation {
        router = router.merge(crate::isolation::routes(registry));
    }
    if let Some(api) = alerts {
        router = router.merge(crate::alerts_api::routes(api));
    }
    if let Some(pages) = pages {
        router = router.merge(crate::console::routes(pages));
    }
    if let Some(api) = debug {
        router = router.merge(crate::debug_api::routes(api));
    }
    if let Some(view) = fleet {
        router = router.merge(crate::fleet_api::routes(view));
    }
    router = router.fallback(not_found);
    // With the console on, every route (the fallback's 404 included, so paths are not
    // probed) needs a credential; the health path is answered before routing.
    if let Some(access) = access {
        router = router.merge(crate::access::routes(access.clone())).layer(
            axum::middleware::from_fn_with_state(access, crate::access::require),
        );
    }
    router.layer(DefaultBodyLimit::max(MAX_BODY))
}

/// Optional routes of the server.
#[derive(Default)]
pub struct Extras {
    /// The silences API ([`crate::silences`]).
    pub silences: Option<Arc<peregrine_triage::Silences>>,
    /// The isolated containers and unisolate ([`crate::isolation`]); given with the silences
    /// API.
    pub isolation: Option<Arc<peregrine_response::isolate::Registry>>,
    /// `console.enabled`: every route but the health path needs a credential
    /// ([`crate::access`]). Refused (not served, with a warning) on an address other than
    /// loopback when no credential is configured.
    pub console: Option<peregrine_config::ConsoleConfig>,
    /// The alerts API ([`crate::alerts_api`]); served only with the console.
    pub alerts: Option<crate::alerts_api::Api>,
    /// The debug API ([`crate::debug_api`]); served only with the console.
    pub debug: Option<crate::debug_api::Api>,
    /// The console's live queue, fed by the store's writer ([`crate::console::Live`]); served
    /// with the alerts API (a queue nothing publishes to when not given).
    pub live: Option<Arc<crate::console::Live>>,
    /// Where the console's overview reads events, drops and time to detect, when `/metrics`
    /// is not served (else the metrics source is used).
    pub counters: Option<Arc<dyn Collect>>,
    /// More series appended to `/metrics` (the alert store's), already in Prometheus's text
    /// format.
    pub metrics_text: Option<MetricsText>,
    /// The fleet API ([`crate::fleet_api`], `peregrine server`); served only with the console.
    pub fleet: Option<Arc<dyn crate::fleet_api::FleetView>>,
}

/// See [`Extras::metrics_text`].
pub type MetricsText = Arc<dyn Fn() -> String + Send + Sync>;

const HEALTH_BODY: &str = r#"{"status": "ok"}"#;
const STARTING_BODY: &str = r#"{"status": "starting"}"#;

/// The health answer, Falco's body (503 while the agent is not ready yet); HEAD gets the same
/// head without the body.
fn health(method: &Method, ready: bool) -> Response {
    if method != Method::GET && method != Method::HEAD {
        return not_allowed_response();
    }
    let json = [(header::CONTENT_TYPE, "application/json")];
    if ready {
        (json, HEALTH_BODY).into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, json, STARTING_BODY).into_response()
    }
}

async fn metrics_page(
    State((source, extra)): State<(Arc<dyn Collect>, Option<MetricsText>)>,
) -> Response {
    // Collecting reads /proc: done off the connection task so a slow read delays no probe.
    let page = tokio::task::spawn_blocking(move || {
        let mut snap = source.collect();
        snap.refresh_system();
        let mut page = snap.render();
        if let Some(extra) = extra {
            page.push_str(&extra());
        }
        page
    })
    .await;
    match page {
        Ok(body) => (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            body,
        )
            .into_response(),
        Err(e) => {
            log::warn!("webserver: collecting metrics failed: {e}");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error\n").into_response()
        }
    }
}

async fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "not found\n").into_response()
}

async fn not_allowed() -> Response {
    not_allowed_response()
}

fn not_allowed_response() -> Response {
    (
        StatusCode::METHOD_NOT_ALLOWED,
        [(header::ALLOW, "GET, HEAD")],
        "method not allowed\n",
    )
        .into_response()
}

async fn handle(site: &Site, req: Request<hyper::body::Incoming>) -> Response {
    if req.uri().path() == site.healthz {
        return health(req.method(), site.ready.load(Ordering::SeqCst));
    }
    match site.router.clone().oneshot(req).await {
        Ok(resp) => resp,
        Err(never) => match never {},
    }
}

// ---- connections ------------------------------------------------------------------------------

async fn accept_loop(
    listener: tokio::net::TcpListener,
    site: Arc<Site>,
    mut stop: oneshot::Receiver<()>,
) {
    let conns = Arc::new(Conns::default());
    loop {
        let accepted = tokio::select! {
            _ = &mut stop => break,
            r = listener.accept() => r,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Typically EMFILE or a reset before accept: back off a little, keep serving.
                log::debug!("webserver: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let slot = conns.admit();
        tokio::spawn(serve(stream, peer, site.clone(), slot));
    }
}

/// One connection, from accept to close, bounded by [`HEAD_TIMEOUT`] until its head is in,
/// by [`REQUEST_TIMEOUT`] in all, and ended early if evicted.
async fn serve(stream: tokio::net::TcpStream, peer: SocketAddr, site: Arc<Site>, slot: Slot) {
    let head_deadline = Instant::now() + HEAD_TIMEOUT;
    let work = async {
        match &site.tls {
            None => serve_http(TokioIo::new(stream), peer, &site, &slot).await,
            Some(acceptor) => match acceptor.accept(stream).await {
                Ok(tls) => serve_http(TokioIo::new(tls), peer, &site, &slot).await,
                Err(e) => log::debug!("webserver: TLS handshake failed: {e}"),
            },
        }
    };
    let head_watch = async {
        tokio::time::sleep_until(head_deadline).await;
        if slot.head_done.load(Ordering::Acquire) {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        _ = work => {}
        _ = slot.evict.notified() => log::debug!("webserver: connection evicted at the cap"),
        _ = slot.disconnect.notified() => log::debug!("webserver: connection closed by its handler"),
        _ = head_watch => log::debug!("webserver: request head not received in {HEAD_TIMEOUT:?}"),
        _ = tokio::time::sleep(REQUEST_TIMEOUT) => log::debug!("webserver: request took over {REQUEST_TIMEOUT:?}"),
    }
}

async fn serve_http<I>(io: TokioIo<I>, peer: SocketAddr, site: &Arc<Site>, slot: &Slot)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = {
        let site = site.clone();
        let head_done = slot.head_done.clone();
        let disconnect = Disconnect(slot.disconnect.clone());
        hyper::service::service_fn(move |mut req: Request<hyper::body::Incoming>| {
            head_done.store(true, Ordering::Release);
            // The client's address, for handlers that count per client (the login limit).
            req.extensions_mut()
                .insert(axum::extract::ConnectInfo(peer));
            req.extensions_mut().insert(disconnect.clone());
            let site = site.clone();
            async move { Ok::<_, Infallible>(handle(&site, req).await) }
        })
    };
    let result = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEAD_TIMEOUT)
        .max_header_size(MAX_REQUEST)
        // One request per connection, as Falco's server answers probes and scrapes: a
        // connection's life is one request's, so the deadlines above bound it.
        .keep_alive(false)
        // `Content-Type`, not `content-type`: byte-identical heads for clients that grep them.
        .title_case_headers(true)
        .serve_connection(io, service)
        .await;
    if let Err(e) = result {
        log::debug!("webserver: connection ended with an error: {e}");
    }
}

/// The open connections, oldest first (ids increase with accept order).
#[derive(Default)]
struct Conns {
    next: AtomicU64,
    open: Mutex<BTreeMap<u64, Peer>>,
    warned: AtomicBool,
}

/// What the registry keeps of a connection to evict it.
struct Peer {
    head_done: Arc<AtomicBool>,
    evict: Arc<Notify>,
}

/// A connection's place in [`Conns`]; dropping it (however the connection ends) frees it.
struct Slot {
    id: u64,
    head_done: Arc<AtomicBool>,
    evict: Arc<Notify>,
    /// See [`Disconnect`].
    disconnect: Arc<Notify>,
    conns: Arc<Conns>,
}

impl Conns {
    /// Registers a new connection; at [`MAX_CONNECTIONS`], first evicts the oldest connection
    /// whose request head is still incomplete, else the oldest of all.
    fn admit(self: &Arc<Self>) -> Slot {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let head_done = Arc::new(AtomicBool::new(false));
        let evict = Arc::new(Notify::new());
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if open.len() >= MAX_CONNECTIONS {
            let victim = open
                .iter()
                .find(|(_, p)| !p.head_done.load(Ordering::Acquire))
                .or_else(|| open.iter().next())
                .map(|(id, _)| *id);
            if let Some(peer) = victim.and_then(|v| open.remove(&v)) {
                // A stored permit: the connection ends even if not waiting yet.
                peer.evict.notify_one();
            }
            if !self.warned.swap(true, Ordering::Relaxed) {
                log::warn!(
                    "webserver: {MAX_CONNECTIONS} connections open; evicting the oldest idle \
                     one for each new client (reported once)"
                );
            }
        }
        open.insert(
            id,
            Peer {
                head_done: head_done.clone(),
                evict: evict.clone(),
            },
        );
        Slot {
            id,
            head_done,
            evict,
            disconnect: Arc::new(Notify::new()),
            conns: self.clone(),
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.open.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.conns.open.lock().unwrap_or_else(|p| p.into_inner());
        open.remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Evicts the oldest connection without a complete head; when every head is in, the
    /// oldest of all; dropped slots free their place.
    #[test]
    fn eviction_order() {
        let conns = Arc::new(Conns::default());
        let mut slots: Vec<Slot> = (0..MAX_CONNECTIONS).map(|_| conns.admit()).collect();
        assert_eq!(conns.len(), MAX_CONNECTIONS);
        // Slot 0 has its head: slot 1 is the oldest idle one.
        slots[0].head_done.store(true, Ordering::Release);
        let _new = conns.admit();
        assert_eq!(conns.len(), MAX_CONNECTIONS);
        let evicted = |s: &Slot| !conns.open.lock().expect("lock").contains_key(&s.id);
        assert!(!evicted(&slots[0]));
        assert!(evicted(&slots[1]));
        // Every remaining head is in: the oldest of all (slot 0) goes next.
        for s in &slots {
            s.head_done.store(true, Ordering::Release);
        }
        _new.head_done.store(true, Ordering::Release);
        let _newer = conns.admit();
        assert!(evicted(&slots[0]));
        assert_eq!(conns.len(), MAX_CONNECTIONS);
        // Connections that end free their place.
        slots.truncate(100);
        assert_eq!(conns.len(), 100 - 2 + 2);
    }
}
