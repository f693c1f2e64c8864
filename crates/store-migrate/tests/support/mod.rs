//! What the migration tests share: a PostgreSQL database per test and a filled SQLite store.
#![allow(dead_code)] // not every test uses every part

pub mod fixture;
pub mod postgres;
