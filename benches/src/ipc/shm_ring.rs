//! The cross-process baseline: a minimal single-producer single-consumer
//! ring in POSIX shared memory, head and tail counters and fixed-size slots,
//! busy-polling. The least two processes can do to hand over messages.

use shared_memory::{Shmem, ShmemConf};
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};

/// Bytes before the slots: head and tail on cache lines of their own.
const HEADER: usize = 256;
/// Which counter: messages pushed, messages popped.
const HEAD: usize = 0;
const TAIL: usize = 1;

/// One end of a shared ring of `slots` (a power of two) slots of `slot`
/// bytes.
pub struct ShmRing {
    shmem: Shmem,
    slot: usize,
    slots: u64,
    /// Bytes from one slot to the next.
    stride: usize,
    /// The other side's counter as last read.
    cached: u64,
}

impl ShmRing {
    fn size(slot: usize, slots: u64) -> usize {
        HEADER + slot.next_multiple_of(64) * slots as usize
    }

    /// Creates the ring under `name`.
    pub fn create(name: &str, slot: usize, slots: u32) -> Result<ShmRing, String> {
        let slots = u64::from(slots.next_power_of_two());
        let shmem = ShmemConf::new()
            .os_id(name)
            .size(Self::size(slot, slots))
            .create()
            .map_err(|e| format!("creating shared memory {name}: {e}"))?;
        Ok(ShmRing {
            shmem,
            slot,
            slots,
            stride: slot.next_multiple_of(64),
            cached: 0,
        })
    }

    /// Opens the ring created under `name`.
    pub fn open(name: &str, slot: usize, slots: u32) -> Result<ShmRing, String> {
        let slots = u64::from(slots.next_power_of_two());
        let shmem = ShmemConf::new()
            .os_id(name)
            .open()
            .map_err(|e| format!("opening shared memory {name}: {e}"))?;
        if shmem.len() < Self::size(slot, slots) {
            return Err(format!("shared memory {name} is too small"));
        }
        Ok(ShmRing {
            shmem,
            slot,
            slots,
            stride: slot.next_multiple_of(64),
            cached: 0,
        })
    }

    fn counter(&self, which: usize) -> &AtomicU64 {
        // SAFETY: the header holds two 64-byte-spaced u64 counters at the
        // page-aligned start of a mapping at least HEADER bytes long, only
        // ever accessed atomically.
        unsafe { &*(self.shmem.as_ptr().add(which * 128) as *const AtomicU64) }
    }

    fn slot_ptr(&self, position: u64) -> *mut u8 {
        let index = (position % self.slots) as usize;
        // In bounds: index < slots, and the mapping holds all slots.
        self.shmem
            .as_ptr()
            .wrapping_add(HEADER + index * self.stride)
    }

    /// Producer: copies `msg` (at most a slot) into the next slot, spinning
    /// while the ring is full.
    pub fn push(&mut self, msg: &[u8]) {
        let position = self.counter(HEAD).load(Relaxed);
        while position - self.cached == self.slots {
            self.cached = self.counter(TAIL).load(Acquire);
            std::hint::spin_loop();
        }
        let len = msg.len().min(self.slot);
        // SAFETY: the slot is free (tail passed it) and only this producer
        // writes free slots; `len` fits the slot.
        unsafe { std::ptr::copy_nonoverlapping(msg.as_ptr(), self.slot_ptr(position), len) };
        self.counter(HEAD).store(position + 1, Release);
    }

    /// Consumer: copies the next message into `buf`, spinning while empty.
    pub fn pop(&mut self, buf: &mut [u8]) {
        let position = self.counter(TAIL).load(Relaxed);
        while position == self.cached {
            self.cached = self.counter(HEAD).load(Acquire);
            std::hint::spin_loop();
        }
        let len = buf.len().min(self.slot);
        // SAFETY: the slot was published by the head store we acquired and
        // is not reused before the tail store below.
        unsafe { std::ptr::copy_nonoverlapping(self.slot_ptr(position), buf.as_mut_ptr(), len) };
        self.counter(TAIL).store(position + 1, Release);
    }
}
