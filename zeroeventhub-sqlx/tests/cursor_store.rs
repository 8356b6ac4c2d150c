//! The cursor store: cursors saved in the caller's transaction, leases
//! claimed, renewed, released and taken over, and fencing.

#[macro_use]
mod support;

use std::time::Duration;

use sqlx::Pool;
use zeroeventhub::{
    Cursor,
    consumer::{Claim, CursorStore, Lease},
};
use zeroeventhub_sqlx::{Backend, SqlCursorStore};

on_both_databases!(
    a_saved_cursor_commits_with_the_transaction,
    a_rolled_back_cursor_is_not_stored,
    claim_renew_deny_release,
    an_expired_lease_is_taken_over,
    a_worker_that_lost_its_lease_cannot_commit,
    an_expired_lease_nobody_took_is_renewed_by_its_owner,
    a_takeover_waits_for_the_page_being_committed,
    consumers_are_separate,
    plain_helpers_save_and_load_every_cursor,
    migrate_is_idempotent,
    the_ddl_is_what_migrate_runs,
    finished_partitions_round_trip_per_consumer,
    a_cursors_table_of_the_previous_version_is_migrated,
);

const CONSUMER: &str = "billing";

fn lease(owner: &str, ttl: Duration) -> Lease {
    Lease {
        owner: owner.to_owned(),
        ttl,
    }
}

fn long(owner: &str) -> Lease {
    lease(owner, Duration::from_secs(60))
}

fn cursor(partition_id: u32, value: &str) -> Cursor {
    Cursor::new(partition_id, value).unwrap()
}

async fn store<DB: Backend>(pool: Pool<DB>) -> SqlCursorStore<DB> {
    let store = SqlCursorStore::new(pool);
    store.migrate().await.unwrap();
    store
}

/// Claims partition `partition_id` of [`CONSUMER`] for `lease`.
async fn claim<DB: Backend>(store: &SqlCursorStore<DB>, partition_id: u32, lease: &Lease) -> bool {
    store.claim(CONSUMER, partition_id, lease).await.unwrap() == Claim::Claimed
}

/// Saves `cursor` under `lease` in a transaction of its own; commits it
/// when the save succeeds, rolls it back otherwise.
async fn save_and_commit<DB: Backend>(
    store: &SqlCursorStore<DB>,
    cursor: &Cursor,
    lease: &Lease,
) -> bool {
    let mut transaction = CursorStore::begin(store).await.unwrap();
    let saved = store
        .save_cursor(&mut transaction, CONSUMER, cursor, lease)
        .await
        .unwrap();
    if saved {
        CursorStore::commit(store, transaction).await.unwrap();
    }
    saved
}

/// The stored cursor of `partition_id` of [`CONSUMER`].
async fn stored<DB: Backend>(store: &SqlCursorStore<DB>, partition_id: u32) -> Option<Cursor> {
    store.load_cursor(CONSUMER, partition_id).await.unwrap()
}

async fn a_saved_cursor_commits_with_the_transaction<DB: Backend>(pool: Pool<DB>) {
    let store = store(pool).await;
    let a = long("a");
    assert!(claim(&store, 3, &a).await);
    assert_eq!(stored(&store, 3).await, None);

    let mut transaction = CursorStore::begin(&store).await.unwrap();
    let saved = store
        .save_cursor(&mut transaction, CONSUMER, &cursor(3, "17"), &a)
        .await
        .unwrap();
    assert!(saved);
    assert_eq!(stored(&store, 3).await, None, "not before commit");
    CursorStore::commit(&store, transaction).await.unwrap();
    assert_eq!(stored(&store, 3).await, Some(cursor(3, "17")));
}

async fn a_rolled_back_cursor_is_not_stored<DB: Backend>(pool: Pool<DB>) {
    let store = store(pool).await;
    let a = long("a");
    assert!(claim(&store, 0, &a).await);
    assert!(save_and_commit(&store, &cursor(0, "1"), &a).await);

    let mut transaction = CursorStore::begin(&store).await.unwrap();
    let saved = store
        .save_cursor(&mut transaction, CONSUMER, &cursor(0, "2"), &a)
        .await
        .unwrap();
    assert!(saved);
    drop(transaction); // rolls back
    assert_eq!(stored(&store, 0).await, Some(cursor(0, "1")));
}

