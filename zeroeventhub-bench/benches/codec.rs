//! Codec micro-benchmarks on the W1 body (100,000 events, each followed by
//! its checkpoint), built once in memory: our decoder (lines only, and with
//! typed data), our encoder, and as ceilings in the same run serde_json
//! parsing the same lines split with memchr (raw data, and fully typed).
//!
//! `cargo bench -p zeroeventhub-bench --bench codec` (about a minute).

use std::{hint::black_box, time::Duration};

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use zeroeventhub::{
    Event, FeedLine,
    ndjson::{Decoder, encode_line},
};
use zeroeventhub_bench::{
    ceiling,
    workload::{DEFAULT_EVENTS, PersonNameChanged, feed_lines, w1_body},
};

/// The chunk size the decoder is fed with.
const CHUNK: usize = 64 * 1024;

/// Decodes `body` in chunks of [`CHUNK`] with `decoder`, calling `each`
/// on every line.
fn decode<D: serde::de::DeserializeOwned>(
    mut decoder: Decoder<D>,
    body: &[u8],
    mut each: impl FnMut(FeedLine<D>),
) {
    for chunk in body.chunks(CHUNK) {
        decoder.push(chunk);
        while let Some(line) = decoder.decode().expect("valid body") {
            each(line);
        }
    }
    while let Some(line) = decoder.decode_eof().expect("valid body") {
        each(line);
    }
}

fn codec(c: &mut Criterion) {
    let body = w1_body(DEFAULT_EVENTS);
    let lines: Vec<FeedLine> = feed_lines(0, DEFAULT_EVENTS)
        .map(|line| match line {
            FeedLine::Event(event) => {
                FeedLine::Event(Event::from_data(0, &event.data).expect("the workload serialises"))
            }
            FeedLine::Checkpoint(cursor) => FeedLine::Checkpoint(cursor),
        })
        .collect();
    let mut group = c.benchmark_group("w1_body");
    group
        .throughput(Throughput::Bytes(body.len() as u64))
        // Each iteration takes milliseconds: flat sampling, few samples.
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));

    group.bench_function("decoder_lines", |b| {
        b.iter(|| {
            let mut count = 0_u64;
            decode(Decoder::new(), black_box(&body), |_| count += 1);
            count
        });
    });
    group.bench_function("decoder_then_data_as", |b| {
        b.iter(|| {
            let mut sum = 0_u64;
            decode(Decoder::new(), black_box(&body), |line| {
                if let FeedLine::Event(event) = line {
                    let data: PersonNameChanged = event.data_as().expect("typed data");
                    sum += data.seq;
                }
            });
            sum
        });
    });
    group.bench_function("decoder_typed", |b| {
        // One pass: each line parsed straight into the struct.
        b.iter(|| {
            let mut sum = 0_u64;
            decode(
                Decoder::<PersonNameChanged>::typed(),
                black_box(&body),
                |line| {
                    if let FeedLine::Event(event) = line {
                        sum += event.data.seq;
                    }
                },
            );
            sum
        });
    });
    group.bench_function("encoder", |b| {
        b.iter(|| {
            let mut out = Vec::with_capacity(body.len());
            for line in black_box(&lines) {
                encode_line(line, &mut out).expect("raw data encodes");
            }
            out
        });
    });
    group.bench_function("encoder_from_struct", |b| {
        // What the producer does per event: build the struct, serialise it,
        // encode the line and its checkpoint.
        b.iter(|| {
            let mut out = Vec::with_capacity(body.len());
            for line in feed_lines(0, black_box(DEFAULT_EVENTS)) {
                encode_line(&line, &mut out).expect("serialises");
            }
            out
        });
    });
    group.bench_function("serde_json_raw_ceiling", |b| {
        b.iter(|| ceiling::parse_raw(black_box(&body)).expect("valid body"));
    });
    group.bench_function("serde_json_typed_ceiling", |b| {
        b.iter(|| ceiling::parse_typed(black_box(&body)).expect("valid body"));
    });
    group.bench_function("serde_json_typed_text_ceiling", |b| {
        b.iter(|| ceiling::parse_typed_text(black_box(&body)).expect("valid body"));
    });
    group.finish();
}

criterion_group!(benches, codec);
criterion_main!(benches);
