-- Looking after accounts (crates/store/src/accounts.rs): deleted accounts keep their row (so
-- the username stays reserved), invitations for registration by invitation, and one-time
-- password-reset codes. Codes are stored as SHA-256 hashes, never in clear.
ALTER TABLE users ADD COLUMN deleted_at INTEGER;   -- Unix ms; NULL while the account lives
-- Appends look up the deleted accounts among their users: few rows, so a small index.
CREATE INDEX users_deleted ON users(id) WHERE deleted_at IS NOT NULL;

CREATE TABLE invites (
    code_hash  BLOB PRIMARY KEY NOT NULL,          -- SHA-256 of the code
    note       TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER,
    used_by    BLOB                                -- the account it created
) STRICT;

CREATE TABLE password_resets (
    code_hash  BLOB PRIMARY KEY NOT NULL,          -- SHA-256 of the code
    user_id    BLOB NOT NULL REFERENCES users(id),
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
) STRICT;
CREATE INDEX password_resets_user ON password_resets(user_id);
