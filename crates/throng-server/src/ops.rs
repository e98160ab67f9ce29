//! Operations endpoints: `/metrics` (Prometheus text), `/healthz` (the process answers),
//! `/readyz` (accepting clients: not draining).

use crate::node::Node;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use std::sync::Arc;

pub async fn metrics(State(node): State<Arc<Node>>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        node.metrics.render(),
    )
}

pub async fn healthz() -> &'static str {
    "ok"
}

pub async fn readyz(State(node): State<Arc<Node>>) -> impl IntoResponse {
    if node.is_draining() {
        (StatusCode::SERVICE_UNAVAILABLE, "draining")
    } else {
        (StatusCode::OK, "ready")
    }
}
