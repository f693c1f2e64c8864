//! Groups: the membership chains (docs/PROTOCOL.md §17). The server verifies every change
//! with the same rules as the clients (`securechat_crypto::group`) and checks that each named
//! member is a registered account with that identity key, then stores it by compare-and-swap
//! on the group's last change. It cannot make a change itself: every change is signed by the
//! member who made it, and clients verify the whole chain again.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use uuid::Uuid;

use securechat_crypto::group::{Change, GroupState, Op, SignedChange};
use securechat_proto::b64;
use securechat_proto::groups::{GroupChangeStored, GroupChanges, GroupSummary, SignedGroupChange};
use securechat_proto::ids::UserId;
use securechat_store::error::Conflict;
use securechat_store::groups::{GroupChangeRow, GroupMemberRow, NewGroupChange};
use securechat_store::StoreError;

use crate::auth::extract::AuthUser;
use crate::clock::now_ms;
use crate::error::ApiError;
use crate::http::json::{ApiJson, ApiQuery};
use crate::realtime::work::Job;
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/groups", get(my_groups))
        .route("/api/v1/groups/{id}/changes", get(changes).post(append))
}

/// Query of the changes listing.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ChangesQuery {
    /// The first seq to list (default 0: the whole chain).
    pub from: Option<u64>,
}

fn group_id(text: &str) -> Result<Uuid, ApiError> {
    let id: Uuid = text
        .parse()
        .map_err(|_| ApiError::field("id", "not a UUID"))?;
    if id.hyphenated().to_string() != text {
        return Err(ApiError::field(
            "id",
            "a group id is written in lower-case hyphenated form",
        ));
    }
    // Random (version 4), as PROTOCOL.md §17.1 says: never a derived 1:1 conversation id
    // (version 8), which anyone could compute for two other people.
    if id.get_version_num() != 4 {
        return Err(ApiError::field(
            "id",
            "a group id is a random (version 4) UUID",
        ));
    }
    Ok(id)
}

fn signed(row: &GroupChangeRow) -> Result<SignedChange, ApiError> {
    let sig = <[u8; 64]>::try_from(row.sig.as_slice()).map_err(|_| {
        ApiError::fault(format!(
            "stored group change {} has a bad signature length",
            row.seq
        ))
    })?;
    Ok(SignedChange {
        bytes: row.change.clone(),
        sig,
    })
}

/// The stored chain, verified (a chain that no longer verifies is a server fault).
async fn verified_chain(state: &AppState, group: Uuid) -> Result<Option<GroupState>, ApiError> {
    let rows = state.store().group_changes(group, 0).await?;
    if rows.is_empty() {
        return Ok(None);
    }
    let chain = rows.iter().map(signed).collect::<Result<Vec<_>, _>>()?;
    GroupState::verify(&chain).map(Some).map_err(|e| {
        ApiError::fault(format!(
            "stored chain of group {group} does not verify: {e}"
        ))
    })
}

/// Every member a change brings in (`create`, `add`), and its author, must be a live account
/// registered with exactly the identity key the change gives it. Members a change names
/// otherwise are in the verified state already (checked when they came in): an admin can
/// still remove a member whose account was deleted since.
async fn check_accounts(state: &AppState, change: &Change) -> Result<(), ApiError> {
    let joining = matches!(change.op, Op::Create | Op::Add);
    let mut named: Vec<(UserId, [u8; 32])> = change
        .members
        .iter()
        .filter(|_| joining)
        .map(|m| (m.user_id, m.ik.to_bytes()))
        .collect();
    named.push((change.author, change.author_ik.to_bytes()));
    for (user, ik) in named {
        let account = state.store().get_user(user).await?;
        match account {
            Some(a) if a.deleted_at.is_none() && a.identity_key == ik => {}
            Some(a) if a.deleted_at.is_none() => {
                return Err(ApiError::InvalidGroupChange(format!(
                    "{user} is registered with another identity key than the change gives it"
                )))
            }
            _ => {
                return Err(ApiError::InvalidGroupChange(format!(
                    "{user} is not a registered account"
                )))
            }
        }
    }
    Ok(())
}

/// `POST /api/v1/groups/{id}/changes`: stores the next change of a group (seq 0 creates it).
/// The caller must be the change's author; the change must extend the stored chain by the
/// chain's rules.
#[utoipa::path(post, path = "/api/v1/groups/{id}/changes", tag = "groups",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "the group id")),
    request_body = SignedGroupChange,
    responses(
        (status = 201, body = GroupChangeStored),
        (status = 409, description = "another change was stored first (`group_conflict`)", body = securechat_proto::error::ErrorBody),
        (status = 422, description = "the change breaks the chain's rules (`invalid_group_change`) or a field is invalid", body = securechat_proto::error::ErrorBody)))]
