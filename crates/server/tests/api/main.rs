//! Integration tests: the real server on 127.0.0.1:0 with a temporary data folder, driven over
//! real HTTP.

mod helpers;
mod moto;

mod account_recovery;
mod accounts;
mod faults;
mod files;
mod files_s3;
mod group_messaging;
mod groups;
mod health;
mod ip_rule;
mod keys;
mod login_limits;
mod messaging;
mod onboarding;
mod opaque;
mod overload;
mod postgres_outage;
mod rate_limit;
mod refresh;
mod registration;
mod restart;
mod sessions;
mod shutdown;
mod tokens;
mod websocket;
mod wire;
