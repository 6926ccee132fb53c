//! Fuzz target `netlink`: see [`ringlink_fuzz::netlink`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ringlink_fuzz::netlink::run(data));
