//! The fleet API (`peregrine server`): the hosts that report to the server and the coverage.
//!
//! - `GET /api/v1/fleet/hosts` → `{"window_s", "expected", "reporting", "missing": [host…],
//!   "hosts": [{host, labels, last_seen_ns, age_s, version, rules_hash, config_hash, events,
//!   drops, uptime_s, alerts, expected, covered}]}`
//!
//! Served only with the console (its access rules apply), as the alerts API is; the alerts
//! of the whole fleet are the alerts API's, filtered with `host=`. The view itself is the
//! fleet crate's: this module only knows the [`FleetView`] trait, so the web crate does not
//! depend on NATS.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::sync::Arc;

/// Where the hosts document comes from.
pub trait FleetView: Send + Sync + 'static {
    /// The `/api/v1/fleet/hosts` document as of now.
    fn hosts(&self) -> serde_json::Value;
}

async fn hosts(State(view): State<Arc<dyn FleetView>>) -> Response {
    // Cheap (an in-memory table), but kept off the connection task as the store calls are.
    match tokio::task::spawn_blocking(move || view.hosts()).await {
        Ok(doc) => {
            let mut text = doc.to_string();
            text.push('\n');
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                text,
            )
                .into_response()
        }
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// The API's routes.
pub fn routes(view: Arc<dyn FleetView>) -> Router {
    Router::new()
        .route("/api/v1/fleet/hosts", get(hosts))
        .with_state(view)
}
