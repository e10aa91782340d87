//! The WhatsApp vendor gateway.
#![forbid(unsafe_code)]
