//! What the property tests share: a producer and a consumer over one ring
//! on the heap.

use ringlink_core::{Consumer, Geometry, HeapMemory, Producer};
use std::sync::Arc;

/// Both ends of one ring of `frames` frames for 40-byte messages, each
/// frame with `headroom` bytes in front of its payload.
pub fn ring_ends(
    frames: u32,
    headroom: usize,
) -> (Producer<Arc<HeapMemory>>, Consumer<Arc<HeapMemory>>) {
    let g = Geometry::exact(40, frames).unwrap();
    let mem = Arc::new(HeapMemory::new(g.ring_size() + 64));
    ringlink_core::ring_ends(mem, g, headroom).unwrap()
}
