//! An `arbitrary` list of operations through the engine, invariants checked on every drain.
#![no_main]
libfuzzer_sys::fuzz_target!(
    |input: autonomic_fuzz::governor::Input| autonomic_fuzz::governor::run(&input)
);
