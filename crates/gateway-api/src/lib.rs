//! The WhatsApp vendor gateway: one JWT-protected, Redis-backed, OpenAPI-documented REST API in
//! front of several WhatsApp vendors.
#![forbid(unsafe_code)]

pub mod accounts;
pub mod auth;
pub mod breaker;
pub mod build_info;
pub mod cli;
pub mod config;
pub mod error;
pub mod events;
pub mod gauges;
pub mod http;
pub mod keys;
pub mod number_checks;
pub mod openapi;
pub mod ownership;
pub mod routes;
pub mod startup;
pub mod state;
pub use store;
pub mod telemetry;
pub mod vendor_errors;
pub mod workers;
