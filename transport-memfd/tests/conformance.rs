//! The core conformance suite over memfd links (both ends in this process;
//! the cross-process behaviour is tested in `processes.rs`).

use ringlink_core::conformance::Harness;
use ringlink_memfd::{Link, LinkOptions, Trust, pair};

/// Links with the given trust, `frames` frames of `capacity` bytes.
fn link_pair(capacity: usize, frames: u32, trust: Trust) -> (Link, Link) {
    let options = LinkOptions {
        frame_message: capacity,
        frames,
        trust,
        ..LinkOptions::default()
    };
    pair(&options).expect("a memfd link pair")
}

/// Untrusted (copying) links, the default.
struct Untrusted;

impl Harness for Untrusted {
    type Tx = Link;
    type Rx = Link;

    fn pair(capacity: usize, frames: u32) -> (Link, Link) {
        link_pair(capacity, frames, Trust::Untrusted)
    }
}

/// Zero-copy links.
struct Trusted;

impl Harness for Trusted {
    type Tx = Link;
    type Rx = Link;

    fn pair(capacity: usize, frames: u32) -> (Link, Link) {
        link_pair(capacity, frames, Trust::Peer)
    }
}

mod untrusted {
    ringlink_core::conformance_tests!(super::Untrusted);
}

mod trusted {
    ringlink_core::conformance_tests!(super::Trusted);
}
