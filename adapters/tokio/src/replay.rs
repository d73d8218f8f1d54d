//! `autonomic replay`: the daemon with the clock replaced.
//!
//! Literally: each line becomes an input ([`crate::input::Input`]) applied by
//! [`crate::input::apply`], through the same [`crate::input::Apply`] mappings the engine
//! thread applies its requests and actuator reports with. Only the driver differs: the clock
//! is the lines' (below) instead of the wall's; outcome lines stand in for the actuators'
//! reports; the effects (receipts, action commands) are dropped after each line instead of
//! committed and dispatched; and a `Busy` is answered, not retried.
//!
//! Deterministic: no I/O but the input and the output, nothing executed, and identical
//! input gives byte-for-byte identical output. It drives the same engine as `run`, with the
//! default thresholds and timeouts.
//!
//! - The clock: a line's `now_ms` (any line may carry one); a signal without one uses its
//!   `ts_ms`; any other line keeps the last clock seen (0 before the first).
//! - Admission lines (`admit`, `release`) are answered as the sidecar answers its admission
//!   endpoints, at the clock: they change no receipt; the `rate` buckets refill from it.
//! - Exactly one output line per input line, in order (the shapes of
//!   `docs/replay.md#output-lines`). A line that
//!   is not JSON, not an object of a known `type`, lacks a field, has a field of the wrong
//!   type, is not UTF-8 or is longer than [`LINE_BYTES_MAX`] gets `MalformedInput`; replay
//!   never stops at a bad line.
//! - Outcomes come from the input (`action_succeeded`, `action_failed`), applied to the
//!   tenant's action in flight if any. Replay never runs `handle_timeout`: there are no
//!   actuators, so nothing times out. An action stays in flight until an outcome line or a
//!   newer action supersedes it; with 64 tenants holding actions in flight, a signal whose
//!   step would dispatch one more gets `Busy`.

use std::io::{self, BufRead, Write};

use autonomic_core::Resource;
use autonomic_core::engine::{Engine, EngineConfig};
use autonomic_core::limits::{
    DEDUP_IDS_DEFAULT, IN_FLIGHT_DEFAULT, QUEUED_DEFAULT, ROLLBACKABLE_DEFAULT,
    TENANT_ID_MAX_BYTES, TIMERS_DEFAULT,
};
use autonomic_core::storage::{Capacities, OwnedStorage};

use crate::input::apply;
use crate::wire::{
    AdmissionInput, ErrorLine, InputLine, admission_line, applied_line, cut, to_line,
};

/// Longest input line, in bytes (the newline excluded); a longer one is `MalformedInput`.
pub const LINE_BYTES_MAX: usize = 1024 * 1024;

/// What replay's engine holds: 4096 tenants with room for ids of the longest length (so the
/// tenant count, not the id arena, is the limit a trace meets), the default dedup capacity,
/// 65 536 receipts, and the default 64 actions in flight, 64 remembered for rollback, 64 queued
/// and 128 governor timers.
pub const CAPACITIES: Capacities = Capacities {
    tenants: 4096,
    tenant_id_bytes: 4096 * TENANT_ID_MAX_BYTES,
    dedup_ids: DEDUP_IDS_DEFAULT,
    receipts: 65_536,
    in_flight: IN_FLIGHT_DEFAULT,
    rollbackable: ROLLBACKABLE_DEFAULT,
    queued: QUEUED_DEFAULT,
    timers: TIMERS_DEFAULT,
};

/// Replays `input` to `output`. Only I/O errors of the input or output stop it.
pub fn replay(input: &mut dyn BufRead, output: &mut dyn Write) -> io::Result<()> {
    let mut storage = OwnedStorage::new(&CAPACITIES);
    let mut engine = match Engine::new(EngineConfig::default(), storage.storage()) {
        Ok(engine) => engine,
        Err(e) => return Err(io::Error::other(e.to_string())),
    };
    let mut now_ms = 0_u64;
    let mut line_no = 0_u64;
    let mut buf = Vec::with_capacity(4096);
    loop {
        buf.clear();
        let Some(too_long) = read_line(input, &mut buf)? else {
            break;
        };
        line_no += 1;
        let out = if too_long {
            malformed(line_no, &format!("line longer than {LINE_BYTES_MAX} bytes"))
        } else {
            one_line(&mut engine, &mut now_ms, line_no, &buf)
        };
        output.write_all(out.as_bytes())?;
        output.write_all(b"\n")?;
        drain(&mut engine);
    }
    output.flush()
}

