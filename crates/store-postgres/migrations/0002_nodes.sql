-- Server nodes sharing this database, each with a digest of the settings that must agree
-- (crates/store/src/cluster.rs). Rows are liveness notes, not data: a node rewrites its own
-- every few seconds and deletes it when it stops.
CREATE TABLE nodes (
    id       TEXT PRIMARY KEY,
    settings TEXT NOT NULL,
    seen_at  BIGINT NOT NULL
);

-- Revocations are polled by time.
CREATE INDEX sessions_revoked_at ON sessions(revoked_at) WHERE revoked_at IS NOT NULL;
