//! A simulator of the five WhatsApp vendor APIs, written from the vendors' documents.
//!
//! It depends on no other crate of the workspace on purpose: it is an independent reading of the
//! documents, so that one misreading cannot pass both the adapters and the simulator.
//!
//! All vendors share one listener: wscrm screening (`/wscrm-bus-api/open/scan/...`), wscrm account
//! management ([`accounts`]), NxCloud (`/api/wa/getPhone`), ekycpro (`/wa/api/detail/tasks`) and
//! accuauth (`/check/whatsapp_advanced`); the simulator's own endpoints live under `/_sim`.
#![forbid(unsafe_code)]

pub mod accounts;

mod admin;
pub mod config;
pub mod contract;
mod fault_responses;
pub mod faults;
pub mod files;
mod json_value;
pub mod ledger;
mod middleware;
pub mod multipart;
pub mod operations;
mod server;
mod state;
pub mod truth;
pub mod vendors;
pub mod xlsx;

pub use config::{
    AccountsSettings, AccuauthConfig, EkycproConfig, NxCloudConfig, SimConfig, SpeedConfig,
    WscrmConfig, default_dev_config, dev,
};
pub use faults::{FaultKind, FaultSpec};
pub use ledger::Ledger;
pub use server::{RunningSim, start};
