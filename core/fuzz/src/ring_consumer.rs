//! A consumer (and an honest producer beside it) over ring memory that the
//! input fills and then keeps scribbling on: core's claim that every field
//! read from shared memory is bounds-checked, whatever the peer writes.
//!
//! Input: 8 bytes of geometry and placement, a length byte and that many
//! operation bytes, then the ring image (copied over the ring; the rest of
//! the ring stays zero, UNUSED).
//!
//! The ring lives in [`GuardedMemory`] that ends at the ring's last byte,
//! after an optional 64-byte skip-cursor line in front of it, so a read past
//! the ring faults. Every payload handed out must lie inside its frame's
//! capacity, every index inside the ring.

use super::{GuardedMemory, Input};
use ringlink_core::{Consumer, Deferred, Geometry, Memory, Producer, Ring, page_size};
use std::sync::Arc;

/// Largest ring the target builds (bytes).
const MAX_RING: usize = 256 * 1024;
/// Longest operation program.
const MAX_OPS: usize = 255;

/// Runs one input.
pub fn run(data: &[u8]) {
    let mut input = Input::new(data);
    let Some(geometry) = pick_geometry(&mut input) else {
        return;
    };
    let placement = input.u8();
    let headroom = usize::from(input.u8());
    let op_count = usize::from(input.u8()).min(MAX_OPS);
    let ops = input.bytes(op_count);
    let image = input.rest();

    // A skip cursor on its own line in front of the ring, or none (the
    // kernel's rings have none).
    let cursor = placement & 1 != 0;
    let front = if cursor { 64 } else { 0 };
    let memory = Arc::new(GuardedMemory::new(front + geometry.ring_size()));
    memory.fill(front, image);

    let place = || -> Option<Ring<Arc<GuardedMemory>>> {
        let ring = Ring::new(memory.clone(), front, geometry);
        // Geometry validated above and the region holds it exactly: the
        // ring must be placeable.
        let mut ring = ring.expect("a validated geometry that fits its region is refused");
        if cursor {
            ring = ring
                .with_skip_cursor(0)
                .expect("a skip cursor in front of the ring is refused");
        }
        if placement & 2 != 0 {
            // Headroom is refused when no payload byte would be left.
            ring = ring.with_headroom(headroom).ok()?;
        }
        Some(ring)
    };
    let (Some(rx_ring), Some(tx_ring)) = (place(), place()) else {
        return;
    };
    let capacity = rx_ring.capacity();
    let frame_nr = rx_ring.frame_nr();
    let mut consumer = Consumer::new(rx_ring);
    let mut producer = Producer::new(tx_ring);
    let mut held: Vec<Deferred> = Vec::new();
    let mut ops = Input::new(ops);
    let mut checksum = 0u64;

    while !ops.is_empty() {
        let op = ops.u8();
        match op % 12 {
            // Take the next message, look at it, then release, defer or
            // put it back.
            0 | 1 => {
                if let Ok(Some(guard)) = consumer.next() {
                    assert!(guard.index() < frame_nr, "index past the ring");
                    let payload = guard.payload();
                    assert!(payload.len() <= capacity, "payload past the frame");
                    checksum = touch(checksum, payload);
                    let meta = guard.meta();
                    checksum ^= u64::from(meta.pid) ^ u64::from(guard.copy_len());
                    if op & 0x20 != 0 {
                        guard.put_back();
                    } else if op & 0x10 != 0 {
                        match guard.defer() {
                            Ok(handle) => held.push(handle),
                            Err(guard) => guard.release(),
                        }
                    } else {
                        guard.release();
                    }
                }
            }
            2 => {
                let _ = consumer.poll();
            }
            3 => {
                let batch = consumer.batch(usize::from(op >> 4) * 5);
                assert!(batch.len() <= frame_nr as usize);
                for payload in batch.payloads() {
                    assert!(payload.len() <= capacity, "batch payload past the frame");
                    checksum = touch(checksum, payload);
                }
                // Sometimes only the first frames go; the rest stay.
                if op & 0x40 != 0 {
                    batch.release_first(usize::from(op >> 4) % 3);
                }
            }
            // Release a held deferred frame, any of them.
            4 if !held.is_empty() => {
                let handle = held.swap_remove(usize::from(op >> 4) % held.len());
                let _ = consumer.release_deferred(handle);
            }
            5 if !held.is_empty() => {
                let handle = &held[usize::from(op >> 4) % held.len()];
                assert!(handle.index() < frame_nr);
                if let Ok(payload) = consumer.deferred_payload(handle) {
                    assert!(payload.len() <= capacity);
                    checksum = touch(checksum, payload);
                }
            }
            // The hostile peer: a word anywhere in the ring (or the cursor).
            6 | 7 => {
                let at = usize::from(ops.u16()) * 4 % memory.len().max(1);
                memory.poke(at, ops.u32());
            }
            // A status word: frame, then one of the five values or garbage.
            8 => {
                let frame = u32::from(ops.u16()) % frame_nr;
                let status = match op >> 4 {
                    n @ 0..=4 => u32::from(n),
                    n => u32::from(n) << 8 | 0xff,
                };
                if let Some(header) = consumer.ring().raw_header(frame) {
                    header
                        .status()
                        .store(status, std::sync::atomic::Ordering::Release);
                }
            }
            // The honest producer: a message, a COPY, an abort.
            9 => {
                if let Ok(Some(mut guard)) = producer.reserve() {
                    let len = usize::from(ops.u8()).min(guard.capacity());
                    match op >> 4 {
                        0 => guard.abort(),
                        1 => guard.commit_copy(u32::from(op)),
                        _ => {
                            guard.buf()[..len].fill(op);
                            let _ = guard.commit(len);
                        }
                    }
                }
            }
            10 => {
                if let Ok(Some(frame)) = producer.lend() {
                    assert!(frame.index < frame_nr);
                }
                if op & 0x10 != 0 && producer.lent() > 0 {
                    let len = usize::from(ops.u16());
                    let _ = producer.publish_lent(len, Default::default());
                }
            }
            _ => {
                checksum ^= u64::from(consumer.has_pending())
                    ^ u64::from(consumer.can_defer())
                    ^ u64::from(consumer.deferred_count())
                    ^ u64::from(consumer.position())
                    ^ u64::from(producer.has_room());
                assert!(consumer.position() < frame_nr);
                assert!(consumer.deferred_count() < frame_nr.max(1));
            }
        }
    }
    // Drain what is left, a bounded number of steps.
    for _ in 0..2 * frame_nr {
        match consumer.next() {
            Ok(Some(guard)) => checksum = touch(checksum, guard.payload()),
            Ok(None) => break,
            Err(_) => {}
        }
    }
    std::hint::black_box(checksum);
}

