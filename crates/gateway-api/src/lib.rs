//! The WhatsApp vendor gateway.
#![forbid(unsafe_code)]

pub mod store;
