//! Prometheus metrics: one process-wide recorder, HTTP middleware labelled by route template,
//! and the names of the domain counters.

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Requests by method, route template and status.
pub const HTTP_REQUESTS: &str = "securechat_http_requests_total";
/// Request latency histogram by method and route template.
pub const HTTP_DURATION: &str = "securechat_http_request_duration_seconds";
/// Password logins by outcome.
pub const LOGINS: &str = "securechat_logins_total";
/// Logins refused by the IP rule, by which limit.
pub const IP_POLICY_REFUSALS: &str = "securechat_ip_policy_refusals_total";
/// Requests refused by the failed-login limiter, by scope.
pub const RATE_LIMITED: &str = "securechat_rate_limited_total";
/// Refresh tokens presented after rotation (each revoked a session).
pub const REFRESH_REUSE: &str = "securechat_refresh_token_reuse_total";
/// Failed share of password logins in the current failed-login window (gauge, 0 to 1).
pub const LOGIN_FAILURE_RATIO: &str = "securechat_login_failure_ratio";
/// Accounts created.
pub const REGISTRATIONS: &str = "securechat_registrations_total";
/// Accounts moved from a password hash to OPAQUE at a password login.
pub const OPAQUE_UPGRADES: &str = "securechat_opaque_upgrades_total";
/// Requests and messages refused because the database could not take them, by path
/// (`http`, `ws`).
pub const STORE_UNAVAILABLE: &str = "securechat_store_unavailable_total";
/// 1 while the database refuses writes (gauge, read from the store at scrape time).
pub const STORE_WRITES_FAILING: &str = "securechat_store_writes_failing";
/// TCP connections closed at once: too many open from one address.
pub const CONNECTIONS_REFUSED: &str = "securechat_connections_refused_total";
/// Active login sessions (gauge, read from the store at scrape time).
pub const ACTIVE_SESSIONS: &str = "securechat_sessions_active";

/// Handle to the process-wide Prometheus recorder.
#[derive(Clone)]
pub struct Metrics {
    handle: PrometheusHandle,
}

impl Metrics {
    /// Installs the recorder on first call (tests start many servers in one process) and
    /// returns a handle to it.
    pub fn install() -> Self {
        static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
        let handle = HANDLE.get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Suffix("_seconds".to_owned()),
                    &[
                        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                        5.0, 10.0,
                    ],
                )
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full(STORE_BATCH.to_owned()),
                        &[1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1024.0],
                    )
                })
                .map_or_else(
                    |_| PrometheusBuilder::new().build_recorder(),
                    |b| b.build_recorder(),
                );
            let handle = recorder.handle();
            // Fails only if another recorder was installed first; ours then stays unused.
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("a metrics recorder was already installed");
            }
            metrics::gauge!(BUILD_INFO, "version" => env!("CARGO_PKG_VERSION")).set(1.0);
            handle
        });
        Self {
            handle: handle.clone(),
        }
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        self.handle.run_upkeep();
        self.handle.render()
    }
}

/// Middleware counting and timing every request by its route template (low cardinality).
pub async fn track(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = request.method().as_str().to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!(HTTP_REQUESTS, "method" => method.clone(), "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!(HTTP_DURATION, "method" => method, "route" => route)
        .record(started.elapsed().as_secs_f64());
    response
}

/// Open WebSocket connections (gauge).
pub const WS_CONNECTIONS: &str = "securechat_ws_connections";
/// Messages stored durably.
pub const MESSAGES_STORED: &str = "securechat_messages_stored_total";
/// Message frames queued to live connections.
pub const MESSAGES_DELIVERED: &str = "securechat_messages_delivered_total";
/// Time from receiving a message to queueing it to its recipients (includes the commit).
pub const DELIVERY_LATENCY: &str = "securechat_delivery_latency_seconds";
/// Messages per grouped commit.
pub const STORE_BATCH: &str = "securechat_store_batch_messages";
/// Messages deleted by their sender.
pub const MESSAGES_DELETED: &str = "securechat_messages_deleted_total";
/// Self-destructing messages removed at expiry.
pub const MESSAGES_EXPIRED: &str = "securechat_messages_expired_total";
/// Files stored, and their bytes.
pub const FILES_STORED: &str = "securechat_files_stored_total";
pub const FILE_BYTES_STORED: &str = "securechat_file_bytes_stored_total";
/// Error frames sent, by code.
pub const WS_ERRORS: &str = "securechat_ws_errors_total";
/// Times a connection read missed stream events from the store (a gap, or a tip past it).
pub const STREAM_FILLS: &str = "securechat_stream_fills_total";
/// 1 while this node's connection to Redis works, 0 while it does not (cluster mode only).
pub const CLUSTER_REDIS_UP: &str = "securechat_cluster_redis_up";
/// Words published to other nodes, by channel kind (`user`, `presence`, `revoke`).
pub const CLUSTER_PUBLISHED: &str = "securechat_cluster_published_total";
/// Words not published (Redis away or the queue full); the database poll covers them.
pub const CLUSTER_DROPPED: &str = "securechat_cluster_dropped_total";
/// Words received from other nodes, by channel kind.
pub const CLUSTER_RECEIVED: &str = "securechat_cluster_received_total";
/// Other nodes this node hears from.
pub const CLUSTER_NODES: &str = "securechat_cluster_peers";
/// Words dropped because their tag did not verify (another cluster's, or forged).
pub const CLUSTER_REJECTED: &str = "securechat_cluster_rejected_total";
/// Scheduled backups (`--backup-dir`): when the last one succeeded (Unix seconds), how long it
/// took (seconds) and its size (bytes), and the failures.
pub const BACKUP_LAST_SUCCESS: &str = "securechat_backup_last_success_timestamp_seconds";
pub const BACKUP_DURATION: &str = "securechat_backup_last_duration_seconds";
pub const BACKUP_SIZE: &str = "securechat_backup_last_size_bytes";
pub const BACKUP_FAILURES: &str = "securechat_backup_failures_total";
/// Always 1, labelled with the server's version.
pub const BUILD_INFO: &str = "securechat_build_info";
