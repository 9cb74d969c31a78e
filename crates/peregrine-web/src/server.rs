//! The HTTP/1.1 server: one accept thread, a short-lived thread per connection, three fixed
//! routes answered from memory. See the crate documentation for why it is hand-written.

use crate::metrics::MetricsSnapshot;
use crate::versions::Versions;
use peregrine_config::WebConfig;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

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
    #[error("webserver: cannot start the server thread: {0}")]
    Spawn(std::io::Error),
}

/// Largest request head accepted; the endpoints take no parameters, so real requests are tiny.
pub const MAX_REQUEST: usize = 8 * 1024;
/// Connections served at once; further clients wait in the listen backlog.
pub const MAX_CONNECTIONS: usize = 16;
/// How long a client may take to send its request or read the response.
pub const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// Where `/metrics` gets its figures: called once per scrape, from a connection thread.
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

/// Immutable per-server data the connection threads share.
struct Routes {
    healthz: String,
    versions_json: String,
    metrics: Option<Arc<dyn Collect>>,
}

/// A running server. [`WebServer::shutdown`] (or dropping it) stops accepting and joins the
/// accept thread; connections in flight finish on their own, bounded by [`IO_TIMEOUT`].
pub struct WebServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl WebServer {
    /// Binds and starts serving. `metrics` is served only when the configuration enables
    /// Prometheus metrics and a source is given.
    pub fn start(
        cfg: &WebConfig,
        versions: &Versions,
        metrics: Option<Arc<dyn Collect>>,
    ) -> Result<WebServer, WebError> {
        let host = cfg.listen_address.as_str();
        let spec = if host.contains(':') && !host.starts_with('[') {
            format!("[{host}]:{}", cfg.listen_port)
        } else {
            format!("{host}:{}", cfg.listen_port)
        };
        let addrs: Vec<SocketAddr> = spec
            .to_socket_addrs()
            .map_err(|source| WebError::Resolve {
                addr: spec.clone(),
                source,
            })?
            .collect();
        let listener = TcpListener::bind(&addrs[..]).map_err(|source| WebError::Bind {
            addr: spec.clone(),
            source,
        })?;
        let addr = listener.local_addr().map_err(|source| WebError::Bind {
            addr: spec.clone(),
            source,
        })?;
        log::info!(
            "webserver: listening on http://{addr} (health endpoint {})",
            cfg.k8s_healthz_endpoint
        );
        let routes = Arc::new(Routes {
            healthz: cfg.k8s_healthz_endpoint.clone(),
            versions_json: versions.to_json(),
            metrics: metrics.filter(|_| cfg.prometheus_metrics_enabled),
        });
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::thread::Builder::new()
            .name("peregrine-web".into())
            .spawn({
                let stop = stop.clone();
                move || accept_loop(listener, routes, stop)
            })
            .map_err(WebError::Spawn)?;
        Ok(WebServer {
            addr,
            stop,
            thread: Some(thread),
        })
    }

    /// The bound address (the real port when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting connections and waits for the accept thread.
    pub fn shutdown(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        let Some(thread) = self.thread.take() else {
            return;
        };
        self.stop.store(true, Ordering::SeqCst);
        // The accept call blocks: a connection of our own wakes it to see the flag. A wildcard
        // address is reached through loopback.
        let mut wake = self.addr;
        if wake.ip().is_unspecified() {
            wake.set_ip(match wake {
                SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
            });
        }
        if TcpStream::connect_timeout(&wake, Duration::from_secs(1)).is_ok() {
            let _ = thread.join();
        } else {
            // Unreachable listener: leave the thread detached rather than hang the agent.
            log::warn!("webserver: could not wake the accept thread on {wake}");
        }
    }
}

