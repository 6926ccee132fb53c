//! Fuzz target `memfd_control`: see [`ringlink_fuzz::memfd_control`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ringlink_fuzz::memfd_control::run(data));
