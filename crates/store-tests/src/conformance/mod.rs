//! The conformance suite: what every store backend must do, as async checks on
//! `Arc<dyn Store>` instances. Each check panics on the first broken promise.
//!
//! Checks of one process take one store; the concurrency checks take two store instances on
//! one database (two simulated server processes) and race them. `conformance_tests!` turns
//! the whole list into `#[tokio::test]`s for a backend.

mod accounts;
mod admin;
mod cluster;
mod concurrency;
mod credentials;
mod files;
mod group_messages;
mod groups;
mod messages;
mod removals;
mod sessions;
mod users;

use std::hash::{Hash, Hasher};

use securechat_proto::ids::{SessionId, UserId};
use securechat_proto::keys::KeyStatus;
use securechat_store::model::{
    Credential, EncryptionKeyRow, Gate, NewMessage, NewSession, NewUser,
};
use securechat_store::Store;

pub use accounts::{
    concurrent_uses_of_one_code_succeed_once, deleted_accounts_leave_and_keep_their_name,
    password_resets_are_used_once, registration_gates_admit_and_use_up_invites,
};
pub use admin::{
    accounts_and_sessions_are_listed_for_operators, disabled_accounts_cannot_log_in_until_enabled,
    logins_racing_a_disabling_leave_no_session, security_events_are_recorded_listed_and_pruned,
};
pub use cluster::{nodes_register_and_one_leads, stream_ends_and_revocations_are_polled};
pub use concurrency::{
    concurrent_appends_keep_streams_gap_free, concurrent_deletes_and_expiry_remove_once,
    concurrent_key_publishes_stay_ordered, concurrent_logins_respect_the_ip_rule,
    concurrent_refreshes_rotate_once, concurrent_resends_store_one_message,
};
pub use credentials::{a_session_id_is_used_once, credentials_are_stored_moved_and_forgotten};
pub use files::{files_are_attached_with_their_message, unreferenced_files_are_taken_once};
pub use group_messages::{
    deleted_members_leave_group_delivery, group_messages_racing_a_removal_agree,
    group_messages_reach_exactly_the_members, group_reads_removals_and_files_follow_the_members,
};
pub use groups::{concurrent_group_changes_store_one, group_changes_extend_the_chain_in_order};
pub use messages::{
    event_pages_resume_where_they_stopped, history_pages_back_through_a_conversation,
    messages_get_gap_free_seqs_and_resends_are_settled, read_receipts_go_to_the_peers_stream,
};
pub use removals::{deleted_messages_leave_both_streams, expired_messages_are_removed_once};
pub use sessions::{
    logins_are_admitted_by_the_ip_rule, refresh_tokens_rotate_and_reuse_revokes,
    sessions_are_revoked_and_cleaned_up, sessions_are_stored_with_their_login_source,
};
pub use users::{
    accounts_are_created_found_and_listed, change_password_revokes_the_other_sessions,
    conflicts_name_what_is_taken, keys_are_published_in_order, the_store_reports_its_health,
};

/// An Argon2 credential with this (pretend) hash.
pub fn argon2(hash: &str) -> Credential {
    Credential::Argon2(hash.to_owned())
}

/// A time (Unix ms) the checks count from.
pub const T0: i64 = 1_700_000_000_000;

/// A new account named `name` (email `name@example.org`) with a first key made at `T0`
/// (a random key id, unlike those of `key`).
pub fn new_user(name: &str) -> NewUser {
    NewUser {
        id: UserId::generate(),
        username: name.to_owned(),
        email: format!("{name}@example.org"),
        credential: Credential::Argon2(format!("$argon2id$hash-of-{name}")),
        identity_key: rand::random(),
        first_key: EncryptionKeyRow {
            // Random bytes, never one byte repeated like the ids of `key`.
            key_id: rand::random(),
            ..key(0, T0)
        },
        created_at: T0,
        gate: Gate::Open,
    }
}

/// Creates the account `name`.
///
/// # Panics
/// When the store refuses it.
pub async fn user(store: &dyn Store, name: &str) -> UserId {
    let user = new_user(name);
    let id = user.id;
    store.create_user(user).await.expect("create a user");
    id
}

/// An encryption key whose id is `tag` repeated, made at `created_at`.
pub fn key(tag: u8, created_at: i64) -> EncryptionKeyRow {
    EncryptionKeyRow {
        key_id: [tag; 8],
        x25519: [tag; 32],
        created_at,
        binding_sig: [tag; 64],
        status: KeyStatus::Active,
    }
}