impl Drop for WebServer {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

fn accept_loop(listener: TcpListener, routes: Arc<Routes>, stop: Arc<AtomicBool>) {
    let slots = Arc::new(Slots::default());
    loop {
        // At the cap, stop accepting: further clients wait in the kernel's backlog instead of
        // being answered and reset, and idle clients free their slot within IO_TIMEOUT.
        if !slots.acquire(&stop) {
            break;
        }
        let conn = listener.accept();
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let stream = match conn {
            Ok((s, _)) => s,
            Err(e) => {
                slots.release();
                // Typically EMFILE or a connection reset before accept: keep serving.
                log::debug!("webserver: accept failed: {e}");
                continue;
            }
        };
        let _ = stream.set_read_timeout(Some(IO_TIMEOUT));
        let _ = stream.set_write_timeout(Some(IO_TIMEOUT));
        let routes = routes.clone();
        let guard = SlotGuard(slots.clone());
        let spawned = std::thread::Builder::new()
            .name("peregrine-web-conn".into())
            .spawn(move || {
                let _guard = guard;
                serve(stream, &routes);
            });
        if let Err(e) = spawned {
            // The closure (and its guard) was dropped, so the slot is already released.
            log::warn!("webserver: cannot start a connection thread: {e}");
        }
    }
}

/// Counts connections in flight, at most [`MAX_CONNECTIONS`].
#[derive(Default)]
struct Slots {
    used: Mutex<usize>,
    freed: Condvar,
}

impl Slots {
    /// Waits for a free slot and takes it; false when the server is stopping.
    fn acquire(&self, stop: &AtomicBool) -> bool {
        let mut used = self.used.lock().unwrap_or_else(|p| p.into_inner());
        while *used >= MAX_CONNECTIONS {
            if stop.load(Ordering::SeqCst) {
                return false;
            }
            // Bounded wait so a shutdown is noticed even if no connection ends.
            used = self
                .freed
                .wait_timeout(used, Duration::from_millis(100))
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        *used += 1;
        true
    }

    fn release(&self) {
        let mut used = self.used.lock().unwrap_or_else(|p| p.into_inner());
        *used = used.saturating_sub(1);
        self.freed.notify_one();
    }
}

/// Releases a connection slot however the connection thread ends.
struct SlotGuard(Arc<Slots>);

impl Drop for SlotGuard {
    fn drop(&mut self) {
        self.0.release();
    }
}

/// One response, always closed after writing.
#[derive(Debug, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
    pub allow: bool,
}

impl Response {
    fn text(status: u16, body: &str) -> Response {
        Response {
            status,
            content_type: "text/plain; charset=utf-8",
            body: body.into(),
            allow: false,
        }
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        431 => "Request Header Fields Too Large",
        _ => "Unknown",
    }
}

fn serve(mut stream: TcpStream, routes: &Routes) {
    let (resp, head_only) = match read_head(&mut stream) {
        Ok(head) => match parse_request_line(&head) {
            Some((method, target)) => (route(routes, method, target), method == "HEAD"),
            None => (Response::text(400, "bad request\n"), false),
        },
        Err(status) => (
            Response::text(status, &format!("{}\n", reason(status))),
            false,
        ),
    };
    let _ = write_response(&mut stream, &resp, head_only);
    if resp.status >= 400 && resp.status != 404 && resp.status != 405 {
        linger(&mut stream);
    }
}

/// After answering a request we did not read in full, closing at once would reset the
/// connection and the client could lose the response: signal end of response, then discard
/// what the client is still sending, bounded in bytes and time.
fn linger(stream: &mut TcpStream) {
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
    let mut sink = [0u8; 4096];
    let mut left = 16 * MAX_REQUEST;
    while left > 0 {
        match stream.read(&mut sink) {
            Ok(0) | Err(_) => break,
            Ok(n) => left = left.saturating_sub(n),
        }
    }
}

/// Reads up to the blank line ending the head. Errors are the status to answer with.
fn read_head(stream: &mut impl Read) -> Result<String, u16> {
    let mut buf = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    loop {
        if let Some(end) = find_head_end(&buf) {
            buf.truncate(end);
            return String::from_utf8(buf).map_err(|_| 400);
        }
        if buf.len() > MAX_REQUEST {
            return Err(431);
        }
        match stream.read(&mut chunk) {
            Ok(0) => return Err(400),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Err(408)
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return Err(400),
        }
    }
}

fn find_head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").or_else(|| {
        // Tolerate bare-LF clients (e.g. hand-typed requests).
        buf.windows(2).position(|w| w == b"\n\n")
    })
}

