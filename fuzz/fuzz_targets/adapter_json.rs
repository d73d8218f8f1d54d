//! The adapter's own JSON parsers (`autonomic_tokio::wire`): arbitrary bytes as a
//! `POST /v1/signals` body and as replay lines. Never a panic; a body is either signals the
//! core then validates, or one `MalformedInput` message on one bounded line.
#![no_main]

use autonomic_core::{RawSignal, Signal};
use autonomic_tokio::wire::{InputLine, MESSAGE_BYTES_MAX, SIGNALS_PER_REQUEST_MAX, parse_signals};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match parse_signals(data) {
        Ok(signals) => {
            assert!(signals.len() <= SIGNALS_PER_REQUEST_MAX);
            for s in &signals {
                let raw = RawSignal {
                    tenant: &s.tenant,
                    metric: &s.metric,
                    value: s.value,
                    ts_ms: s.ts_ms,
                };
                if let Ok(signal) = Signal::parse(&raw, s.ts_ms) {
                    assert!(signal.value_pct <= 100);
                }
            }
        }
        Err(message) => {
            assert!(
                !message.contains('\n'),
                "MalformedInput message spans lines: {message:?}"
            );
            assert!(
                message.len() <= MESSAGE_BYTES_MAX + 4,
                "message too long: {}",
                message.len()
            );
        }
    }
    for line in data.split(|b| *b == b'\n') {
        if let Ok(parsed) = serde_json::from_slice::<InputLine>(line) {
            let _ = parsed.now_ms();
        }
    }
});
