//! The core conformance suite over memfd links (both ends in this process;
//! the cross-process behaviour is tested in `processes.rs`).

use ringlink_core::conformance::Harness;
use ringlink_memfd::{Link, LinkOptions, Trust, pair};

/// Link pairs that read messages in place (`TRUSTED`) or copy them out.
struct Links<const TRUSTED: bool>;

impl<const TRUSTED: bool> Harness for Links<TRUSTED> {
    type Tx = Link;
    type Rx = Link;

    fn pair(capacity: usize, frames: u32) -> (Link, Link) {
        let options = LinkOptions {
            frame_message: capacity,
            frames,
            trust: if TRUSTED {
                Trust::Peer
            } else {
                Trust::Untrusted
            },
            ..LinkOptions::default()
        };
        pair(&options).expect("a memfd link pair")
    }
}

mod untrusted {
    ringlink_core::conformance_tests!(super::Links<false>);
}

mod trusted {
    ringlink_core::conformance_tests!(super::Links<true>);
}