async fn claim_renew_deny_release<DB: Backend>(pool: Pool<DB>) {
    let store = store(pool).await;
    let (a, b) = (long("a"), long("b"));
    assert!(claim(&store, 0, &a).await, "free: taken");
    assert!(claim(&store, 0, &a).await, "ours: renewed");
    assert!(!claim(&store, 0, &b).await, "another's: denied");
    assert!(claim(&store, 1, &b).await, "other partition: free");
    store.release(CONSUMER, 0, &b).await.unwrap(); // not b's: no effect
    assert!(!claim(&store, 0, &b).await);
    store.release(CONSUMER, 0, &a).await.unwrap();
    assert!(claim(&store, 0, &b).await, "released: taken");
    assert!(!claim(&store, 0, &a).await);
}

async fn an_expired_lease_is_taken_over<DB: Backend>(pool: Pool<DB>) {
    let store = store(pool).await;
    // A lease of no time expires at once.
    assert!(claim(&store, 0, &lease("a", Duration::ZERO)).await);
    assert!(claim(&store, 0, &long("b")).await);
    // A short one expires after its time.
    // Long enough that a loaded machine still claims again within it.
    let short = lease("c", Duration::from_secs(1));
    assert!(claim(&store, 1, &short).await);
    assert!(!claim(&store, 1, &long("d")).await);
    tokio::time::sleep(Duration::from_millis(1300)).await;
    assert!(claim(&store, 1, &long("d")).await);
    assert!(!claim(&store, 1, &short).await);
}

async fn a_worker_that_lost_its_lease_cannot_commit<DB: Backend>(pool: Pool<DB>) {
    let store = store(pool).await;
    let a = lease("a", Duration::ZERO);
    let b = long("b");
    assert!(claim(&store, 0, &a).await);
    // `a` stalls; its lease expires and `b` takes over.
    assert!(claim(&store, 0, &b).await);

    assert!(
        !save_and_commit(&store, &cursor(0, "5"), &a).await,
        "the old owner is fenced off"
    );
    assert_eq!(stored(&store, 0).await, None);

    assert!(save_and_commit(&store, &cursor(0, "6"), &b).await);
    assert_eq!(stored(&store, 0).await, Some(cursor(0, "6")));
    assert!(!claim(&store, 0, &long("a")).await);
}

async fn an_expired_lease_nobody_took_is_renewed_by_its_owner<DB: Backend>(pool: Pool<DB>) {
    let store = store(pool).await;
    assert!(claim(&store, 0, &lease("a", Duration::ZERO)).await);
    assert!(save_and_commit(&store, &cursor(0, "1"), &long("a")).await);
    // Renewed for a minute by the save.
    assert!(!claim(&store, 0, &long("b")).await);
}

/// The renewal in `save_cursor` locks the lease until commit: a process
/// claiming the (expired) lease meanwhile waits, then finds it renewed.
async fn a_takeover_waits_for_the_page_being_committed<DB: Backend>(pool: Pool<DB>) {
    let store = store(pool).await;
    assert!(claim(&store, 0, &lease("a", Duration::ZERO)).await);
    let mut transaction = CursorStore::begin(&store).await.unwrap();
    let saved = store
        .save_cursor(&mut transaction, CONSUMER, &cursor(0, "9"), &long("a"))
        .await
        .unwrap();
    assert!(saved);
    let takeover = tokio::spawn({
        let store = store.clone();
        async move { claim(&store, 0, &long("b")).await }
    });
    // Give the claim a chance to run before the commit (it must wait).
    tokio::time::sleep(Duration::from_millis(100)).await;
    CursorStore::commit(&store, transaction).await.unwrap();
    let taken = tokio::time::timeout(support::NO_HANG, takeover)
        .await
        .expect("the claim hangs")
        .unwrap();
    assert!(!taken, "the lease was renewed by the commit");
    assert_eq!(stored(&store, 0).await, Some(cursor(0, "9")));
}