#[tracing::instrument(skip_all, fields(user.id = %auth.user_id))]
pub async fn append(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<SignedGroupChange>,
) -> Result<(StatusCode, Json<GroupChangeStored>), ApiError> {
    let group = group_id(&id)?;
    let signed = SignedChange {
        bytes: b64::decode(&body.change).map_err(|e| ApiError::field("change", e.to_string()))?,
        sig: b64::decode_array(&body.sig).map_err(|e| ApiError::field("sig", e.to_string()))?,
    };
    let change = signed
        .open()
        .map_err(|e| ApiError::InvalidGroupChange(e.to_string()))?;
    if change.group_id.0 != group {
        return Err(ApiError::field("change", "the change is for another group"));
    }
    if change.author != auth.user_id {
        return Err(ApiError::InvalidGroupChange(
            "the change's author is not you: each member submits the changes it signed".to_owned(),
        ));
    }
    let next = match verified_chain(&state, group).await? {
        None => GroupState::genesis(&signed),
        // A change made on a head that has moved on: the caller's race, told as such.
        Some(current) if change.seq <= current.seq() => {
            return Err(StoreError::Conflict(Conflict::GroupHead).into())
        }
        Some(current) => current.apply(&signed),
    }
    .map_err(|e| ApiError::InvalidGroupChange(e.to_string()))?;
    check_accounts(&state, &change).await?;
    let members = next
        .members()
        .iter()
        .map(|(user, m)| GroupMemberRow {
            user: *user,
            admin: m.admin,
        })
        .collect();
    state
        .store()
        .append_group_change(&NewGroupChange {
            group_id: group,
            seq: change.seq,
            change: signed.bytes,
            sig: signed.sig.to_vec(),
            stored_at: now_ms(),
            members,
        })
        .await?;
    tracing::info!(group = %group, seq = change.seq, op = change.op.as_str(), "group change stored");
    // Everyone the change concerns (the members after it, and those it removed) is told at
    // once, on every node; clients then fetch and verify the change themselves. The word goes
    // through the delivery task, so that it follows every message stored before the change
    // (a member told first would judge such a message by the newer membership).
    let mut told: Vec<UserId> = next
        .members()
        .keys()
        .copied()
        .chain(change.members.iter().map(|m| m.user_id))
        .collect();
    told.sort_unstable();
    told.dedup();
    let job = Job::GroupChanged {
        group,
        seq: change.seq,
        users: told,
    };
    if state.delivery().submit(job).await.is_err() {
        tracing::warn!(group = %group, "the server is stopping: members learn of the change when they reconnect");
    }
    Ok((
        StatusCode::CREATED,
        Json(GroupChangeStored { seq: change.seq }),
    ))
}

/// `GET /api/v1/groups/{id}/changes?from=N`: the group's changes from `from` on, for its
/// members; a former member gets them up to the last change that names them (the one that
/// took them out) and nothing made after; `404` for everyone else, as for a group that does
/// not exist.
#[utoipa::path(get, path = "/api/v1/groups/{id}/changes", tag = "groups",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "the group id"), ChangesQuery),
    responses(
        (status = 200, body = GroupChanges),
        (status = 404, description = "no such group for the caller", body = securechat_proto::error::ErrorBody)))]
pub async fn changes(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<ChangesQuery>,
) -> Result<Json<GroupChanges>, ApiError> {
    let group = group_id(&id)?;
    let from = query.from.unwrap_or(0);
    let member = state
        .store()
        .group_members(group)
        .await?
        .iter()
        .any(|m| m.user == auth.user_id);
    // A member reads from `from` on; only a former member's request needs the whole chain,
    // to find the last change that names them.
    let rows = state
        .store()
        .group_changes(group, if member { from } else { 0 })
        .await?;
    let until = if member {
        u64::MAX
    } else {
        // A stored change that no longer parses is a server fault, not a reason to hide it.
        let mut last_named = None;
        for row in &rows {
            let change = Change::parse(&row.change).map_err(|e| {
                ApiError::fault(format!("stored change {} of group {group}: {e}", row.seq))
            })?;
            if change.author == auth.user_id
                || change.members.iter().any(|m| m.user_id == auth.user_id)
            {
                last_named = Some(row.seq);
            }
        }
        last_named.ok_or(ApiError::NotFound)?
    };
    Ok(Json(GroupChanges {
        group_id: group.hyphenated().to_string(),
        from,
        changes: rows
            .iter()
            .filter(|row| row.seq >= from && row.seq <= until)
            .map(|row| SignedGroupChange {
                change: b64::encode(&row.change),
                sig: b64::encode(&row.sig),
            })
            .collect(),
    }))
}

/// `GET /api/v1/groups`: the groups the caller is a member of, with each one's last seq.
#[utoipa::path(get, path = "/api/v1/groups", tag = "groups", security(("bearer" = [])),
    responses((status = 200, body = [GroupSummary])))]
pub async fn my_groups(
    State(state): State<AppState>,
    auth: AuthUser,
) -> Result<Json<Vec<GroupSummary>>, ApiError> {
    let groups = state.store().groups_of(auth.user_id).await?;
    Ok(Json(
        groups
            .into_iter()
            .map(|(id, seq)| GroupSummary {
                group_id: id.hyphenated().to_string(),
                seq,
            })
            .collect(),
    ))
}
