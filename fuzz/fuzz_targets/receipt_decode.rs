//! Arbitrary bytes through `Receipt::decode`; what decodes round-trips.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| autonomic_fuzz::decode::run(data));