async fn consumers_are_separate<DB: Backend>(pool: Pool<DB>) {
    let store = store(pool).await;
    assert_eq!(
        store.claim("one", 0, &long("a")).await.unwrap(),
        Claim::Claimed
    );
    assert_eq!(
        store.claim("two", 0, &long("b")).await.unwrap(),
        Claim::Claimed
    );
    let mut transaction = CursorStore::begin(&store).await.unwrap();
    store
        .save_cursors(&mut transaction, "one", &[cursor(0, "1")])
        .await
        .unwrap();
    CursorStore::commit(&store, transaction).await.unwrap();
    assert_eq!(store.load_cursor("two", 0).await.unwrap(), None);
    assert_eq!(store.load_cursors("two").await.unwrap(), []);
    assert_eq!(store.load_cursors("one").await.unwrap(), [cursor(0, "1")]);
}

/// Saves `cursors` of [`CONSUMER`] with the plain helper and commits.
async fn save_plainly<DB: Backend>(store: &SqlCursorStore<DB>, cursors: &[Cursor]) {
    let mut transaction = store.pool().begin().await.unwrap();
    store
        .save_cursors(&mut transaction, CONSUMER, cursors)
        .await
        .unwrap();
    transaction.commit().await.unwrap();
}

async fn plain_helpers_save_and_load_every_cursor<DB: Backend>(pool: Pool<DB>) {
    let store = store(pool).await;
    save_plainly(
        &store,
        &[cursor(2, "20"), cursor(0, "_last"), cursor(1, "10")],
    )
    .await;
    assert_eq!(
        store.load_cursors(CONSUMER).await.unwrap(),
        [cursor(0, "_last"), cursor(1, "10"), cursor(2, "20")]
    );
    save_plainly(&store, &[cursor(0, "5")]).await;
    assert_eq!(
        store.load_cursors(CONSUMER).await.unwrap(),
        [cursor(0, "5"), cursor(1, "10"), cursor(2, "20")]
    );
}

async fn migrate_is_idempotent<DB: Backend>(pool: Pool<DB>) {
    let store = store(pool).await;
    // Several processes may migrate at once, at every start.
    support::all_at_once(4, || {
        let store = store.clone();
        async move { store.migrate().await }
    })
    .await;
    assert!(claim(&store, 0, &long("a")).await);
}

/// Run by a migration tool of the user's, the store's DDL makes the same
/// tables as `migrate`.
async fn the_ddl_is_what_migrate_runs<DB: Backend>(pool: Pool<DB>)
where
    for<'e> &'e Pool<DB>: sqlx::Executor<'e, Database = DB>,
{
    let store = SqlCursorStore::new(pool.clone());
    let ddl = store.ddl();
    // PostgreSQL's also upgrade an older cursors table.
    let postgres = <DB as sqlx::Database>::NAME == "PostgreSQL";
    assert_eq!(ddl.len(), if postgres { 4 } else { 3 }, "{ddl:?}");
    assert!(ddl[0].contains("finished_at_ms BIGINT"), "{ddl:?}");
    for sql in ddl {
        execute(&pool, sql).await;
    }
    assert!(claim(&store, 0, &long("a")).await);
    assert!(save_and_commit(&store, &cursor(0, "7"), &long("a")).await);
    assert_eq!(
        store.load_cursors(CONSUMER).await.unwrap(),
        [cursor(0, "7")]
    );
    store
        .mark_finished(CONSUMER, &cursor(0, "7"))
        .await
        .unwrap();
    assert_eq!(store.load_finished(CONSUMER).await.unwrap(), [0]);

    // On PostgreSQL the same statements upgrade an older table, and run
    // twice.
    if postgres {
        let schema = format!("zeh_previous_{:016x}", fastrand::u64(..));
        let old = SqlCursorStore::new(pool.clone())
            .with_schema(&schema)
            .unwrap();
        execute(&pool, format!("CREATE SCHEMA {schema}")).await;
        execute(&pool, previous_cursors_table(&format!("{schema}."))).await;
        for _ in 0..2 {
            for sql in old.ddl() {
                execute(&pool, sql).await;
            }
        }
        old.mark_finished(CONSUMER, &cursor(1, "3")).await.unwrap();
        assert_eq!(old.load_finished(CONSUMER).await.unwrap(), [1]);
        execute(&pool, format!("DROP SCHEMA {schema} CASCADE")).await;
    }
}

