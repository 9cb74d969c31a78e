//! Access to the API and console (the `console` block): who is calling, and may they do it.
//!
//! - **Credentials**: `Authorization: Bearer <token>` with `console.token` (or
//!   `PEREGRINE_CONSOLE_TOKEN`: full access) or `console.read_only_token`; or a session
//!   cookie from `POST /api/v1/login` (a user of `console.users`, or a token, as a form or
//!   JSON body). Everything but the health path, the login and the console's login page and
//!   assets needs one while the console is on; without one the answer is 401 with
//!   `WWW-Authenticate: Bearer`; for a `GET` of a console page that 401 carries the login
//!   form, so a browser shows it in place and returns to the page after logging in.
//! - **Where from**: the console's pages and `/api/` answer loopback clients only (403 for
//!   others) unless `console.allow_remote` is set, whatever address the webserver listens on;
//!   the health and metrics paths are not the console's and stay open to probes and scrapers.
//! - **Roles**: a read-only credential may use `GET`/`HEAD` only; anything else is 403.
//! - **Cross-site requests**: the cookie is `HttpOnly; SameSite=Strict` (plus `Secure`
//!   over TLS), and a state-changing request authenticated by the cookie must also carry the
//!   session's CSRF token in `X-CSRF-Token` (returned by the login and by
//!   `GET /api/v1/session`); a page of another site can neither read it nor set the header
//!   without a CORS preflight, which this server never grants. Bearer tokens are not sent by
//!   browsers on their own, so they need no CSRF token.
//!
//! - **Guessing**: failed logins are counted per client address (an IPv6 address by its /64,
//!   which one host usually holds whole); after [`LOGIN_FAILURES`] within
//!   [`LOGIN_WINDOW`], every login from it is answered 429 with `Retry-After` until the
//!   window ends, right credentials included, so guessing goes no faster. At most
//!   [`LOGIN_TRACKED`] addresses are tracked; when more fail at once, the one that failed
//!   longest ago is forgotten first.
//!
//! Tokens and passwords are compared through their SHA-256 digests, so the time a
//! comparison takes says nothing about how much of a guess was right. Sessions live in
//! memory (a restart logs everyone out) and expire after `console.session_ttl`; at most
//! [`MAX_SESSIONS`] exist, the oldest going first.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::alerts_api::reply;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use peregrine_config::{ConsoleConfig, Role};
use ring::digest::{digest, SHA256};
use ring::rand::{SecureRandom, SystemRandom};
use serde_json::json;

/// The session cookie's name.
pub const COOKIE: &str = "peregrine_session";
/// The header carrying the CSRF token of a cookie-authenticated, state-changing request.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// Sessions kept at once.
pub const MAX_SESSIONS: usize = 1_024;
/// Failed logins an address may make within [`LOGIN_WINDOW`].
pub const LOGIN_FAILURES: u32 = 5;
/// The window failed logins are counted in, from an address's first failure.
pub const LOGIN_WINDOW: Duration = Duration::from_secs(60);
/// Addresses whose failures are tracked at once (bounded memory under a spread attack).
pub const LOGIN_TRACKED: usize = 4_096;

/// Failed logins of one address in its current window.
struct Failures {
    since: Instant,
    count: u32,
}

/// Who is calling: set on every authenticated request (an axum extension).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    /// A user's name, `token` or `read-only-token`.
    pub name: String,
    pub role: Role,
}

struct Session {
    caller: Caller,
    csrf: String,
    expires: Instant,
    created: Instant,
}

/// The credentials and the live sessions.
pub struct Access {
    /// (SHA-256 of the token, caller).
    tokens: Vec<([u8; 32], Caller)>,
    /// name → (SHA-256 of the password, role).
    users: HashMap<String, ([u8; 32], Role)>,
    ttl: Duration,
    /// Adds `Secure` to the cookie.
    tls: bool,
    /// `console.allow_remote`: answer console and API requests from other than loopback.
    remote: bool,
    sessions: Mutex<HashMap<[u8; 32], Session>>,
    failures: Mutex<HashMap<IpAddr, Failures>>,
    rng: SystemRandom,
}

