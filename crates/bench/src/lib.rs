//! What the load tool shares with its criterion benchmarks and tests: opening a store by URL,
//! throw-away PostgreSQL databases, and synthetic accounts and messages written straight into
//! a store.

pub mod database;
pub mod synth;