async fn execute<DB: Backend>(pool: &Pool<DB>, sql: String)
where
    for<'e> &'e Pool<DB>: sqlx::Executor<'e, Database = DB>,
{
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(pool)
        .await
        .unwrap();
}

/// A closed partition consumed to its end is marked finished: its stored
/// cursor stays, one that never stored a cursor gets its last, marking
/// twice changes nothing, and each consumer has its own.
async fn finished_partitions_round_trip_per_consumer<DB: Backend>(pool: Pool<DB>) {
    let store = store(pool).await;
    assert_eq!(store.load_finished(CONSUMER).await.unwrap(), [0u32; 0]);
    save_plainly(&store, &[cursor(4, "40"), cursor(0, "5")]).await;

    store
        .mark_finished(CONSUMER, &cursor(4, "40"))
        .await
        .unwrap();
    store
        .mark_finished(CONSUMER, &cursor(4, "41"))
        .await
        .unwrap();
    store
        .mark_finished(CONSUMER, &Cursor::first(2))
        .await
        .unwrap();
    assert_eq!(store.load_finished(CONSUMER).await.unwrap(), [2, 4]);
    assert_eq!(
        store.load_cursors(CONSUMER).await.unwrap(),
        [cursor(0, "5"), Cursor::first(2), cursor(4, "40")]
    );
    assert_eq!(store.load_finished("other").await.unwrap(), [0u32; 0]);

    // Saving a cursor leaves the mark; so does a migration.
    save_plainly(&store, &[cursor(4, "42")]).await;
    store.migrate().await.unwrap();
    assert_eq!(store.load_finished(CONSUMER).await.unwrap(), [2, 4]);
    assert_eq!(stored(&store, 4).await, Some(cursor(4, "42")));
}

/// The cursors table as the previous version created it: no
/// `finished_at_ms`. `prefix` is a schema and a dot, or nothing.
fn previous_cursors_table(prefix: &str) -> String {
    format!(
        "CREATE TABLE {prefix}zeh_consumer_cursors (
            consumer TEXT NOT NULL,
            partition_id BIGINT NOT NULL,
            cursor TEXT NOT NULL,
            updated_at_ms BIGINT NOT NULL,
            PRIMARY KEY (consumer, partition_id)
        )"
    )
}

async fn a_cursors_table_of_the_previous_version_is_migrated<DB: Backend>(pool: Pool<DB>)
where
    for<'e> &'e Pool<DB>: sqlx::Executor<'e, Database = DB>,
{
    // The previous version's three tables; only the cursors' changed.
    execute(&pool, previous_cursors_table("")).await;
    execute(
        &pool,
        "CREATE TABLE zeh_consumer_leases (
            consumer TEXT NOT NULL,
            partition_id BIGINT NOT NULL,
            owner TEXT NOT NULL,
            expires_at_ms BIGINT NOT NULL,
            PRIMARY KEY (consumer, partition_id)
        )"
        .to_owned(),
    )
    .await;
    execute(
        &pool,
        "CREATE TABLE zeh_consumer_members (
            consumer TEXT NOT NULL,
            owner TEXT NOT NULL,
            expires_at_ms BIGINT NOT NULL,
            PRIMARY KEY (consumer, owner)
        )"
        .to_owned(),
    )
    .await;
    // Rows as the previous version saved them.
    execute(
        &pool,
        format!(
            "INSERT INTO zeh_consumer_cursors (consumer, partition_id, cursor, updated_at_ms)
             VALUES ('{CONSUMER}', 0, '12', 1), ('{CONSUMER}', 1, '_last', 1)"
        ),
    )
    .await;
    let store = SqlCursorStore::new(pool.clone());
    // Several processes, all starting the new version at once.
    support::all_at_once(4, || {
        let store = store.clone();
        async move { store.migrate().await }
    })
    .await;
    store.migrate().await.unwrap();

    assert_eq!(
        store.load_cursors(CONSUMER).await.unwrap(),
        [cursor(0, "12"), cursor(1, "_last")]
    );
    assert_eq!(
        store.load_finished(CONSUMER).await.unwrap(),
        [0u32; 0],
        "an old row is not finished"
    );
    store
        .mark_finished(CONSUMER, &cursor(0, "12"))
        .await
        .unwrap();
    assert_eq!(store.load_finished(CONSUMER).await.unwrap(), [0]);
    assert_eq!(stored(&store, 0).await, Some(cursor(0, "12")));
    // The runtime's saves go on as before.
    assert!(claim(&store, 1, &long("a")).await);
    assert!(save_and_commit(&store, &cursor(1, "13"), &long("a")).await);
    assert_eq!(stored(&store, 1).await, Some(cursor(1, "13")));
}