/// The key an address's failures are counted under: an IPv6 address by its /64.
fn client_key(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V4(_) => addr,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
        },
    }
}

fn sha(s: &str) -> [u8; 32] {
    let d = digest(&SHA256, s.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

impl Access {
    pub fn new(cfg: &ConsoleConfig, tls: bool) -> Access {
        let mut tokens = Vec::new();
        if let Some(t) = &cfg.token {
            tokens.push((
                sha(t),
                Caller {
                    name: "token".into(),
                    role: Role::Admin,
                },
            ));
        }
        if let Some(t) = &cfg.read_only_token {
            tokens.push((
                sha(t),
                Caller {
                    name: "read-only-token".into(),
                    role: Role::ReadOnly,
                },
            ));
        }
        Access {
            tokens,
            users: cfg
                .users
                .iter()
                .map(|u| (u.name.clone(), (sha(&u.password), u.role)))
                .collect(),
            ttl: cfg.session_ttl,
            tls,
            remote: cfg.allow_remote,
            sessions: Mutex::new(HashMap::new()),
            failures: Mutex::new(HashMap::new()),
            rng: SystemRandom::new(),
        }
    }

    fn token(&self, t: &str) -> Option<Caller> {
        let d = sha(t);
        self.tokens
            .iter()
            .find(|(h, _)| *h == d)
            .map(|(_, c)| c.clone())
    }

    fn user(&self, name: &str, password: &str) -> Option<Caller> {
        let (h, role) = self.users.get(name)?;
        (*h == sha(password)).then(|| Caller {
            name: name.to_string(),
            role: *role,
        })
    }

    /// How long `addr` must wait before its next login, when it has failed too often.
    fn login_blocked(&self, addr: IpAddr, now: Instant) -> Option<Duration> {
        let f = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let e = f.get(&client_key(addr))?;
        let ends = e.since + LOGIN_WINDOW;
        (e.count >= LOGIN_FAILURES && ends > now).then(|| ends - now)
    }

    /// Counts a failed login of `addr`.
    fn login_failed(&self, addr: IpAddr, now: Instant) {
        let mut f = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let key = client_key(addr);
        if !f.contains_key(&key) && f.len() >= LOGIN_TRACKED {
            f.retain(|_, e| e.since + LOGIN_WINDOW > now);
            if f.len() >= LOGIN_TRACKED {
                if let Some(oldest) = f.iter().min_by_key(|(_, e)| e.since).map(|(k, _)| *k) {
                    f.remove(&oldest);
                }
            }
        }
        let e = f.entry(key).or_insert(Failures {
            since: now,
            count: 0,
        });
        if e.since + LOGIN_WINDOW <= now {
            *e = Failures {
                since: now,
                count: 0,
            };
        }
        e.count = e.count.saturating_add(1);
    }

    /// A successful login clears the address's failures.
    fn login_succeeded(&self, addr: IpAddr) {
        let mut f = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        f.remove(&client_key(addr));
    }

    fn random(&self) -> Option<String> {
        let mut b = [0u8; 32];
        self.rng.fill(&mut b).ok()?;
        Some(hex(&b))
    }

    /// A new session for `caller`: (cookie value, CSRF token).
    fn open(&self, caller: Caller) -> Option<(String, String)> {
        let id = self.random()?;
        let csrf = self.random()?;
        let now = Instant::now();
        let mut s = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        s.retain(|_, v| v.expires > now);
        if s.len() >= MAX_SESSIONS {
            if let Some(oldest) = s.iter().min_by_key(|(_, v)| v.created).map(|(k, _)| *k) {
                s.remove(&oldest);
            }
        }
        s.insert(
            sha(&id),
            Session {
                caller,
                csrf: csrf.clone(),
                expires: now + self.ttl,
                created: now,
            },
        );
        Some((id, csrf))
    }

    /// The session of a cookie value: (caller, CSRF token).
    fn session(&self, id: &str) -> Option<(Caller, String)> {
        let mut s = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        let key = sha(id);
        let now = Instant::now();
        match s.get(&key) {
            Some(v) if v.expires > now => Some((v.caller.clone(), v.csrf.clone())),
            Some(_) => {
                s.remove(&key);
                None
            }
            None => None,
        }
    }

    fn close(&self, id: &str) {
        let mut s = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        s.remove(&sha(id));
    }

    fn cookie(&self, value: &str, max_age: u64) -> String {
        format!(
            "{COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{}",
            if self.tls { "; Secure" } else { "" }
        )
    }
}

fn unauthorized() -> Response {
    let mut r = reply(
        StatusCode::UNAUTHORIZED,
        &json!({"error": "authentication required"}),
    );
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"peregrine\""),
    );
    r
}

