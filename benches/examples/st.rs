use ringlink_core::*;
use std::sync::Arc;
use std::time::Instant;
fn main() {
    let g = Geometry::exact(64, 1024).unwrap();
    let mem = Arc::new(HeapMemory::new(g.ring_size() + 64));
    let ring = || Ring::new(mem.clone(), 0, g).unwrap().with_skip_cursor(g.ring_size()).unwrap();
    let (mut tx, mut rx) = (Producer::new(ring()), Consumer::new(ring()));
    let t = Instant::now();
    let mut sum = 0u64;
    for round in 0..2_000u64 {
        for i in 0..512u64 { let mut f = tx.reserve().unwrap().unwrap(); f.buf()[..8].copy_from_slice(&(round+i).to_le_bytes()); f.commit(64).unwrap(); }
        for _ in 0..512 { let f = rx.next().unwrap().unwrap(); sum += f.payload()[0] as u64; }
    }
    let n = 2_000.0 * 512.0;
    println!("core single-thread: {:.1} ns/msg (sum {sum})", t.elapsed().as_nanos() as f64 / n);
    let r = ringlink_benches::minimal_ring::MinimalRing::new(1024);
    let (mut ct, mut ch) = (0, 0);
    let t = Instant::now();
    let mut msg = [0u8; 64];
    for round in 0..2_000u64 {
        for i in 0..512u64 { msg[..8].copy_from_slice(&(round+i).to_le_bytes()); assert!(r.push(&msg, &mut ct)); }
        for _ in 0..512 { r.pop(&mut ch, |s| sum += s[0] as u64); }
    }
    println!("minimal single-thread: {:.1} ns/msg (sum {sum})", t.elapsed().as_nanos() as f64 / n);
}
