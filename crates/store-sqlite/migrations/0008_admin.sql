-- Operators' account administration (`securechat admin`, crates/store/src/accounts.rs and
-- security.rs): disabled accounts, and the security events the server notes (IP-rule
-- refusals, failed-login and registration blocks) with the operators' unblocks, which every
-- server process polls. Events are pruned after 30 days.
ALTER TABLE users ADD COLUMN disabled_at INTEGER;  -- Unix ms; NULL while the account may log in

CREATE TABLE security_events (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    at      INTEGER NOT NULL,                      -- Unix ms of the first occurrence
    kind    TEXT NOT NULL,                         -- ip_rule_login, login_blocked_ip, unblock_ip, …
    ip      TEXT,
    user_id BLOB,                                  -- the account, when one exists
    login   TEXT,                                  -- the name typed, when no account has it
    count   INTEGER NOT NULL DEFAULT 1             -- occurrences gathered into this row
) STRICT;
CREATE INDEX security_events_at ON security_events(at);
