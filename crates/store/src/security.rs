//! Security events: what the server refused (IP-rule refusals, failed-login and registration
//! blocks), noted for operators (`securechat admin blocks`), and the operators' unblocks,
//! which every server process polls and applies to its in-memory limits.

use securechat_proto::ids::UserId;

use crate::StoreError;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SecurityKind {
    /// A login refused by the IP rule.
    IpRuleLogin,
    /// A registration refused by the IP rule.
    IpRuleRegistration,
    /// A login refused: the address used up its failed logins.
    LoginBlockedIp,
    /// A login refused: this account from this address owes a delay.
    LoginBlockedSource,
    /// A login refused: the account used up its failed logins (from unknown addresses).
    LoginBlockedAccount,
    /// A login refused: the server-wide failed-login budget is used up.
    LoginBlockedGlobal,
    /// A registration refused: too many from this address.
    RegistrationBlockedIp,
    /// A registration refused: too many in all.
    RegistrationBlockedGlobal,
    /// An operator lifted the limits of an address.
    UnblockIp,
    /// An operator lifted the limits of an account.
    UnblockAccount,
}

impl SecurityKind {
    /// Every kind.
    pub const ALL: [Self; 10] = [
        Self::IpRuleLogin,
        Self::IpRuleRegistration,
        Self::LoginBlockedIp,
        Self::LoginBlockedSource,
        Self::LoginBlockedAccount,
        Self::LoginBlockedGlobal,
        Self::RegistrationBlockedIp,
        Self::RegistrationBlockedGlobal,
        Self::UnblockIp,
        Self::UnblockAccount,
    ];

    /// The name stored in the database (and shown to operators).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::IpRuleLogin => "ip_rule_login",
            Self::IpRuleRegistration => "ip_rule_registration",
            Self::LoginBlockedIp => "login_blocked_ip",
            Self::LoginBlockedSource => "login_blocked_source",
            Self::LoginBlockedAccount => "login_blocked_account",
            Self::LoginBlockedGlobal => "login_blocked_global",
            Self::RegistrationBlockedIp => "registration_blocked_ip",
            Self::RegistrationBlockedGlobal => "registration_blocked_global",
            Self::UnblockIp => "unblock_ip",
            Self::UnblockAccount => "unblock_account",
        }
    }

    /// The kind a stored name stands for.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// An operator's unblock (polled by every server process).
    pub fn is_unblock(self) -> bool {
        matches!(self, Self::UnblockIp | Self::UnblockAccount)
    }
}

impl std::fmt::Display for SecurityKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An event to record: `count` occurrences of one kind for one address and account, the
/// first at `at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityEvent {
    pub at: i64,
    pub kind: SecurityKind,
    /// The client address (canonical `IpAddr` text).
    pub ip: Option<String>,
    /// The account, when one exists.
    pub user: Option<UserId>,
    /// The name typed, when no account has it (a login or registration attempt).
    pub login: Option<String>,
    pub count: u32,
}

/// A recorded event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityEventRow {
    /// Increasing in the order the events were recorded.
    pub id: i64,
    pub event: SecurityEvent,
}

/// The security event log.
#[async_trait::async_trait]
pub trait Security {
    /// Records events, in one transaction.
    async fn record_security_events(&self, events: &[SecurityEvent]) -> Result<(), StoreError>;

    /// Events recorded at or after `since` (their `at`), newest first, at most `limit`.
    async fn security_events_since(
        &self,
        since: i64,
        limit: u32,
    ) -> Result<Vec<SecurityEventRow>, StoreError>;

    /// Unblocks recorded at or after `since`, oldest first. Server processes poll it and
    /// apply each unblock (by id) once.
    async fn unblocks_since(&self, since: i64) -> Result<Vec<SecurityEventRow>, StoreError>;

    /// Deletes events recorded before `cutoff`; returns how many.
    async fn delete_security_events(&self, cutoff: i64) -> Result<u64, StoreError>;
}
