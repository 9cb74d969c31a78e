//! The silences API (Peregrine extension, `silences_api.enabled`): JSON over the agent's web
//! server.
//!
//! - `GET /api/v1/silences`: every silence with its state and count;
//! - `POST /api/v1/silences`: creates one from `{"matchers": [...], "ends_at" |
//!   "duration_seconds", "starts_at"?, "weekly"?, "comment"?, "created_by"?, "id"?}` →
//!   201 and the silence;
//! - `GET /api/v1/silences/{id}`: one silence;
//! - `DELETE /api/v1/silences/{id}`: expires it now → 200 and the expired silence.
//!
//! Errors are JSON `{"error": "..."}` with 400 (bad body, naming the key), 404, 405, 409
//! (an id in use, or a configuration silence), 413 (body over the server's limit), 415 (a
//! body that is not `application/json`) and 507 (too many silences).
//!
//! Like Falco's web server the API is unauthenticated: whoever reaches it can silence
//! alerts. It is off unless enabled, and the agent warns when it is served on an address
//! other than loopback. Requiring `Content-Type: application/json` on `POST` (and using
//! `DELETE`) means a web page in a local browser cannot call it cross-origin without a CORS
//! preflight, which this server never grants.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use peregrine_store::writer::now_ns;
use peregrine_triage::silence::valid_id;
use peregrine_triage::{ApiError, Silences};

use crate::alerts_api::{error, reply};

/// The collection's path.
pub const PATH: &str = "/api/v1/silences";

fn api_error(e: &ApiError) -> Response {
    let status = match e {
        ApiError::Invalid(_) => StatusCode::BAD_REQUEST,
        ApiError::NotFound(_) => StatusCode::NOT_FOUND,
        ApiError::Conflict(_) => StatusCode::CONFLICT,
        ApiError::Full => StatusCode::INSUFFICIENT_STORAGE,
        ApiError::Persist(_) => {
            log::error!("silences API: {e}");
            StatusCode::INTERNAL_SERVER_ERROR
        }
    };
    error(status, &e.to_string())
}

fn not_allowed(allow: &'static str) -> Response {
    (
        StatusCode::METHOD_NOT_ALLOWED,
        [
            (header::ALLOW, allow),
            (header::CONTENT_TYPE, "application/json"),
        ],
        "{\"error\": \"method not allowed\"}\n",
    )
        .into_response()
}

async fn list(State(s): State<Arc<Silences>>) -> Response {
    reply(StatusCode::OK, &s.list(now_ns()))
}

async fn create(State(s): State<Arc<Silences>>, headers: HeaderMap, body: Bytes) -> Response {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';')
                .next()
                .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
        });
    if !json {
        return error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "the body must be JSON (Content-Type: application/json)",
        );
    }
    // Writes the state file: off the connection task.
    let result = tokio::task::spawn_blocking(move || s.create(&body, now_ns())).await;
    match result {
        Ok(Ok(v)) => reply(StatusCode::CREATED, &v),
        Ok(Err(e)) => api_error(&e),
        Err(_) => error(StatusCode::INTERNAL_SERVER_ERROR, "internal error"),
    }
}

async fn one(State(s): State<Arc<Silences>>, Path(id): Path<String>) -> Response {
    if !valid_id(&id) {
        return error(StatusCode::NOT_FOUND, "no such silence");
    }
    match s.get(&id, now_ns()) {
        Some(v) => reply(StatusCode::OK, &v),
        None => api_error(&ApiError::NotFound(id)),
    }
}

async fn expire(State(s): State<Arc<Silences>>, Path(id): Path<String>) -> Response {
    if !valid_id(&id) {
        return error(StatusCode::NOT_FOUND, "no such silence");
    }
    let result = tokio::task::spawn_blocking(move || s.expire(&id, now_ns())).await;
    match result {
        Ok(Ok(v)) => reply(StatusCode::OK, &v),
        Ok(Err(e)) => api_error(&e),
        Err(_) => error(StatusCode::INTERNAL_SERVER_ERROR, "internal error"),
    }
}

/// The API's routes over `store`.
pub fn routes(store: Arc<Silences>) -> Router {
    Router::new()
        .route(
            PATH,
            get(list)
                .post(create)
                .fallback(|| async { not_allowed("GET, HEAD, POST") }),
        )
        .route(
            &format!("{PATH}/{{id}}"),
            get(one)
                .delete(expire)
                .fallback(|| async { not_allowed("GET, HEAD, DELETE") }),
        )
        .with_state(store)
}
