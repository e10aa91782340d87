//! Each vendor through its HTTP API, as a client of the documents would use it.

#[path = "../common/mod.rs"]
mod common;

mod accuauth;
mod contract;
mod ekycpro;
mod nxcloud;
mod refusals;
mod screening;
