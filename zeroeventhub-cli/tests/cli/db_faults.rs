//! Database faults: a PostgreSQL server of the test's own (initdb and
//! pg_ctl, run as the `postgres` user) is restarted while `zeh serve` and
//! `zeh follow --store` run on it. Both go on once it is back, retrying
//! meanwhile and saying so, and the store holds every event exactly once.

use std::{
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    thread,
    time::{Duration, Instant},
};

use crate::{
    db::TestDb,
    support::{Running, Serve, zeh, zeh_process},
};

const BIN: &str = "/usr/lib/postgresql/15/bin";

/// A PostgreSQL server in a temporary directory, on a free port, stopped
/// (immediately) on drop.
struct OwnPostgres {
    dir: PathBuf,
    port: u16,
}

impl OwnPostgres {
    /// Creates and starts one; `None` (with the reason printed) where the
    /// binaries or the `postgres` user are missing. Under CI that is a
    /// failure.
    fn start() -> Option<Self> {
        let reason = if !Path::new(BIN).join("initdb").exists() {
            Some(format!("no initdb in {BIN}"))
        } else if !run("id", &["-u", "postgres"]) {
            Some("no postgres user".to_owned())
        } else {
            None
        };
        if let Some(reason) = reason {
            if std::env::var_os("CI").is_some() {
                panic!("a PostgreSQL server of the test's own is needed under CI: {reason}");
            }
            eprintln!("skipped: cannot run a PostgreSQL server of the test's own: {reason}");
            return None;
        }
        let dir = std::env::temp_dir().join(format!("zeh-pg-{:016x}", fastrand::u64(..)));
        std::fs::create_dir_all(&dir).unwrap();
        assert!(run("chown", &["postgres", dir.to_str().unwrap()]));
        let port = free_port();
        let server = OwnPostgres { dir, port };
        assert!(server.as_postgres(
            "initdb",
            &["-D", &server.data(), "-A", "trust", "-U", "postgres"]
        ));
        server.pg_ctl(&["start", "-w"]);
        Some(server)
    }

    fn data(&self) -> String {
        self.dir.join("data").display().to_string()
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Runs `bin` of PostgreSQL as the `postgres` user; whether it succeeded.
    fn as_postgres(&self, bin: &str, args: &[&str]) -> bool {
        let program = format!("{BIN}/{bin}");
        let mut all = vec!["-u", "postgres", "--", program.as_str()];
        all.extend_from_slice(args);
        run("runuser", &all)
    }

    fn pg_ctl(&self, action: &[&str]) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1",
            self.port,
            self.dir.display()
        );
        let log = self.dir.join("server.log").display().to_string();
        let data = self.data();
        let mut args = vec![
            "-D",
            data.as_str(),
            "-o",
            options.as_str(),
            "-l",
            log.as_str(),
        ];
        args.extend_from_slice(action);
        assert!(self.as_postgres("pg_ctl", &args), "pg_ctl {action:?}");
    }

    fn stop(&self) {
        let data = self.data();
        assert!(self.as_postgres("pg_ctl", &["-D", &data, "stop", "-m", "fast", "-w"]));
    }
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        let data = self.data();
        self.as_postgres("pg_ctl", &["-D", &data, "stop", "-m", "immediate", "-w"]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn run(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn append(store: &str, first: u32, count: u32) {
    let events: String = (first..first + count)
        .map(|n| format!("{{\"partition\":{},\"data\":{n}}}\n", n % 2))
        .collect();
    let appended = zeh()
        .args(["append", store, "--partitions", "2"])
        .write_stdin(events)
        .output()
        .unwrap();
    assert!(appended.status.success(), "{appended:?}");
}

/// Waits until the store holds `count` events.
fn stored(db: &TestDb, count: usize) -> Vec<i64> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let events = db.try_events().unwrap_or_default();
        if events.len() >= count {
            let mut numbers: Vec<i64> = events.iter().map(|e| e.data.parse().unwrap()).collect();
            numbers.sort_unstable();
            return numbers;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {count} events stored",
            events.len()
        );
        thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn serve_and_follow_store_go_on_after_the_database_restarts() {
    let Some(server) = OwnPostgres::start() else {
        return;
    };
    let db = TestDb::Postgres {
        url: server.url(),
        schema: "public".to_owned(),
    };
    let store = db.store();
    append(&store, 0, 20);
    let serve = Serve::start(&[&store, "--partitions", "2"]);
    let mut follow = Running::spawn(zeh_process(&[
        "follow",
        &serve.url,
        "--partitions",
        "2",
        "--store",
        &store,
        "--lease-ttl",
        "3s",
    ]));
    let _stdout = follow.stdout_lines();
    let stderr = follow.stderr_lines();
    assert_eq!(stored(&db, 20), (0..20).collect::<Vec<_>>());

    server.stop();
    // Down: the consumer's requests and its store fail, and it says so.
    let said = std::iter::from_fn(|| stderr.next_line())
        .take(50)
        .find(|line| line.contains("retrying"))
        .expect("a message about retrying");
    assert!(!said.contains('\u{1b}'), "colours in a pipe: {said}");
    thread::sleep(Duration::from_secs(2));
    server.pg_ctl(&["start", "-w"]);

    append(&store, 20, 20);
    assert_eq!(stored(&db, 40), (0..40).collect::<Vec<_>>());
    thread::sleep(Duration::from_millis(500));
    assert_eq!(db.events().len(), 40, "an event stored twice");

    follow.signal("TERM");
    assert_eq!(follow.wait().code(), Some(0));
}

/// `zeh serve` of `store` on `port`; returns once it listens.
fn serve_on(store: &str, port: u16) -> Running {
    let addr = format!("127.0.0.1:{port}");
    let mut command = zeh_process(&["serve", store, "--partitions", "2", "--addr", &addr]);
    command.stderr(Stdio::null());
    let mut serve = Running::spawn(command);
    let listening = serve.stdout_lines().next_line().expect("listening");
    assert!(listening.starts_with("listening on "), "{listening}");
    serve
}

#[test]
fn follow_store_goes_on_when_the_producer_is_killed_mid_stream() {
    let producer = TestDb::sqlite();
    let consumer = TestDb::sqlite();
    append(&producer.store(), 0, 3000);
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}/feed/v1");
    let serve = serve_on(&producer.store(), port);
    let mut follow = Running::spawn(zeh_process(&[
        "follow",
        &url,
        "--partitions",
        "2",
        "--store",
        &consumer.store(),
        "--page-size-hint",
        "20",
    ]));
    let _stdout = follow.stdout_lines();
    let _stderr = follow.stderr_lines();
    stored(&consumer, 500);
    // Killed while pages stream: the page in flight is cut, not stored.
    drop(serve);
    append(&producer.store(), 3000, 100);
    thread::sleep(Duration::from_millis(500));
    let _serve = serve_on(&producer.store(), port);
    assert_eq!(stored(&consumer, 3100), (0..3100).collect::<Vec<_>>());
    thread::sleep(Duration::from_millis(300));
    assert_eq!(consumer.events().len(), 3100, "an event stored twice");
    follow.signal("TERM");
    assert_eq!(follow.wait().code(), Some(0));
}
