//! The autonomic sidecar: the tokio adapter that drives `autonomic-core`.
//!
//! Everything with I/O lives here: configuration, the ledger file, the host sampler,
//! the actuator backends, the HTTP API and the engine task.

pub mod actuator;
pub mod checkpoint;
pub mod cli;
pub mod commands;
pub mod config;
pub mod daemon;
pub mod demo;
pub mod events;
pub mod exit;
pub mod fleet;
pub mod http;
pub mod http_post;
pub mod http_server;
pub mod input;
pub mod ledger_file;
pub mod ledger_reads;
pub mod metrics;
pub mod replay;
pub mod sampler;
pub mod sidecar;
pub mod text;
pub mod wire;
