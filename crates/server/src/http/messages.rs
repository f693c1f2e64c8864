//! Conversation history.

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;

use securechat_proto::ids::UserId;
use securechat_proto::messages::{HistoryItem, HistoryPage, HISTORY_MAX_LIMIT};
use securechat_store::model::StoredMessage;
use uuid::Uuid;

use crate::auth::extract::AuthUser;
use crate::clock::now_ms;
use crate::error::ApiError;
use crate::http::json::ApiQuery;
use crate::state::AppState;

/// Messages per page when `limit` is not given.
const DEFAULT_LIMIT: u32 = 50;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/conversations/{user_id}/messages", get(history))
        .route("/api/v1/groups/{id}/messages", get(group_history))
}

/// Query of the history endpoint.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct HistoryQuery {
    /// Only messages with a seq below this (from `next_before` of the previous page).
    pub before: Option<u64>,
    /// Page size, 1 to 200 (default 50).
    pub limit: Option<u32>,
}

/// `GET /api/v1/conversations/{user_id}/messages`: the caller's conversation with a user,
/// newest first; only the caller's own conversations exist for them.
#[utoipa::path(get, path = "/api/v1/conversations/{user_id}/messages", tag = "messages",
    security(("bearer" = [])),
    params(("user_id" = String, Path, description = "the other user's id"), HistoryQuery),
    responses(
        (status = 200, body = HistoryPage),
        (status = 404, description = "no such user", body = securechat_proto::error::ErrorBody),
        (status = 422, description = "bad limit or id", body = securechat_proto::error::ErrorBody)))]
pub async fn history(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(peer): Path<String>,
    ApiQuery(query): ApiQuery<HistoryQuery>,
) -> Result<Json<HistoryPage>, ApiError> {
    let peer: UserId = peer
        .parse()
        .map_err(|_| ApiError::field("user_id", "not a UUID"))?;
    let limit = page_limit(&query)?;
    // A deleted account's conversation stays readable: what the caller sent is still there.
    if state.store().get_user(peer).await?.is_none() {
        return Err(ApiError::NotFound);
    }
    let rows = state
        .store()
        .history(auth.user_id, peer, query.before, limit, now_ms())
        .await?;
    Ok(Json(page(rows, limit)))
}

/// `GET /api/v1/groups/{id}/messages`: the group's messages the caller received (was a
/// member when they were sent), newest first; `404` when the caller is not a member and
/// received none of them.
#[utoipa::path(get, path = "/api/v1/groups/{id}/messages", tag = "groups",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "the group id"), HistoryQuery),
    responses(
        (status = 200, body = HistoryPage),
        (status = 404, description = "not a group of the caller", body = securechat_proto::error::ErrorBody),
        (status = 422, description = "bad limit or id", body = securechat_proto::error::ErrorBody)))]
pub async fn group_history(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(group): Path<String>,
    ApiQuery(query): ApiQuery<HistoryQuery>,
) -> Result<Json<HistoryPage>, ApiError> {
    let group: Uuid = group
        .parse()
        .map_err(|_| ApiError::field("id", "not a UUID"))?;
    let limit = page_limit(&query)?;
    let rows = state
        .store()
        .group_history(auth.user_id, group, query.before, limit, now_ms())
        .await?;
    if rows.is_empty() && query.before.is_none() {
        let members = state.store().group_members(group).await?;
        if !members.iter().any(|m| m.user == auth.user_id) {
            return Err(ApiError::NotFound);
        }
    }
    Ok(Json(page(rows, limit)))
}

fn page_limit(query: &HistoryQuery) -> Result<u32, ApiError> {
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=HISTORY_MAX_LIMIT).contains(&limit) {
        return Err(ApiError::field("limit", "limit must be between 1 and 200"));
    }
    Ok(limit)
}

/// A page of history from the stored rows (`limit` asked for).
fn page(rows: Vec<StoredMessage>, limit: u32) -> HistoryPage {
    let full = rows.len() == limit as usize;
    let messages: Vec<HistoryItem> = rows
        .into_iter()
        .filter_map(|m| {
            Some(HistoryItem {
                seq: m.seq,
                from: m.from,
                ts: m.ts,
                envelope: serde_json::from_str(&m.envelope).ok()?,
                expires_at: m.expires_at,
            })
        })
        .collect();
    let next_before = if full {
        messages.last().map(|m| m.seq)
    } else {
        None
    };
    HistoryPage {
        messages,
        next_before,
    }
}
