//! Arbitrary bytes as a ledger: the verifier classifies, never panics, never accepts a
//! chain whose hashes do not link.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| autonomic_fuzz::ledger::run(data));
