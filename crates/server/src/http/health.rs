//! Liveness, readiness and metrics.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::clock::now_ms;
use crate::error::ApiError;
use crate::metrics::{ACTIVE_SESSIONS, STORE_WRITES_FAILING};
use crate::state::AppState;

/// Liveness and readiness, and `/metrics` unless it has a listener of its own.
pub fn routes(metrics_here: bool) -> Router<AppState> {
    let router = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz));
    if metrics_here {
        router.route("/metrics", get(metrics))
    } else {
        router
    }
}

/// `/metrics` alone, for its own listener (kept off the public one).
pub fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .with_state(state)
}

/// `GET /healthz`: the process is up.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, description = "up")))]
pub async fn healthz() -> impl IntoResponse {
    Json(json!({"status": "ok"}))
}

/// `GET /readyz`: the database answers and takes writes. A cluster node stays ready while
/// Redis is away (delivery goes on from the database, more slowly) and says so:
/// `{"status":"ready","cluster":{"node":"n-…","redis":"down"}}`.
#[utoipa::path(get, path = "/readyz", tag = "operations", responses(
    (status = 200, description = "ready (a cluster node tells whether Redis is up)"),
    (status = 503, description = "database unreachable or refusing writes", body = securechat_proto::error::ErrorBody)))]
pub async fn readyz(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    state.store().ping().await.map_err(ApiError::Unavailable)?;
    let cluster = state.cluster();
    Ok(Json(match (cluster.node_id(), cluster.redis_up()) {
        (Some(node), Some(up)) => json!({
            "status": "ready",
            "cluster": {"node": node, "redis": if up { "up" } else { "down" }},
        }),
        _ => json!({"status": "ready"}),
    }))
}

/// `GET /metrics`: Prometheus text exposition.
#[utoipa::path(get, path = "/metrics", tag = "operations", responses((status = 200, description = "Prometheus text format")))]
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let failing = state.store().write_failure().is_some();
    metrics::gauge!(STORE_WRITES_FAILING).set(if failing { 1.0 } else { 0.0 });
    match state.store().count_active_sessions(now_ms()).await {
        #[allow(clippy::cast_precision_loss)] // session counts are far below 2^52
        Ok(n) => metrics::gauge!(ACTIVE_SESSIONS).set(n as f64),
        Err(e) => tracing::warn!(error = %e, "could not count active sessions"),
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics().render(),
    )
}