/// `METHOD SP target SP HTTP/1.x`; anything else is a bad request.
fn parse_request_line(head: &str) -> Option<(&str, &str)> {
    let line = head.lines().next()?;
    let mut parts = line.split(' ');
    let method = parts.next()?;
    let target = parts.next()?;
    let version = parts.next()?;
    if parts.next().is_some() || !version.starts_with("HTTP/1.") || method.is_empty() {
        return None;
    }
    Some((method, target))
}

/// Picks the response for a method and request target.
fn route(routes: &Routes, method: &str, target: &str) -> Response {
    let path = target.split(['?', '#']).next().unwrap_or(target);
    let resp = if path == routes.healthz {
        Response {
            status: 200,
            content_type: "application/json",
            body: r#"{"status": "ok"}"#.into(),
            allow: false,
        }
    } else if path == "/versions" {
        Response {
            status: 200,
            content_type: "application/json",
            body: routes.versions_json.clone(),
            allow: false,
        }
    } else if let (true, Some(m)) = (path == "/metrics", &routes.metrics) {
        let mut snap = m.collect();
        snap.refresh_system();
        Response {
            status: 200,
            content_type: "text/plain; version=0.0.4; charset=utf-8",
            body: snap.render(),
            allow: false,
        }
    } else {
        return Response::text(404, "not found\n");
    };
    if method == "GET" || method == "HEAD" {
        resp
    } else {
        Response {
            allow: true,
            ..Response::text(405, "method not allowed\n")
        }
    }
}

fn write_response(stream: &mut impl Write, r: &Response, head_only: bool) -> std::io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n",
        r.status,
        reason(r.status),
        r.content_type,
        r.body.len()
    );
    if r.allow {
        head.push_str("Allow: GET, HEAD\r\n");
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    if !head_only {
        stream.write_all(r.body.as_bytes())?;
    }
    stream.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn routes() -> Routes {
        Routes {
            healthz: "/healthz".into(),
            versions_json: "{}".into(),
            metrics: None,
        }
    }

    #[test]
    fn routing() {
        let check = |method: &str, target: &str, status: u16| {
            assert_eq!(
                route(&routes(), method, target).status,
                status,
                "{method} {target}"
            );
        };
        check("GET", "/healthz", 200);
        check("GET", "/healthz?x=1", 200);
        check("HEAD", "/versions", 200);
        check("POST", "/healthz", 405);
        check("GET", "/metrics", 404); // no metrics source configured
        check("GET", "/", 404);
        check("DELETE", "/nope", 404);
    }

    #[test]
    fn request_line() {
        let check = |head: &str, expected: Option<(&str, &str)>| {
            assert_eq!(parse_request_line(head), expected, "{head:?}");
        };
        check(
            "GET /healthz HTTP/1.1\r\nHost: x",
            Some(("GET", "/healthz")),
        );
        check("GET /a HTTP/1.0", Some(("GET", "/a")));
        check("GET /a", None);
        check("GET /a HTTP/2", None);
        check("GET  /a HTTP/1.1", None);
        check("", None);
    }

    #[test]
    fn head_limits() {
        let check = |input: &[u8], expected: Result<&str, u16>| {
            let mut r = input;
            assert_eq!(
                read_head(&mut r).as_deref().map_err(|e| *e),
                expected,
                "{input:?}"
            );
        };
        check(b"GET / HTTP/1.1\r\n\r\nbody", Ok("GET / HTTP/1.1"));
        check(b"GET / HTTP/1.1\n\n", Ok("GET / HTTP/1.1"));
        check(b"GET / HTTP/1.1\r\n", Err(400)); // closed before the blank line
        check(&[b'a'; MAX_REQUEST + 2048], Err(431));
        check(b"GET /\xff HTTP/1.1\r\n\r\n", Err(400));
    }
}
