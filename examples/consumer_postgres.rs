//! A consumer on PostgreSQL, with its tables in a schema of its own: the
//! runtime applies each deposit to a balance and stores the cursor in the
//! same transaction, in the schema `zeh_example`, which it creates.
//!
//! `cargo run --example consumer_postgres [POSTGRES_URL]` (default
//! `$ZEH_PG_URL`, else `postgres://postgres@127.0.0.1:5432/test`). A
//! producer with a few deposits runs in the same process, on a loopback
//! port; the consumer stops once caught up, prints the balances and its
//! cursors, and drops the schema again.
#![allow(clippy::print_stdout)] // printing is this example's job

use std::time::Duration;

use zeroeventhub::{
    BoxError, Event,
    client::Client,
    consumer::{Consumer, ConsumerConfig, Handler},
    server::MemoryLog,
};
use zeroeventhub_sqlx::SqlCursorStore;
use zeroeventhub_sqlx::sqlx::{self, Postgres, Transaction, postgres::PgPoolOptions};

const PARTITIONS: u32 = 2;
const SCHEMA: &str = "zeh_example";

/// Adds each deposit to its account's balance.
struct Balances;

impl Handler<Transaction<'static, Postgres>> for Balances {
    async fn handle(
        &self,
        tx: &mut Transaction<'static, Postgres>,
        event: &Event,
    ) -> Result<(), BoxError> {
        let deposit: serde_json::Value = event.data_as()?;
        let account = deposit["account"].as_str().ok_or("no account")?;
        let amount = deposit["amount"].as_i64().ok_or("no amount")?;
        sqlx::query(
            "INSERT INTO zeh_example.balances (account, balance) VALUES ($1, $2)
             ON CONFLICT (account) DO UPDATE SET balance = balances.balance + excluded.balance",
        )
        .bind(account)
        .bind(amount)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let url = std::env::args()
        .nth(1)
        .or_else(|| std::env::var("ZEH_PG_URL").ok())
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/test".to_owned());

    // The producer: a few deposits in memory, served on a loopback port.
    let log = MemoryLog::new(PARTITIONS);
    for (account, amount) in [("ada", 10), ("grace", 5), ("ada", 7), ("grace", -2)] {
        let partition = if account == "ada" { 0 } else { 1 };
        let deposit = serde_json::json!({ "account": account, "amount": amount });
        log.append(Event::from_data(partition, &deposit)?)?;
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let feed = format!("http://{}/deposits", listener.local_addr()?);
    let app = zeroeventhub_axum::feed_router("/deposits", log);
    tokio::spawn(async move { axum::serve(listener, app).await });

    // The consumer's database: the cursor store in the schema, which
    // `migrate` creates when it is missing, and the consumer's own table.
    let pool = PgPoolOptions::new()
        .acquire_timeout(Duration::from_secs(5))
        .connect(&url)
        .await
        .map_err(|error| format!("cannot connect to {url}: {error}"))?;
    let store = SqlCursorStore::new(pool.clone()).with_schema(SCHEMA)?;
    store.migrate().await?;
    println!(
        "the store's tables ({} statements for your own migrations):",
        store.ddl().len()
    );
    for statement in store.ddl() {
        println!("  {}", statement.lines().next().unwrap_or_default());
    }
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS zeh_example.balances (account TEXT PRIMARY KEY, balance BIGINT NOT NULL)",
    )
    .execute(&pool)
    .await?;

    let config = ConsumerConfig {
        until_caught_up: true,
        ..ConsumerConfig::new("balances")
    };
    let client = Client::new(&feed, PARTITIONS)?;
    Consumer::new(client, store.clone(), Balances, config)
        .run(std::future::pending())
        .await?;

    let balances: Vec<(String, i64)> =
        sqlx::query_as("SELECT account, balance FROM zeh_example.balances ORDER BY account")
            .fetch_all(&pool)
            .await?;
    println!("balances: {balances:?}");
    for cursor in store.load_cursors("balances").await? {
        println!(
            "cursor of partition {}: {}",
            cursor.partition_id(),
            cursor.as_str()
        );
    }
    sqlx::query("DROP SCHEMA zeh_example CASCADE")
        .execute(&pool)
        .await?;
    Ok(())
}
