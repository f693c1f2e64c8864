-- Known login sources (the per-account failed-login limit spares them), and the successor of
-- each rotated refresh token (for the grace window of concurrent refreshes).
CREATE TABLE login_sources (
    user_id       BLOB NOT NULL REFERENCES users(id),
    ip            TEXT NOT NULL,
    last_login_at INTEGER NOT NULL,               -- Unix ms of the last successful login
    PRIMARY KEY (user_id, ip)
) STRICT;

-- SHA-256 of the token this one was rotated to (never the token itself: the server derives
-- the successor from the presented token with a keyed hash, so it can answer a repeat
-- within the grace window without storing any token in clear).
ALTER TABLE refresh_tokens ADD COLUMN successor BLOB;
