//! The core's tests, one module per file of this directory, built as one test binary (one
//! link instead of one per file: a change to the core rebuilds its tests in a few seconds,
//! which is what makes a mutation run of the whole core fit in a session). Run one file's
//! tests with `cargo test -p autonomic-core --test all monitor::`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;
mod timing_support;

mod action_rules;
mod breaker;
mod breaker_table;
mod capacity;
mod decoded_actions;
mod dedup;
mod demo;
mod enforcement;
mod engine;
mod entitlement;
mod governor;
mod governor_trace;
mod ledger;
mod ledger_ring;
mod monitor;
mod queue;
mod queue_room;
mod rate;
mod record_bytes;
mod reload;
mod reported_values;
mod shadow;
mod stats;
mod table;
mod tenants;
mod timer_capacity;
mod timing;
mod timing_room;
mod wire_names;
