//! The JSON shapes of `docs/replay.md` and `docs/http-api.md`: replay input lines, result
//! lines, tenants, receipts and errors.
//!
//! Every output shape is a struct whose fields serialize in declaration order, so the keys
//! come out in the documented order. The same result shapes serve `replay` (with `line`) and
//! `POST /v1/signals` (without).
//!
//! Files: `input.rs` (replay lines, `POST` bodies), `unique_keys.rs` (the duplicate-key
//! check every body passes), `output.rs` (result and error lines), `action.rs` (actions),
//! `tenant.rs` (tenants), `receipt.rs` (receipts, the in-memory window's verification).

mod action;
mod input;
mod output;
mod receipt;
mod tenant;
mod unique_keys;

pub use action::{ActionJson, action_request, parse_action_request};
pub use input::{
    Admission, AdmissionInput, InputLine, SIGNALS_PER_REQUEST_MAX, SignalIn, from_body,
    parse_signals,
};
pub use output::{
    AdmissionLine, DuplicateLine, EntitlementLine, ErrorLine, GovernorLine, RateLimitedLine,
    SignalResultJson, admission_line, applied_line, to_line,
};
pub use receipt::{CauseJson, EventJson, ReceiptJson, WindowVerify, command_name};
pub use tenant::{EnforcedJson, InFlightJson, QueuedJson, TenantJson, UsageJson};
pub use unique_keys::check_unique_keys;

/// Longest `message` in an error object built from a parse failure, in bytes.
pub const MESSAGE_BYTES_MAX: usize = 512;

/// Cuts a message to [`MESSAGE_BYTES_MAX`] bytes on one line.
#[must_use]
pub fn cut(message: &str) -> String {
    crate::text::one_line(message, MESSAGE_BYTES_MAX)
}
