//! The one place where sqlx errors become `StoreError`: by SQLSTATE code and constraint name,
//! never by message text. <https://www.postgresql.org/docs/15/errcodes-appendix.html>

use securechat_store::error::Conflict;
use securechat_store::StoreError;

/// unique_violation.
const UNIQUE_VIOLATION: &str = "23505";

/// What an SQLSTATE says about a failed statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    /// A uniqueness rule was broken: which one, by constraint name.
    Unique,
    /// The database cannot take the request now; the same request may succeed later.
    Unavailable,
    /// Anything else: a refused or malformed request, a bug.
    Other,
}

/// Classifies an SQLSTATE code.
fn classify(code: &str) -> Class {
    if code == UNIQUE_VIOLATION {
        return Class::Unique;
    }
    let unavailable = code.starts_with("08") // connection exception
        || code.starts_with("53") // insufficient resources: disk full, out of memory, too many connections
        || matches!(
            code,
            "57P01" // admin_shutdown
                | "57P02" // crash_shutdown
                | "57P03" // cannot_connect_now (starting up, shutting down)
                | "57014" // query_canceled (statement_timeout)
                | "40001" // serialization_failure
                | "40P01" // deadlock_detected
                | "25006" // read_only_sql_transaction (a replica, or a read-only server)
                | "58030" // io_error (the server could not read or write its files)
        );
    if unavailable {
        Class::Unavailable
    } else {
        Class::Other
    }
}

/// The conflict a unique constraint stands for, by the names the migration gives them.
/// `None` for constraints a caller never breaks by asking (a broken invariant, not a conflict).
fn conflict(constraint: Option<&str>) -> Option<Conflict> {
    Some(match constraint? {
        "users_pkey" => Conflict::UserId,
        "users_username_key" => Conflict::Username,
        "users_email_key" => Conflict::Email,
        "users_identity_key_key" => Conflict::IdentityKey,
        "encryption_keys_pkey" => Conflict::EncryptionKey,
        _ => return None,
    })
}

/// Maps a sqlx error: missing rows to `NotFound`, unique violations to the `Conflict` their
/// constraint names, storage faults and lost connections to `Unavailable`, everything else
/// to `Other`.
pub(crate) fn map_err(error: sqlx::Error) -> StoreError {
    match &error {
        sqlx::Error::RowNotFound => StoreError::NotFound,
        sqlx::Error::Database(db) => {
            let class = db.code().map_or(Class::Other, |code| classify(&code));
            match class {
                Class::Unique => match conflict(db.constraint()) {
                    Some(conflict) => StoreError::Conflict(conflict),
                    None => StoreError::Other(Box::new(error)),
                },
                Class::Unavailable => StoreError::Unavailable(Box::new(error)),
                Class::Other => StoreError::Other(Box::new(error)),
            }
        }
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => StoreError::Unavailable(Box::new(error)),
        _ => StoreError::Other(Box::new(error)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_faults_are_told_from_refusals_by_sqlstate() {
        for code in [
            "08000", "08003", "08006", "08001", "53100", "53200", "53300", "57P01", "57P02",
            "57P03", "57014", "40001", "40P01", "25006", "58030",
        ] {
            assert_eq!(classify(code), Class::Unavailable, "{code}");
        }
        // Check, foreign-key and not-null violations, syntax error, undefined table, division
        // by zero, invalid text representation, data corruption.
        for code in [
            "23514", "23503", "23502", "42601", "42P01", "22012", "22P02", "XX001",
        ] {
            assert_eq!(classify(code), Class::Other, "{code}");
        }
        assert_eq!(classify("23505"), Class::Unique);
    }

    #[test]
    fn unique_violations_name_their_conflict_by_constraint() {
        assert_eq!(conflict(Some("users_pkey")), Some(Conflict::UserId));
        assert_eq!(
            conflict(Some("users_username_key")),
            Some(Conflict::Username)
        );
        assert_eq!(conflict(Some("users_email_key")), Some(Conflict::Email));
        assert_eq!(
            conflict(Some("users_identity_key_key")),
            Some(Conflict::IdentityKey)
        );
        assert_eq!(
            conflict(Some("encryption_keys_pkey")),
            Some(Conflict::EncryptionKey)
        );
        assert_eq!(conflict(Some("messages_sender_msg_id_key")), None);
        assert_eq!(conflict(Some("inbox_pkey")), None);
        assert_eq!(conflict(None), None);
    }

    #[test]
    fn lost_connections_are_unavailable_and_missing_rows_not_found() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset");
        for error in [
            sqlx::Error::Io(io),
            sqlx::Error::PoolTimedOut,
            sqlx::Error::PoolClosed,
            sqlx::Error::WorkerCrashed,
            sqlx::Error::Tls("handshake".into()),
        ] {
            assert!(matches!(map_err(error), StoreError::Unavailable(_)));
        }
        assert!(matches!(
            map_err(sqlx::Error::RowNotFound),
            StoreError::NotFound
        ));
        assert!(matches!(
            map_err(sqlx::Error::Protocol("bad message".into())),
            StoreError::Other(_)
        ));
    }
}