fn forbidden(message: &str) -> Response {
    reply(StatusCode::FORBIDDEN, &json!({ "error": message }))
}

/// The session cookie's value in `headers`, if any.
fn cookie_value(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|kv| {
            let (k, v) = kv.trim().split_once('=')?;
            (k == COOKIE).then_some(v)
        })
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

fn safe_method(m: &Method) -> bool {
    m == Method::GET || m == Method::HEAD
}

/// The console's pages and the API, as opposed to the health and metrics paths.
fn console_path(path: &str) -> bool {
    path == crate::console::PREFIX || path.starts_with("/console/") || path.starts_with("/api/")
}

/// Loopback, including an IPv4 loopback address carried in IPv6 (a dual-stack listener).
fn loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map_or(v6.is_loopback(), |v4| v4.is_loopback()),
        IpAddr::V4(v4) => v4.is_loopback(),
    }
}

/// Paths served without a credential: the login itself, the console's login page and its
/// assets (static, the same for everyone).
fn open_path(path: &str) -> bool {
    path == LOGIN || path == crate::console::LOGIN_PAGE || path.starts_with(crate::console::ASSETS)
}

/// No valid credential: 401 everywhere; a browser asking for a console page gets the login
/// form as that 401's body, anything else (the API, other paths, other methods) a JSON reason.
fn refuse(req: &Request) -> Response {
    let path = req.uri().path();
    let page = path == crate::console::PREFIX || path.starts_with("/console/");
    if page && safe_method(req.method()) {
        return crate::console::login_required();
    }
    unauthorized()
}

/// The middleware over every route while the console is on.
pub async fn require(State(access): State<Arc<Access>>, mut req: Request, next: Next) -> Response {
    if !access.remote && console_path(req.uri().path()) {
        // The server records every connection's peer; a router used on its own has none.
        let peer = req.extensions().get::<ConnectInfo<SocketAddr>>();
        if peer.is_some_and(|ConnectInfo(a)| !loopback(a.ip())) {
            return forbidden("the console answers loopback clients only (console.allow_remote)");
        }
    }
    if open_path(req.uri().path()) {
        return next.run(req).await;
    }
    let headers = req.headers();
    let caller = if let Some(t) = bearer(headers) {
        match access.token(t) {
            Some(c) => c,
            None => return unauthorized(),
        }
    } else if let Some(id) = cookie_value(headers) {
        let Some((caller, csrf)) = access.session(id) else {
            return refuse(&req);
        };
        if !safe_method(req.method()) {
            let sent = headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
            if sent.map(sha) != Some(sha(&csrf)) {
                return forbidden("missing or wrong X-CSRF-Token for a cookie session");
            }
        }
        caller
    } else {
        return refuse(&req);
    };
    if caller.role == Role::ReadOnly && !safe_method(req.method()) && req.uri().path() != LOGOUT {
        return forbidden("read-only credential");
    }
    req.extensions_mut().insert(caller);
    next.run(req).await
}