/// Reads every byte of `payload` (a read past the region faults).
fn touch(sum: u64, payload: &[u8]) -> u64 {
    payload
        .iter()
        .fold(sum, |s, &b| s.rotate_left(5) ^ u64::from(b))
}

/// The geometry: mostly a small valid one built from the input, sometimes
/// the input's raw words. Either way `Geometry::validate` decides first.
fn pick_geometry(input: &mut Input<'_>) -> Option<Geometry> {
    let page = page_size() as u32;
    let mode = input.u8();
    let geometry = if mode & 0x80 != 0 {
        Geometry {
            block_size: input.u32(),
            block_nr: input.u32(),
            frame_size: input.u32(),
            frame_nr: input.u32(),
        }
    } else {
        let block_size = page * (1 + u32::from(mode & 3));
        let block_nr = 1 + u32::from(mode >> 2 & 3);
        // Frames of 24 bytes up to a whole block, any multiple of 4
        // (including sizes that leave a gap at the block's end).
        let frame_size = 24 + 4 * (u32::from(input.u16()) % ((block_size - 24) / 4 + 1));
        let frame_nr = match mode >> 4 & 7 {
            // A wrong count, for validation to refuse.
            7 => u32::from(input.u8()),
            _ => block_size / frame_size * block_nr,
        };
        Geometry {
            block_size,
            block_nr,
            frame_size,
            frame_nr,
        }
    };
    geometry.validate().ok()?;
    (geometry.frame_nr > 0 && geometry.ring_size() <= MAX_RING).then_some(geometry)
}
