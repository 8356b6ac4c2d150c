//! The producer's request parser on long `headers` lists: parsing must
//! grow linearly with the number of names (criterion's throughput, in
//! names per second, stays flat from 1,000 to 16,000 names).
//!
//! `cargo bench -p zeroeventhub-bench --bench request` (about 20 s).

use std::{hint::black_box, time::Duration};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use zeroeventhub::FeedRequest;

/// A request for partition 0 of 4 listing `names` distinct header names.
fn query_with_headers(names: usize) -> String {
    let list: Vec<String> = (0..names).map(|i| format!("h{i}")).collect();
    format!("n=4&cursor0=_first&headers={}", list.join(","))
}

fn headers(c: &mut Criterion) {
    let mut group = c.benchmark_group("request_parse_headers");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    for names in [1_000, 4_000, 16_000] {
        let query = query_with_headers(names);
        group.throughput(Throughput::Elements(names as u64));
        group.bench_with_input(BenchmarkId::from_parameter(names), &query, |b, query| {
            b.iter(|| FeedRequest::parse(black_box(query), 4).expect("a valid request"));
        });
    }
    group.finish();
}

fn cursors(c: &mut Criterion) {
    let mut group = c.benchmark_group("request_parse_cursors");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    for count in [1_000u32, 16_000] {
        let query: String = std::iter::once(format!("n={count}"))
            .chain((0..count).rev().map(|p| format!("cursor{p}=_first")))
            .collect::<Vec<_>>()
            .join("&");
        group.throughput(Throughput::Elements(u64::from(count)));
        group.bench_with_input(BenchmarkId::from_parameter(count), &query, |b, query| {
            b.iter(|| FeedRequest::parse(black_box(query), count).expect("a valid request"));
        });
    }
    group.finish();
}

criterion_group!(benches, headers, cursors);
criterion_main!(benches);
