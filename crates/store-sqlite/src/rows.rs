//! Row decoding: database columns to the store's domain types.

use securechat_proto::ids::{SessionId, UserId};
use securechat_proto::keys::KeyStatus;
use securechat_store::model::{Credential, EncryptionKeyRow, SessionRow, UserListing, UserRow};
use securechat_store::StoreError;
use sqlx::sqlite::SqliteRow;
use sqlx::Row as _;
use uuid::Uuid;

use crate::map_err;

pub(crate) fn corrupt(what: &str) -> StoreError {
    StoreError::Other(format!("corrupt row: {what}").into())
}

fn array<const N: usize>(row: &SqliteRow, column: &str) -> Result<[u8; N], StoreError> {
    let bytes: Vec<u8> = row.try_get(column).map_err(map_err)?;
    bytes.try_into().map_err(|_| corrupt(column))
}

pub(crate) fn user(row: &SqliteRow) -> Result<UserRow, StoreError> {
    Ok(UserRow {
        id: UserId(row.try_get::<Uuid, _>("id").map_err(map_err)?),
        username: row.try_get("username").map_err(map_err)?,
        email: row.try_get("email").map_err(map_err)?,
        credential: Credential::from_columns(
            row.try_get("password_hash").map_err(map_err)?,
            row.try_get("opaque_record").map_err(map_err)?,
        ),
        identity_key: array(row, "identity_key")?,
        created_at: row.try_get("created_at").map_err(map_err)?,
        deleted_at: row.try_get("deleted_at").map_err(map_err)?,
        disabled_at: row.try_get("disabled_at").map_err(map_err)?,
    })
}

pub(crate) fn listing(row: &SqliteRow) -> Result<UserListing, StoreError> {
    Ok(UserListing {
        id: UserId(row.try_get::<Uuid, _>("id").map_err(map_err)?),
        username: row.try_get("username").map_err(map_err)?,
        deleted: row.try_get("deleted").map_err(map_err)?,
    })
}

pub(crate) fn key(row: &SqliteRow) -> Result<EncryptionKeyRow, StoreError> {
    let status: String = row.try_get("status").map_err(map_err)?;
    Ok(EncryptionKeyRow {
        key_id: array(row, "key_id")?,
        x25519: array(row, "x25519")?,
        created_at: row.try_get("created_at").map_err(map_err)?,
        binding_sig: array(row, "binding_sig")?,
        status: match status.as_str() {
            "active" => KeyStatus::Active,
            "retired" => KeyStatus::Retired,
            _ => return Err(corrupt("status")),
        },
    })
}

pub(crate) fn session(row: &SqliteRow) -> Result<SessionRow, StoreError> {
    Ok(SessionRow {
        id: SessionId(row.try_get::<Uuid, _>("id").map_err(map_err)?),
        user_id: UserId(row.try_get::<Uuid, _>("user_id").map_err(map_err)?),
        ip: row.try_get("ip").map_err(map_err)?,
        created_at: row.try_get("created_at").map_err(map_err)?,
        expires_at: row.try_get("expires_at").map_err(map_err)?,
        revoked_at: row.try_get("revoked_at").map_err(map_err)?,
    })
}

pub(crate) fn file(row: &SqliteRow) -> Result<securechat_store::model::FileRow, StoreError> {
    let size: i64 = row.try_get("size").map_err(map_err)?;
    Ok(securechat_store::model::FileRow {
        id: array(row, "id")?,
        uploader: UserId(row.try_get::<Uuid, _>("uploader").map_err(map_err)?),
        recipient: UserId(row.try_get::<Uuid, _>("recipient").map_err(map_err)?),
        size: u64::try_from(size).map_err(|_| corrupt("size"))?,
        created_at: row.try_get("created_at").map_err(map_err)?,
    })
}

pub(crate) fn seq(value: i64) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| corrupt("seq"))
}

/// A message's stream position (`sender_seq`, `recipient_seq`); set on every stored message.
pub(crate) fn position(value: Option<i64>) -> Result<u64, StoreError> {
    seq(value.ok_or_else(|| corrupt("a stored message has no stream position"))?)
}

/// A `seq` or count as SQLite's integer (they never reach 2^63).
pub(crate) fn sql_int(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

pub(crate) fn user_id(row: &SqliteRow, column: &str) -> Result<UserId, StoreError> {
    Ok(UserId(row.try_get::<Uuid, _>(column).map_err(map_err)?))
}

pub(crate) fn fixed<const N: usize>(row: &SqliteRow, column: &str) -> Result<[u8; N], StoreError> {
    array(row, column)
}
