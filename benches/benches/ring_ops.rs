//! Criterion micro-benchmarks of the core ring's operations, one thread,
//! heap memory, 64-byte messages: what each step costs without a second
//! core in the way (the two-thread figures are in `core_ring`).
//!
//! - `send_recv`: reserve, write, commit; next, read, release;
//! - `batch_64`: 64 messages committed, then taken as one batch;
//! - `defer_release`: a message taken, deferred (SKIP), released later;
//! - `lend_publish`: a frame lent to an outside filler and published (the
//!   netlink feeds' path).
//!
//! Run: `cargo bench -p ringlink-benches --bench ring_ops`

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ringlink_core::{Consumer, FrameMeta, Geometry, HeapMemory, Producer, ring_ends};
use std::hint::black_box;
use std::sync::Arc;

/// Message size.
const MESSAGE: usize = 64;
/// Frames in the ring.
const FRAMES: u32 = 256;

/// Both ends of a fresh heap ring of [`FRAMES`] frames for [`MESSAGE`]
/// bytes.
fn ends() -> (Producer<Arc<HeapMemory>>, Consumer<Arc<HeapMemory>>) {
    let geometry = Geometry::for_messages(MESSAGE, FRAMES).expect("a valid geometry");
    let memory = Arc::new(HeapMemory::new(geometry.ring_size() + 64));
    ring_ends(memory, geometry, 0).expect("a ring over the heap")
}

fn ring_ops(c: &mut Criterion) {
    let msg = [0x5au8; MESSAGE];
    let mut group = c.benchmark_group("core_ring_one_thread_64B");
    group.throughput(Throughput::Elements(1));

    let (mut tx, mut rx) = ends();
    group.bench_function("send_recv", |b| {
        b.iter(|| {
            tx.reserve().unwrap().unwrap().write(&msg).unwrap();
            let frame = rx.next().unwrap().unwrap();
            black_box(frame.payload()[0]);
            frame.release();
        })
    });

    let (mut tx, mut rx) = ends();
    group.throughput(Throughput::Elements(64));
    group.bench_function("batch_64", |b| {
        b.iter(|| {
            for _ in 0..64 {
                tx.reserve().unwrap().unwrap().write(&msg).unwrap();
            }
            let batch = rx.batch(64);
            black_box(batch.payloads().map(|p| p[0]).sum::<u8>());
        })
    });

    let (mut tx, mut rx) = ends();
    group.throughput(Throughput::Elements(1));
    group.bench_function("defer_release", |b| {
        b.iter(|| {
            tx.reserve().unwrap().unwrap().write(&msg).unwrap();
            let Ok(handle) = rx.next().unwrap().unwrap().defer() else {
                panic!("a ring with a skip cursor defers");
            };
            black_box(rx.deferred_payload(&handle).unwrap()[0]);
            rx.release_deferred(handle).unwrap();
        })
    });

    let (mut tx, mut rx) = ends();
    group.bench_function("lend_publish", |b| {
        b.iter(|| {
            let frame = tx.lend().unwrap().unwrap();
            black_box(frame.as_mut_ptr());
            tx.publish_lent(MESSAGE, FrameMeta::default()).unwrap();
            rx.next().unwrap().unwrap().release();
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = ring_ops
}
criterion_main!(benches);