/// Reads one line into `buf` (without its `\n`), keeping at most [`LINE_BYTES_MAX`] bytes.
/// `None` at end of input; `Some(true)` when the line was longer (the rest is skipped).
fn read_line(input: &mut dyn BufRead, buf: &mut Vec<u8>) -> io::Result<Option<bool>> {
    let mut too_long = false;
    let mut read_any = false;
    loop {
        let chunk = match input.fill_buf() {
            Ok(chunk) => chunk,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if chunk.is_empty() {
            return Ok(read_any.then_some(too_long));
        }
        read_any = true;
        let (part, used, done) = match chunk.iter().position(|&b| b == b'\n') {
            Some(i) => (chunk.get(..i).unwrap_or_default(), i + 1, true),
            None => (chunk, chunk.len(), false),
        };
        let room = LINE_BYTES_MAX.saturating_sub(buf.len());
        if part.len() > room {
            too_long = true;
        }
        if !too_long {
            buf.extend_from_slice(part);
        }
        input.consume(used);
        if done {
            return Ok(Some(too_long));
        }
    }
}

fn malformed(line_no: u64, message: &str) -> String {
    to_line(&ErrorLine::new(Some(line_no), "MalformedInput", message))
}

/// Handles one input line and returns its output line.
fn one_line(engine: &mut Engine<'_>, now_ms: &mut u64, line_no: u64, bytes: &[u8]) -> String {
    match AdmissionInput::parse(bytes) {
        Some(Ok(admission)) => return admission_of(engine, now_ms, line_no, &admission),
        Some(Err(message)) => return malformed(line_no, &message),
        None => {}
    }
    let line: InputLine = match serde_json::from_slice(bytes) {
        Ok(line) => line,
        Err(e) => return malformed(line_no, &cut(&e.to_string())),
    };
    if let Some(now) = line.now_ms() {
        *now_ms = now;
    }
    let input = line.into_input();
    let applied = apply(engine, *now_ms, &input);
    applied_line(Some(line_no), input.tenant(), &applied)
}

/// Handles an admission line as the sidecar answers `POST /v1/tenants/{id}/admit` or
/// `/release`, and returns its output line.
fn admission_of(
    engine: &mut Engine<'_>,
    now_ms: &mut u64,
    line_no: u64,
    admission: &AdmissionInput,
) -> String {
    let (release, a) = admission.parts();
    if let Some(now) = a.now_ms {
        *now_ms = now;
    }
    let resource = match Resource::parse(&a.resource) {
        Ok(resource) => resource,
        Err(e) => return to_line(&ErrorLine::new(Some(line_no), e.name(), &e.to_string())),
    };
    let result = if release {
        engine.release(&a.tenant, resource, a.amount)
    } else {
        engine.admit(*now_ms, &a.tenant, resource, a.amount)
    };
    admission_line(Some(line_no), &a.tenant, resource, &result)
}

/// Discards the effects: replay persists nothing and runs nothing.
fn drain(engine: &mut Engine<'_>) {
    while engine.poll_record().is_some() {}
    while engine.poll_action().is_some() {}
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(input: &str) -> String {
        let mut out = Vec::new();
        let mut reader = io::Cursor::new(input.as_bytes().to_vec());
        match replay(&mut reader, &mut out) {
            Ok(()) => String::from_utf8_lossy(&out).into_owned(),
            Err(e) => format!("replay failed: {e}"),
        }
    }

    #[test]
    fn one_line_out_per_line_in_even_when_malformed() {
        // Proves replay answers every line, including blank, non-JSON and unknown types.
        let out = run("\n{\nnot json\n{\"type\":\"nope\",\"tenant\":\"a\"}\n");
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 4, "{out}");
        for (i, line) in lines.iter().enumerate() {
            let prefix = format!("{{\"line\":{},\"error\":\"MalformedInput\"", i + 1);
            assert!(line.starts_with(&prefix), "{line}");
        }
    }
}
