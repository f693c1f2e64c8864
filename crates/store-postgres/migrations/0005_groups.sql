-- Groups (crates/store/src/groups.rs): each group's membership chain, signed by its members
-- (docs/PROTOCOL.md §17), and the membership the chain leads to, which routing reads.
CREATE TABLE groups (
    id         UUID PRIMARY KEY,                  -- the group id, also its conv_id
    head_seq   BIGINT NOT NULL,                   -- the last stored change's seq
    created_at BIGINT NOT NULL                    -- Unix ms
);

CREATE TABLE group_changes (
    group_id  UUID NOT NULL REFERENCES groups(id),
    seq       BIGINT NOT NULL,
    change    BYTEA NOT NULL,                     -- the change's exact (signed) bytes
    sig       BYTEA NOT NULL,                     -- its author's Ed25519 signature
    stored_at BIGINT NOT NULL,
    PRIMARY KEY (group_id, seq)
);

CREATE TABLE group_members (
    group_id UUID NOT NULL REFERENCES groups(id),
    user_id  UUID NOT NULL,
    admin    BOOLEAN NOT NULL,
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX group_members_user ON group_members(user_id);
