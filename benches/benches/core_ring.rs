//! Criterion micro-benchmark: two threads moving 64-byte messages through
//! the ringlink core ring over heap memory, next to the minimal SPSC ring
//! as baseline; prints both rates and their ratio (medians, same run).
//!
//! Run: `cargo bench -p ringlink-benches --bench core_ring`

use criterion::{Criterion, Throughput};
use ringlink_benches::inproc;
use ringlink_benches::stats::median;
use std::sync::Mutex;
use std::time::Duration;

/// Messages per measured batch.
const BATCH: u64 = 1_000_000;

/// Times `iters` batches with `run`, recording each batch's rate.
fn measure(iters: u64, run: fn(u64) -> Duration, rates: &Mutex<Vec<f64>>) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let elapsed = run(BATCH);
        rates.lock().unwrap().push(inproc::rate(BATCH, elapsed));
        total += elapsed;
    }
    total
}

fn main() {
    let core = Mutex::new(Vec::new());
    let minimal = Mutex::new(Vec::new());
    let mut criterion = Criterion::default()
        .sample_size(10)
        .measurement_time(Duration::from_secs(4))
        .configure_from_args();
    let mut group = criterion.benchmark_group("two_threads_64B");
    group.throughput(Throughput::Elements(BATCH));
    group.bench_function("minimal_ring", |b| {
        b.iter_custom(|iters| measure(iters, inproc::minimal_ring, &minimal))
    });
    group.bench_function("core_ring", |b| {
        b.iter_custom(|iters| measure(iters, inproc::core_ring, &core))
    });
    group.finish();
    criterion.final_summary();
    let core = median(&core.into_inner().unwrap());
    let minimal = median(&minimal.into_inner().unwrap());
    println!(
        "median msgs/s: core ring {:.1} M, minimal ring {:.1} M, ratio {:.2}",
        core / 1e6,
        minimal / 1e6,
        core / minimal
    );
}
