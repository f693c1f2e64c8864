//! `GET /api/v1/server`: what a client shows before anyone is signed in (how to register).

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};

use securechat_proto::auth::ServerInfo;

use crate::error::ApiError;
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/server", get(server_info))
}

/// `GET /api/v1/server`: the version and the registration mode.
#[utoipa::path(get, path = "/api/v1/server", tag = "accounts",
    responses((status = 200, body = ServerInfo)))]
pub async fn server_info(State(state): State<AppState>) -> Result<Json<ServerInfo>, ApiError> {
    Ok(Json(ServerInfo {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        registration: state.settings().registration,
        first_account: !state.store().has_accounts().await?,
        password_reset_email: state.settings().mail.is_some(),
        password_logins: state.settings().password_logins,
    }))
}