/// `POST`: a form or JSON body with `user` and `password`, or `token`.
pub const LOGIN: &str = "/api/v1/login";
/// `POST`: ends the cookie's session.
pub const LOGOUT: &str = "/api/v1/logout";
/// `GET`: who the caller is, and for a cookie session its CSRF token.
pub const SESSION: &str = "/api/v1/session";

/// Fields of a login body, form-encoded or JSON.
fn login_fields(headers: &HeaderMap, body: &[u8]) -> Option<HashMap<String, String>> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())?;
    match ct.as_str() {
        "application/x-www-form-urlencoded" => Some(
            form_urlencoded::parse(body)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        ),
        "application/json" => {
            let v: serde_json::Value = serde_json::from_slice(body).ok()?;
            Some(
                v.as_object()?
                    .iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                    .collect(),
            )
        }
        _ => None,
    }
}

async fn login(
    State(access): State<Arc<Access>>,
    peer: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // The server inserts the peer of every connection; without one (a router used on its
    // own), no limit applies.
    let peer = peer.map(|axum::Extension(ConnectInfo(a))| a.ip());
    let now = Instant::now();
    if let Some(wait) = peer.and_then(|p| access.login_blocked(p, now)) {
        // Whole seconds, rounded up: a client retrying at Retry-After is not refused again.
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        let mut r = reply(
            StatusCode::TOO_MANY_REQUESTS,
            &json!({"error": "too many failed logins from this address; retry later"}),
        );
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
        return r;
    }
    let Some(f) = login_fields(&headers, &body) else {
        return reply(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            &json!({"error": "send a form (application/x-www-form-urlencoded) or JSON body"}),
        );
    };
    let caller = match (f.get("user"), f.get("password"), f.get("token")) {
        (Some(u), Some(p), _) => access.user(u, p),
        (_, _, Some(t)) => access.token(t),
        _ => None,
    };
    let Some(caller) = caller else {
        if let Some(p) = peer {
            access.login_failed(p, now);
        }
        // The same answer for an unknown user and a wrong password.
        return unauthorized();
    };
    if let Some(p) = peer {
        access.login_succeeded(p);
    }
    let Some((id, csrf)) = access.open(caller.clone()) else {
        return reply(
            StatusCode::INTERNAL_SERVER_ERROR,
            &json!({"error": "no randomness for a session"}),
        );
    };
    let mut r = reply(
        StatusCode::OK,
        &json!({"user": caller.name, "role": role_name(caller.role), "csrf_token": csrf}),
    );
    if let Ok(v) = HeaderValue::from_str(&access.cookie(&id, access.ttl.as_secs())) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

async fn logout(State(access): State<Arc<Access>>, headers: HeaderMap) -> Response {
    if let Some(id) = cookie_value(&headers) {
        access.close(id);
    }
    let mut r = reply(StatusCode::OK, &json!({"logged_out": true}));
    if let Ok(v) = HeaderValue::from_str(&access.cookie("", 0)) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

async fn session(
    State(access): State<Arc<Access>>,
    headers: HeaderMap,
    caller: Option<axum::Extension<Caller>>,
) -> Response {
    let Some(axum::Extension(caller)) = caller else {
        return unauthorized();
    };
    let csrf = cookie_value(&headers)
        .and_then(|id| access.session(id))
        .map(|(_, c)| c);
    reply(
        StatusCode::OK,
        &json!({"user": caller.name, "role": role_name(caller.role), "csrf_token": csrf}),
    )
}

pub fn role_name(r: Role) -> &'static str {
    match r {
        Role::Admin => "admin",
        Role::ReadOnly => "read_only",
    }
}

/// The login, logout and session routes.
pub fn routes(access: Arc<Access>) -> Router {
    Router::new()
        .route(LOGIN, post(login))
        .route(LOGOUT, post(logout))
        .route(SESSION, get(session))
        .with_state(access)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Status of `GET path` with a valid token through the real middleware, the request
    /// coming from `peer` as the server would record it.
    fn status_from(allow_remote: bool, peer: &str, path: &str) -> u16 {
        use tower::ServiceExt;
        let token = "t0123456789abcdef";
        let cfg = ConsoleConfig {
            enabled: true,
            token: Some(token.into()),
            allow_remote,
            ..ConsoleConfig::default()
        };
        let app = Router::new()
            .route("/{*rest}", get(|| async { "ok" }))
            .layer(axum::middleware::from_fn_with_state(
                Arc::new(Access::new(&cfg, false)),
                require,
            ));
        let mut req = Request::builder()
            .uri(path)
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(axum::body::Body::empty())
            .expect("request");
        let addr: SocketAddr = peer.parse().expect("peer");
        req.extensions_mut().insert(ConnectInfo(addr));
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        let resp = rt.block_on(app.oneshot(req)).expect("response");
        resp.status().as_u16()
    }

    #[test]
    fn the_console_answers_remote_clients_only_when_allowed() {
        for path in [
            "/console/",
            "/console/login",
            "/api/v1/alerts",
            "/api/v1/login",
        ] {
            for peer in [
                "192.0.2.7:5000",
                "[2001:db8::7]:5000",
                "[::ffff:192.0.2.7]:5000",
            ] {
                assert_eq!(status_from(false, peer, path), 403, "{peer} {path}");
                assert_eq!(status_from(true, peer, path), 200, "{peer} {path} allowed");
            }
            for peer in ["127.0.0.1:5000", "[::1]:5000", "[::ffff:127.0.0.1]:5000"] {
                assert_eq!(status_from(false, peer, path), 200, "{peer} {path}");
            }
        }
        // Probes and scrapers reach the paths that are not the console's from anywhere.
        assert_eq!(status_from(false, "192.0.2.7:5000", "/metrics"), 200);
    }

    #[test]
    fn failures_are_counted_per_address_for_one_window() {
        let access = Access::new(&ConsoleConfig::default(), false);
        let t0 = Instant::now();
        let a: IpAddr = "192.0.2.7".parse().expect("ip");
        for _ in 0..LOGIN_FAILURES {
            assert_eq!(access.login_blocked(a, t0), None);
            access.login_failed(a, t0);
        }
        assert_eq!(access.login_blocked(a, t0), Some(LOGIN_WINDOW));
        // Another address is not affected; the window's end lifts the block.
        assert_eq!(
            access.login_blocked("192.0.2.8".parse().expect("ip"), t0),
            None
        );
        assert_eq!(access.login_blocked(a, t0 + LOGIN_WINDOW), None);
        // A new window starts counting from one.
        access.login_failed(a, t0 + LOGIN_WINDOW);
        assert_eq!(access.login_blocked(a, t0 + LOGIN_WINDOW), None);
        // A success clears the count.
        for _ in 0..LOGIN_FAILURES {
            access.login_failed(a, t0 + LOGIN_WINDOW);
        }
        access.login_succeeded(a);
        assert_eq!(access.login_blocked(a, t0 + LOGIN_WINDOW), None);
    }

    #[test]
    fn an_ipv6_host_is_counted_by_its_64() {
        let k = |s: &str| client_key(s.parse().expect("ip"));
        assert_eq!(k("2001:db8:1:2:aaaa::1"), k("2001:db8:1:2:ffff::9"));
        assert_ne!(k("2001:db8:1:2::1"), k("2001:db8:1:3::1"));
        assert_eq!(k("::ffff:192.0.2.1"), k("192.0.2.1"));
    }

    #[test]
    fn tracked_addresses_are_bounded() {
        let access = Access::new(&ConsoleConfig::default(), false);
        let t0 = Instant::now();
        for i in 0..(LOGIN_TRACKED as u32 + 10) {
            access.login_failed(IpAddr::from(i.to_be_bytes()), t0);
        }
        let n = access.failures.lock().map(|f| f.len()).unwrap_or(0);
        assert_eq!(n, LOGIN_TRACKED);
    }
}
