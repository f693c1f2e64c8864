-- Accounts, their append-only key history, and login sessions.
CREATE TABLE users (
    id            BLOB PRIMARY KEY NOT NULL,      -- UUIDv7, 16 bytes
    username      TEXT NOT NULL UNIQUE,           -- canonical: NFKC, lower case
    email         TEXT NOT NULL UNIQUE,           -- canonical: lower case
    password_hash TEXT NOT NULL,                  -- Argon2id PHC string
    identity_key  BLOB NOT NULL UNIQUE,           -- Ed25519 public key, 32 bytes
    created_at    INTEGER NOT NULL                -- Unix ms
) STRICT;

CREATE TABLE encryption_keys (
    user_id     BLOB NOT NULL REFERENCES users(id),
    key_id      BLOB NOT NULL,                    -- SHA-256(x25519)[0..8]
    x25519      BLOB NOT NULL,
    created_at  INTEGER NOT NULL,
    binding_sig BLOB NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('active', 'retired')),
    PRIMARY KEY (user_id, key_id)
) STRICT;

CREATE TABLE sessions (
    id         BLOB PRIMARY KEY NOT NULL,         -- UUIDv7, the `sid` claim
    user_id    BLOB NOT NULL REFERENCES users(id),
    ip         TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,                  -- moves forward on each refresh
    revoked_at INTEGER
) STRICT;
CREATE INDEX sessions_user ON sessions(user_id);
CREATE INDEX sessions_ip ON sessions(ip);

CREATE TABLE refresh_tokens (
    hash       BLOB PRIMARY KEY NOT NULL,         -- SHA-256 of the opaque token
    session_id BLOB NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    rotated_at INTEGER                            -- set when exchanged; reuse revokes the session
) STRICT;
CREATE INDEX refresh_tokens_session ON refresh_tokens(session_id);
