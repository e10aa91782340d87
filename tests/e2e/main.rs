//! The end-to-end suites: each module drives the real `gateway-api` and `vendor-sim` binaries
//! (and Redis) over HTTP, through the one harness in `support`. Run one suite with
//! `cargo test -p e2e -- number_checks::`.

mod support;

mod accounts;
mod dashboards;
mod events;
mod examples;
mod failover;
mod logs;
mod number_check_coalescing;
mod number_checks;
mod number_checks_parallel;
mod number_checks_pooling;
mod number_checks_processes;
mod on_cluster;
mod outbound_urls;
mod traces;
