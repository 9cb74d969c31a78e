//! The isolated containers (Peregrine extension, served with the silences API when
//! `silences_api.enabled` and response policies are loaded): JSON over the agent's web
//! server.
//!
//! - `GET /api/v1/isolated`: every container an `isolate` action cut off (this run or an
//!   earlier one: the list is kept in `state_dir`);
//! - `POST /api/v1/containers/{id}/unisolate`: removes the rules from the container's network
//!   namespace and forgets it → 200 and the record (`rules_removed: false` when the namespace
//!   had gone with the container); `{id}` is the full id or a prefix of at least 12 hex digits.
//!
//! Errors are JSON `{"error": "..."}` with 404 (no such isolated container) and 500 (nft or
//! the state file failed; the container stays listed, so the call can be repeated). Like the
//! silences API it is unauthenticated (see [`crate::silences`] for why `POST` keeps a page in
//! a browser from calling it cross-origin without a preflight this server never grants).

use std::sync::Arc;

use crate::alerts_api::reply;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use peregrine_response::isolate::{IsolateError, Registry};
use serde_json::json;

/// The list's path.
pub const LIST_PATH: &str = "/api/v1/isolated";

async fn list(State(r): State<Arc<Registry>>) -> Response {
    reply(StatusCode::OK, &r.list())
}

async fn unisolate(State(r): State<Arc<Registry>>, Path(id): Path<String>) -> Response {
    if !(12..=64).contains(&id.len()) || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return reply(
            StatusCode::NOT_FOUND,
            &json!({"error": "no isolated container with that id"}),
        );
    }
    // Runs nft and writes the state file: off the connection task.
    let result = tokio::task::spawn_blocking(move || r.unisolate(&id)).await;
    match result {
        Ok(Ok(v)) => reply(StatusCode::OK, &v),
        Ok(Err(e @ IsolateError::NotFound(_))) => {
            reply(StatusCode::NOT_FOUND, &json!({"error": e.to_string()}))
        }
        Ok(Err(e)) => {
            // The error's text is escaped where it is made (it may quote nft's stderr).
            log::error!("unisolate API: {e}");
            reply(
                StatusCode::INTERNAL_SERVER_ERROR,
                &json!({"error": e.to_string()}),
            )
        }
        Err(_) => reply(
            StatusCode::INTERNAL_SERVER_ERROR,
            &json!({"error": "internal error"}),
        ),
    }
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

/// The API's routes over `registry`.
pub fn routes(registry: Arc<Registry>) -> Router {
    Router::new()
        .route(
            LIST_PATH,
            get(list).fallback(|| async { not_allowed("GET, HEAD") }),
        )
        .route(
            "/api/v1/containers/{id}/unisolate",
            post(unisolate).fallback(|| async { not_allowed("POST") }),
        )
        .with_state(registry)
}
