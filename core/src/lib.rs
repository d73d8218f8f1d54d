//! # autonomic-core
//!
//! The MAPE-K loop of `autonomic` as pure, allocation-free state machines: `#![no_std]`, no
//! `alloc`, no `unsafe`, no clock and no I/O. Time comes in as `now_ms: u64` arguments; effects
//! go out as plain data through `poll_*` methods. A driver (the tokio adapter, the replay
//! command, a test) owns the clock, the sockets, the files and the processes.
//!
//! | phase | module | what it holds |
//! |---|---|---|
//! | Monitor | [`monitor`] | signal validation, normalization, the deduplicator |
//! | Analyze | [`entitlement`] | SKUs, quotas, the entitlement lifecycle, admission |
//! | Plan | [`governor`] | the per-tenant governor table (`docs/governor.md`) |
//! | Execute | [`action`], [`execution`], [`breaker`] | actions and outcomes; what is in flight, rollbackable, queued; circuit breakers per kind |
//! | Knowledge | [`receipt`], [`ledger`] | hash-chained receipts, the in-memory ring |
//!
//! [`stats`] counts what an engine did, for a driver's metrics.
//!
//! [`engine::Engine`] composes the phases behind one sans-IO type; start there.
//! Every capacity comes from the driver at start ([`storage`]) or is a named constant in
//! [`limits`].
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod action;
pub mod breaker;
pub mod dedup;
pub mod engine;
pub mod entitlement;
pub mod execution;
pub mod governor;
pub mod ledger;
pub mod limits;
pub mod monitor;
pub mod receipt;
pub mod ring;
pub mod stats;
pub mod storage;
pub mod table;

pub use action::{Action, ActionKind, ActionOutcome, InvalidAction, Undo};
pub use engine::{ActionCommand, Engine, EngineConfig, SignalResult, TenantView, Transition};
pub use entitlement::{EntitlementCommand, EntitlementState, Resource, Sku};
pub use governor::{GovernorEvent, GovernorState, Thresholds};
pub use ledger::Ledger;
pub use monitor::{MetricKind, RawSignal, Signal, SignalError, TenantId};
pub use receipt::{Cause, ChainError, ChainVerifier, Event, Receipt};
pub use storage::{Capacities, Storage};
