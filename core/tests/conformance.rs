//! The conformance suite over the in-process channel.

use ringlink_core::conformance::Harness;
use ringlink_core::{Geometry, SpinPolicy, channel};

struct Channel;

impl Harness for Channel {
    type Tx = channel::Sender;
    type Rx = channel::Receiver;

    fn pair(capacity: usize, frames: u32) -> (Self::Tx, Self::Rx) {
        let geometry = Geometry::exact(capacity, frames).unwrap();
        channel::channel(geometry, SpinPolicy::default()).unwrap()
    }
}

ringlink_core::conformance_tests!(Channel);