/// A store (and an event log) in a schema of its own: `migrate` creates
/// the schema when it is missing.
#[cfg(feature = "postgres")]
#[tokio::test]
async fn postgres_migrate_creates_a_missing_schema() {
    let Some(db) = support::postgres::PgDb::new().await else {
        return;
    };
    let schema = db.schema.clone();
    let drop_schema = format!("DROP SCHEMA {schema} CASCADE");
    sqlx::raw_sql(sqlx::AssertSqlSafe(drop_schema.clone()))
        .execute(&db.pool)
        .await
        .unwrap();
    let store = SqlCursorStore::new(db.pool.clone())
        .with_schema(&schema)
        .unwrap();
    assert_eq!(
        store.ddl()[0],
        format!("CREATE SCHEMA IF NOT EXISTS {schema}")
    );
    store.migrate().await.unwrap();
    store.migrate().await.unwrap();
    assert!(claim(&store, 2, &long("a")).await);
    assert!(save_and_commit(&store, &cursor(2, "9"), &long("a")).await);
    assert_eq!(
        store.load_cursors(CONSUMER).await.unwrap(),
        [cursor(2, "9")]
    );
    let qualified = format!("SELECT cursor FROM {schema}.zeh_consumer_cursors");
    let stored: Vec<(String,)> = sqlx::query_as(sqlx::AssertSqlSafe(qualified))
        .fetch_all(&db.pool)
        .await
        .unwrap();
    assert_eq!(stored, [("9".to_owned(),)]);

    sqlx::raw_sql(sqlx::AssertSqlSafe(drop_schema))
        .execute(&db.pool)
        .await
        .unwrap();
    let log = zeroeventhub_sqlx::EventLog::new(db.pool.clone(), 1)
        .with_table(&format!("{schema}.events"))
        .unwrap();
    log.migrate().await.unwrap();
    log.publish(&[zeroeventhub::Event::from_data(0, &1).unwrap()])
        .await
        .unwrap();

    assert!(matches!(
        SqlCursorStore::new(db.pool.clone()).with_schema("a.b"),
        Err(zeroeventhub_sqlx::Error::InvalidTableName(_))
    ));
}

/// Processes that start together on a new SQLite file, or on one whose
/// tables an older version made, all migrate it: none fails with
/// "database is locked" because another created a table first.
#[tokio::test]
async fn processes_migrating_a_sqlite_file_at_once_all_succeed() {
    for round in 0..10 {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("consumer.db");
        if round % 2 == 1 {
            // Only the cursors table, as before the leases and members.
            let pool = support::sqlite_pool_at(&path).await;
            sqlx::raw_sql(
                "CREATE TABLE zeh_consumer_cursors (consumer TEXT NOT NULL, \
                 partition_id BIGINT NOT NULL, cursor TEXT NOT NULL, \
                 updated_at_ms BIGINT NOT NULL, PRIMARY KEY (consumer, partition_id))",
            )
            .execute(&pool)
            .await
            .unwrap();
            pool.close().await;
        }
        // A pool each, as separate processes have.
        let mut pools = Vec::new();
        for _ in 0..4 {
            pools.push(support::sqlite_pool_at(&path).await);
        }
        let migrations = pools.iter().map(|pool| {
            let store = SqlCursorStore::new(pool.clone());
            tokio::spawn(async move { store.migrate().await })
        });
        for migration in migrations.collect::<Vec<_>>() {
            migration
                .await
                .unwrap()
                .unwrap_or_else(|error| panic!("round {round}: {error}"));
        }
        let store = SqlCursorStore::new(pools[0].clone());
        assert!(claim(&store, 0, &long("a")).await);
    }
}
