-- Groups (crates/store/src/groups.rs): each group's membership chain, signed by its members
-- (docs/PROTOCOL.md §17), and the membership the chain leads to, which routing reads.
CREATE TABLE groups (
    id         BLOB PRIMARY KEY NOT NULL,         -- the group id (UUID), also its conv_id
    head_seq   INTEGER NOT NULL,                  -- the last stored change's seq
    created_at INTEGER NOT NULL                   -- Unix ms
) STRICT;

CREATE TABLE group_changes (
    group_id  BLOB NOT NULL REFERENCES groups(id),
    seq       INTEGER NOT NULL,
    change    BLOB NOT NULL,                      -- the change's exact (signed) bytes
    sig       BLOB NOT NULL,                      -- its author's Ed25519 signature
    stored_at INTEGER NOT NULL,
    PRIMARY KEY (group_id, seq)
) STRICT, WITHOUT ROWID;

CREATE TABLE group_members (
    group_id BLOB NOT NULL REFERENCES groups(id),
    user_id  BLOB NOT NULL,
    admin    INTEGER NOT NULL CHECK (admin IN (0, 1)),
    PRIMARY KEY (group_id, user_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX group_members_user ON group_members(user_id);
