//! Row decoding: database columns to the store's domain types, and back for numbers.

use securechat_proto::ids::{SessionId, UserId};
use securechat_proto::keys::KeyStatus;
use securechat_store::model::{
    Credential, EncryptionKeyRow, FileRow, SessionRow, UserListing, UserRow,
};
use securechat_store::StoreError;
use sqlx::postgres::PgRow;
use sqlx::Row as _;
use uuid::Uuid;

use crate::map_err;

pub(crate) fn corrupt(what: &str) -> StoreError {
    StoreError::Other(format!("corrupt row: {what}").into())
}

/// A fixed-size byte string column.
pub(crate) fn fixed<const N: usize>(row: &PgRow, column: &str) -> Result<[u8; N], StoreError> {
    let bytes: Vec<u8> = row.try_get(column).map_err(map_err)?;
    bytes.try_into().map_err(|_| corrupt(column))
}

/// A user id column.
pub(crate) fn user_id(row: &PgRow, column: &str) -> Result<UserId, StoreError> {
    Ok(UserId(row.try_get::<Uuid, _>(column).map_err(map_err)?))
}

/// Any other column.
pub(crate) fn get<'r, T>(row: &'r PgRow, column: &str) -> Result<T, StoreError>
where
    T: sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>,
{
    row.try_get(column).map_err(map_err)
}

pub(crate) fn user(row: &PgRow) -> Result<UserRow, StoreError> {
    Ok(UserRow {
        id: user_id(row, "id")?,
        username: get(row, "username")?,
        email: get(row, "email")?,
        credential: Credential::from_columns(
            get::<String>(row, "password_hash")?,
            get::<Option<Vec<u8>>>(row, "opaque_record")?,
        ),
        identity_key: fixed(row, "identity_key")?,
        created_at: get(row, "created_at")?,
        deleted_at: get(row, "deleted_at")?,
        disabled_at: get(row, "disabled_at")?,
    })
}

pub(crate) fn listing(row: &PgRow) -> Result<UserListing, StoreError> {
    Ok(UserListing {
        id: user_id(row, "id")?,
        username: get(row, "username")?,
        deleted: get(row, "deleted")?,
    })
}

pub(crate) fn key(row: &PgRow) -> Result<EncryptionKeyRow, StoreError> {
    let status: String = get(row, "status")?;
    Ok(EncryptionKeyRow {
        key_id: fixed(row, "key_id")?,
        x25519: fixed(row, "x25519")?,
        created_at: get(row, "created_at")?,
        binding_sig: fixed(row, "binding_sig")?,
        status: match status.as_str() {
            "active" => KeyStatus::Active,
            "retired" => KeyStatus::Retired,
            _ => return Err(corrupt("status")),
        },
    })
}

pub(crate) fn session(row: &PgRow) -> Result<SessionRow, StoreError> {
    Ok(SessionRow {
        id: SessionId(get::<Uuid>(row, "id")?),
        user_id: user_id(row, "user_id")?,
        ip: get(row, "ip")?,
        created_at: get(row, "created_at")?,
        expires_at: get(row, "expires_at")?,
        revoked_at: get(row, "revoked_at")?,
    })
}

pub(crate) fn file(row: &PgRow) -> Result<FileRow, StoreError> {
    let size: i64 = get(row, "size")?;
    Ok(FileRow {
        id: fixed(row, "id")?,
        uploader: user_id(row, "uploader")?,
        recipient: user_id(row, "recipient")?,
        size: u64::try_from(size).map_err(|_| corrupt("size"))?,
        created_at: get(row, "created_at")?,
    })
}

/// A stored `seq` as the store's type.
pub(crate) fn seq(value: i64) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| corrupt("seq"))
}

/// A `seq`, count or size as PostgreSQL's BIGINT (they never reach 2^63).
pub(crate) fn sql_int(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}
