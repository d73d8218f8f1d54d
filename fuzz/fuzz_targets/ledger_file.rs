//! Arbitrary bytes as a ledger file, and single flipped bits in a valid one: the reader never
//! panics, truncates only what it may, and refuses every flipped committed bit.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| autonomic_fuzz::ledger_file::run(data));
