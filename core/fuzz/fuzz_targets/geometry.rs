//! Fuzz target `geometry`: see [`ringlink_fuzz::geometry`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ringlink_fuzz::geometry::run(data));
