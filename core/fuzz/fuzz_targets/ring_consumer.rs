//! Fuzz target `ring_consumer`: see [`ringlink_fuzz::ring_consumer`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ringlink_fuzz::ring_consumer::run(data));
