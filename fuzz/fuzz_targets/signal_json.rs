//! Arbitrary bytes as replay lines or an HTTP body of signals.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| autonomic_fuzz::json::run(data));
