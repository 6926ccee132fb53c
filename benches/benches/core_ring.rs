//! Criterion micro-benchmark: two threads moving 64-byte messages through
//! the ringlink core ring over heap memory, next to the minimal SPSC ring
//! as baseline; prints both rates and their ratio.
//!
//! The host moves vCPUs around, so the printed ratio pairs each batch of the
//! core ring with a batch of the minimal ring run just before it (same
//! conditions), and takes the median of those pairs.
//!
//! Run: `cargo bench -p ringlink-benches --bench core_ring`

use criterion::{Criterion, Throughput};
use ringlink_benches::inproc;
use ringlink_benches::stats::median;
use std::sync::Mutex;
use std::time::Duration;

/// Messages per measured batch.
const BATCH: u64 = 1_000_000;

/// Rates of the core ring, of the minimal ring run just before each.
#[derive(Default)]
struct Pairs {
    core: Vec<f64>,
    minimal: Vec<f64>,
}

fn main() {
    let pairs = Mutex::new(Pairs::default());
    let mut criterion = Criterion::default()
        .sample_size(10)
        .measurement_time(Duration::from_secs(4))
        .configure_from_args();
    let mut group = criterion.benchmark_group("two_threads_64B");
    group.throughput(Throughput::Elements(BATCH));
    group.bench_function("minimal_ring", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| inproc::minimal_ring(BATCH)).sum())
    });
    group.bench_function("core_ring", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let baseline = inproc::rate(BATCH, inproc::minimal_ring(BATCH));
                let elapsed = inproc::core_ring(BATCH);
                let mut pairs = pairs.lock().unwrap_or_else(|e| e.into_inner());
                pairs.minimal.push(baseline);
                pairs.core.push(inproc::rate(BATCH, elapsed));
                total += elapsed;
            }
            total
        })
    });
    group.finish();
    criterion.final_summary();
    let pairs = pairs.into_inner().unwrap_or_else(|e| e.into_inner());
    let ratios: Vec<f64> = pairs
        .core
        .iter()
        .zip(&pairs.minimal)
        .map(|(c, m)| c / m)
        .collect();
    println!(
        "median msgs/s: core ring {:.1} M, minimal ring {:.1} M (paired runs); median of paired ratios {:.2}",
        median(&pairs.core) / 1e6,
        median(&pairs.minimal) / 1e6,
        median(&ratios)
    );
}
