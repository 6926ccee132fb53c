//! The baseline: a minimal single-producer single-consumer ring with a head
//! and a tail counter and fixed 64-byte slots, the least work two threads
//! can do to hand over a message through memory.

use crossbeam_utils::CachePadded;
use std::cell::UnsafeCell;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};

/// One message slot.
pub type Slot = [u8; 64];

/// A slot on its own cache line.
#[repr(C, align(64))]
struct Line(UnsafeCell<Slot>);

/// A head/tail SPSC ring of 64-byte slots, one per cache line.
pub struct MinimalRing {
    head: CachePadded<AtomicU64>,
    tail: CachePadded<AtomicU64>,
    slots: Box<[Line]>,
}

// SAFETY: a slot is written only by the single producer while
// `head - tail < len` says it is free, and read only by the single consumer
// after the head store (release) that published it; the counters hand each
// slot over exactly once per lap.
unsafe impl Sync for MinimalRing {}

impl MinimalRing {
    /// A ring of `slots` slots (rounded up to a power of two).
    pub fn new(slots: usize) -> MinimalRing {
        let slots = slots.next_power_of_two();
        MinimalRing {
            head: CachePadded::new(AtomicU64::new(0)),
            tail: CachePadded::new(AtomicU64::new(0)),
            slots: (0..slots).map(|_| Line(UnsafeCell::new([0; 64]))).collect(),
        }
    }

    fn slot(&self, position: u64) -> *mut Slot {
        self.slots[(position as usize) & (self.slots.len() - 1)]
            .0
            .get()
    }

    /// Producer side: copies `msg` into the next slot; `false` when full.
    /// Only one thread may push.
    pub fn push(&self, msg: &Slot, cached_tail: &mut u64) -> bool {
        let head = self.head.load(Relaxed);
        if head - *cached_tail == self.slots.len() as u64 {
            *cached_tail = self.tail.load(Acquire);
            if head - *cached_tail == self.slots.len() as u64 {
                return false;
            }
        }
        // SAFETY: the slot is free (checked above) and only this producer
        // writes free slots.
        unsafe { *self.slot(head) = *msg };
        self.head.store(head + 1, Release);
        true
    }

    /// Consumer side: passes the next message to `read`; `false` when
    /// empty. Only one thread may pop.
    pub fn pop(&self, cached_head: &mut u64, read: impl FnOnce(&Slot)) -> bool {
        let tail = self.tail.load(Relaxed);
        if tail == *cached_head {
            *cached_head = self.head.load(Acquire);
            if tail == *cached_head {
                return false;
            }
        }
        // SAFETY: the slot was published by the head store we acquired and
        // the producer does not touch it until the tail store below.
        read(unsafe { &*self.slot(tail) });
        self.tail.store(tail + 1, Release);
        true
    }
}
