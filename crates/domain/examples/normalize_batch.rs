//! Times `normalize_batch` on 1,000,000 distinct canonical Indian mobiles (`+9198xxxxxxxx`), and
//! `normalize_with` on 200,000 of them one by one on one thread.
//!
//! `cargo run --release -p domain --example normalize_batch [count]`

use std::time::Instant;

fn main() {
    let count: u64 = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000_000);
    let inputs: Vec<String> = (0..count).map(|i| format!("+9198{i:08}")).collect();
    let list: domain::NumberList = inputs.iter().collect();
    // Compiles the metadata patterns of +91 once, as the first request of a process would.
    let _ = domain::normalize_batch(&["+919800000000"], None);
    let single = inputs.len().min(200_000);
    for _ in 0..5 {
        let started = Instant::now();
        let batch = domain::normalize_batch(&list, None);
        let batch_time = started.elapsed();
        let started = Instant::now();
        let valid = inputs[..single]
            .iter()
            .filter(|s| domain::normalize_with(s, None).is_ok())
            .count();
        println!(
            "batch of {count}: {batch_time:?} ({} valid); one by one, {single}: {:?} ({valid} valid)",
            batch.numbers.len(),
            started.elapsed()
        );
    }
}
