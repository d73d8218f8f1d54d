//! The adapter's own JSON parsers (`autonomic_tokio::wire`): arbitrary bytes as a
//! `POST /v1/signals` body and as replay lines. Never a panic; a body is either signals the
//! core then validates, or one `MalformedInput` message on one bounded line; a body naming a
//! key twice in one object, at any depth, is always refused (the oracle below finds them its
//! own way: every object's keys collected, sorted, compared with their neighbours).
#![no_main]

use autonomic_core::{RawSignal, Signal};
use autonomic_tokio::wire::{InputLine, MESSAGE_BYTES_MAX, SIGNALS_PER_REQUEST_MAX, parse_signals};
use libfuzzer_sys::fuzz_target;
use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

/// Whether some object of the JSON document has a key twice: `None` if it is not JSON.
fn has_duplicate_key(data: &[u8]) -> Option<bool> {
    let mut de = serde_json::Deserializer::from_slice(data);
    let found = Dups::deserialize(&mut de).ok()?;
    de.end().ok()?;
    Some(found.0)
}

/// A JSON value reduced to "a duplicate key somewhere below".
struct Dups(bool);

impl<'de> Deserialize<'de> for Dups {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(DupsVisitor)
    }
}

struct DupsVisitor;

impl<'de> Visitor<'de> for DupsVisitor {
    type Value = Dups;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("JSON")
    }
    fn visit_bool<E>(self, _: bool) -> Result<Dups, E> {
        Ok(Dups(false))
    }
    fn visit_i64<E>(self, _: i64) -> Result<Dups, E> {
        Ok(Dups(false))
    }
    fn visit_u64<E>(self, _: u64) -> Result<Dups, E> {
        Ok(Dups(false))
    }
    fn visit_f64<E>(self, _: f64) -> Result<Dups, E> {
        Ok(Dups(false))
    }
    fn visit_str<E>(self, _: &str) -> Result<Dups, E> {
        Ok(Dups(false))
    }
    fn visit_unit<E>(self) -> Result<Dups, E> {
        Ok(Dups(false))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Dups, A::Error> {
        let mut found = false;
        while let Some(Dups(d)) = seq.next_element()? {
            found |= d;
        }
        Ok(Dups(found))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Dups, A::Error> {
        let mut keys: Vec<String> = Vec::new();
        let mut found = false;
        while let Some((key, Dups(d))) = map.next_entry::<String, Dups>()? {
            keys.push(key);
            found |= d;
        }
        keys.sort_unstable();
        Ok(Dups(found || keys.windows(2).any(|w| w[0] == w[1])))
    }
}

fuzz_target!(|data: &[u8]| {
    let duplicate = has_duplicate_key(data) == Some(true);
    match parse_signals(data) {
        Ok(signals) => {
            assert!(!duplicate, "a body with a duplicate key was accepted");
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
                !duplicate || message.contains("duplicate key"),
                "a duplicate key refused for another reason: {message:?}"
            );
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
