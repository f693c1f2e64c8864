-- Messages (ciphertext only), per-user event streams and uploaded files.
CREATE TABLE messages (
    id          INTEGER PRIMARY KEY,              -- internal row id
    sender      BLOB NOT NULL,
    msg_id      BLOB NOT NULL,                    -- client's 128-bit id (idempotency key)
    recipient   BLOB NOT NULL,
    envelope    TEXT,                             -- NULL once deleted or expired
    digest      BLOB NOT NULL,                    -- SHA-256 of the envelope text
    received_at INTEGER NOT NULL,
    expires_at  INTEGER,                          -- self-destruct time, Unix ms
    removed_at  INTEGER,
    UNIQUE (sender, msg_id)
) STRICT;
CREATE INDEX messages_expiry ON messages(expires_at) WHERE envelope IS NOT NULL AND expires_at IS NOT NULL;

-- Each user's gap-free stream of events; seq = MAX(seq) + 1 under the single writer.
CREATE TABLE inbox (
    user_id   BLOB NOT NULL,
    seq       INTEGER NOT NULL,
    kind      TEXT NOT NULL CHECK (kind IN ('message', 'deleted', 'read')),
    peer      BLOB NOT NULL,                      -- the other side of the conversation
    message   INTEGER,                            -- messages.id (kind message and deleted)
    tombstone TEXT,                               -- kind deleted: sender-signed tombstone, NULL if expired
    up_to     INTEGER,                            -- kind read
    ts        INTEGER NOT NULL,
    PRIMARY KEY (user_id, seq)
) STRICT, WITHOUT ROWID;
CREATE INDEX inbox_conversation ON inbox(user_id, peer, seq) WHERE kind = 'message';
CREATE INDEX inbox_message ON inbox(message) WHERE kind = 'message';

CREATE TABLE files (
    id         BLOB PRIMARY KEY NOT NULL,         -- 128 random bits
    uploader   BLOB NOT NULL,
    recipient  BLOB NOT NULL,
    size       INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    message    INTEGER                            -- messages.id once a message carries it
) STRICT;
CREATE INDEX files_message ON files(message);
CREATE INDEX files_unreferenced ON files(created_at) WHERE message IS NULL;
