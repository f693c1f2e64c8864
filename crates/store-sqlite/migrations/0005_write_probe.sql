-- One row that readiness checks and the start-up check rewrite: a write that must reach the
-- disk, with 1 MiB of padding, to tell whether the database can take writes (permissions,
-- and free space for more than the smallest write).
CREATE TABLE write_probe (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    at INTEGER NOT NULL,
    pad BLOB NOT NULL
);
