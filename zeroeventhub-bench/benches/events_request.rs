//! What a version 2 events request costs the producer before it reads:
//! the discovery's token and partition checked, the request handed to the
//! reader. With a log of many partitions that check must not grow with
//! the partition count (criterion's time per request stays about flat
//! from 4 to 32,768 partitions, for `MemoryLog` and the SQL `EventLog`
//! alike, whose discoveries are shared, not copied, per request).
//!
//! `cargo bench -p zeroeventhub-bench --bench events_request` (about 15 s).

use std::{hint::black_box, time::Duration};

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use futures_util::StreamExt;
use zeroeventhub::server::{Feed, FeedResponse, MemoryLog};

/// Answers one request from `_last` (no event) and drains its body.
async fn answer(feed: &Feed<MemoryLog>, query: &str) -> usize {
    let FeedResponse::Stream(mut body) = feed.respond_events(query).await else {
        panic!("the request is valid");
    };
    let mut bytes = 0;
    while let Some(chunk) = body.next().await {
        bytes += chunk.expect("the body completes").len();
    }
    bytes
}

fn events_request(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let mut group = c.benchmark_group("events_request_by_partitions");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    for partitions in [4u32, 1_024, 32_768] {
        let feed = Feed::from(MemoryLog::new(partitions));
        // The last partition: a linear search would look at every one.
        let query = format!("token=1&partition={}&cursor=_last", partitions - 1);
        group.bench_with_input(
            BenchmarkId::from_parameter(partitions),
            &query,
            |b, query| b.iter(|| runtime.block_on(answer(&feed, black_box(query)))),
        );
    }
    group.finish();
}

criterion_group!(benches, events_request);
criterion_main!(benches);
