//! A simulator of the five WhatsApp vendor APIs, written from the vendors' documents.
//!
//! It depends on no other crate of the workspace on purpose: it is an independent reading of the
//! documents, so that one misreading cannot pass both the adapters and the simulator.
#![forbid(unsafe_code)]

pub mod accounts;
