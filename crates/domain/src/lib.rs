//! Models and rules of the gateway. No I/O lives here.
#![forbid(unsafe_code)]