/// A stand-in for SHA-256 of an envelope: equal bodies, equal digests.
pub fn digest(body: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (i, chunk) in out.chunks_mut(8).enumerate() {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (i, body).hash(&mut h);
        chunk.copy_from_slice(&h.finish().to_le_bytes());
    }
    out
}

/// A message id from a number.
pub fn msg_id(n: u64) -> [u8; 16] {
    let mut id = [0u8; 16];
    id[..8].copy_from_slice(&n.to_be_bytes());
    id
}

/// A file-less, non-expiring message `n` with `body`, received at `T0 + n`.
pub fn message(from: UserId, to: UserId, n: u64, body: &str) -> NewMessage {
    NewMessage {
        sender: from,
        recipient: to,
        msg_id: msg_id(n),
        envelope: body.to_owned(),
        digest: digest(body),
        received_at: T0 + i64::try_from(n).unwrap_or(0),
        expires_at: None,
        files: Vec::new(),
    }
}

/// A new session of `user` from `ip`, made at `at`, valid for an hour, whose refresh token
/// hashes to `refresh`.
pub fn session(user: UserId, ip: &str, at: i64, refresh: [u8; 32]) -> NewSession {
    NewSession {
        id: SessionId::generate(),
        user_id: user,
        ip: ip.to_owned(),
        created_at: at,
        expires_at: at + 3_600_000,
        refresh_hash: refresh,
        forget_sources_before: 0,
    }
}

/// Generates one `#[tokio::test]` per conformance check. `$database` names an async function
/// of the calling test file returning `Option<TestDatabase>` (`None`: skip the test). The
/// calling crate needs `tokio` (with `macros` and the multi-thread runtime).
#[macro_export]
macro_rules! conformance_tests {
    ($database:path) => {
        $crate::conformance_tests!(@one $database;
            accounts_are_created_found_and_listed,
            conflicts_name_what_is_taken,
            keys_are_published_in_order,
            change_password_revokes_the_other_sessions,
            credentials_are_stored_moved_and_forgotten,
            a_session_id_is_used_once,
            the_store_reports_its_health,
            sessions_are_stored_with_their_login_source,
            logins_are_admitted_by_the_ip_rule,
            refresh_tokens_rotate_and_reuse_revokes,
            sessions_are_revoked_and_cleaned_up,
            messages_get_gap_free_seqs_and_resends_are_settled,
            read_receipts_go_to_the_peers_stream,
            event_pages_resume_where_they_stopped,
            history_pages_back_through_a_conversation,
            files_are_attached_with_their_message,
            unreferenced_files_are_taken_once,
            deleted_messages_leave_both_streams,
            expired_messages_are_removed_once,
            stream_ends_and_revocations_are_polled,
            registration_gates_admit_and_use_up_invites,
            password_resets_are_used_once,
            deleted_accounts_leave_and_keep_their_name,
            disabled_accounts_cannot_log_in_until_enabled,
            accounts_and_sessions_are_listed_for_operators,
            security_events_are_recorded_listed_and_pruned,
            group_changes_extend_the_chain_in_order,
            group_messages_reach_exactly_the_members,
            group_reads_removals_and_files_follow_the_members,
            deleted_members_leave_group_delivery,
        );
        $crate::conformance_tests!(@two $database;
            concurrent_appends_keep_streams_gap_free,
            concurrent_resends_store_one_message,
            concurrent_refreshes_rotate_once,
            concurrent_logins_respect_the_ip_rule,
            concurrent_key_publishes_stay_ordered,
            concurrent_deletes_and_expiry_remove_once,
            nodes_register_and_one_leads,
            concurrent_uses_of_one_code_succeed_once,
            logins_racing_a_disabling_leave_no_session,
            concurrent_group_changes_store_one,
            group_messages_racing_a_removal_agree,
        );
    };
    (@one $database:path; $($check:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $check() {
                let Some(db) = $database().await else { return };
                $crate::conformance::$check(db.open().await).await;
            }
        )*
    };
    (@two $database:path; $($check:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() {
                let Some(db) = $database().await else { return };
                $crate::conformance::$check(db.open().await, db.open().await).await;
            }
        )*
    };
}
