//! The simulator's shared machinery: faults, ledger, result URLs, wscrm header auth.

#[path = "../common/mod.rs"]
mod common;

mod admin_api;
mod faults;
