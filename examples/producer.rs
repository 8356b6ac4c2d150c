//! A producer: serves a feed of name changes at
//! `http://127.0.0.1:8080/person/feed/v1` (or the address given as the
//! first argument) and appends a new event every half second, until Ctrl-C.
//!
//! Read it with `cargo run --example consumer`, or with curl:
//! `curl 'http://127.0.0.1:8080/person/feed/v1?n=3&cursor0=_first&headers=_all'`
#![allow(clippy::print_stdout)] // printing is this example's job

use std::time::Duration;

use axum::{Router, routing::get};
use serde_json::json;
use zeroeventhub::{
    Event,
    server::{Feed, MemoryLog},
};

const PARTITIONS: u32 = 3;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,zeroeventhub=debug".into()),
        )
        .init();
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8080".to_owned());

    // Your events live in your database; here, an in-memory log. A
    // consumer that is caught up long-polls: its request is held until the
    // next append (at most a minute).
    let log = MemoryLog::new(PARTITIONS);
    let feed = Feed::from(log.clone());
    let app = Router::new()
        .route(
            "/person/feed/v1",
            zeroeventhub_axum::feed_route(feed.clone()),
        )
        .route("/health", get(|| async { "ok" }));

    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!(
        "serving http://{}/person/feed/v1 ({PARTITIONS} partitions); Ctrl-C stops",
        listener.local_addr()?
    );
    tokio::spawn(async move {
        let mut seq: u64 = 0;
        loop {
            let person_id = seq % 10;
            let data =
                json!({"seq": seq, "person_id": person_id, "new_name": format!("Person {seq}")});
            let partition_id = (person_id % u64::from(PARTITIONS)) as u32;
            match Event::from_data(partition_id, &data) {
                Ok(event) => {
                    let event = event.with_header("ce_type", "PersonNameChanged");
                    if let Ok(cursor) = log.append(event) {
                        println!("appended event {seq}: cursor {cursor}");
                    }
                }
                Err(error) => println!("cannot serialize event {seq}: {error}"),
            }
            seq += 1;
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    });
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            let _ = tokio::signal::ctrl_c().await;
            // Held requests are answered now rather than after their wait.
            feed.shut_down();
        })
        .await?;
    Ok(())
}
