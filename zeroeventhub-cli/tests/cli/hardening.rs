//! `zeh serve` against clients that hold on: a connection that sends no
//! request head in time is closed, and past `--max-streams` responses in
//! flight a request gets 503 with `Retry-After`.

use std::{
    io::{Read, Write},
    net::TcpStream,
    thread,
    time::{Duration, Instant},
};

use crate::support::{FIXTURE, PARTITIONS, Serve, raw_get, split_url};

/// Reads until the server closes the connection; how long that took.
fn closed_after(socket: &mut TcpStream) -> Duration {
    socket
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let started = Instant::now();
    let mut buffer = [0_u8; 1024];
    loop {
        match socket.read(&mut buffer) {
            Ok(0) => return started.elapsed(),
            Ok(_) => {}
            Err(error) if error.kind() == std::io::ErrorKind::ConnectionReset => {
                return started.elapsed();
            }
            Err(error) => panic!("the connection was not closed: {error}"),
        }
    }
}

#[test]
fn a_connection_that_sends_no_request_head_in_time_is_closed() {
    let serve = Serve::start(&[
        FIXTURE,
        "--partitions",
        PARTITIONS,
        "--header-timeout",
        "1s",
    ]);
    let (addr, path) = split_url(&serve.url);

    let mut idle = TcpStream::connect(&addr).unwrap();
    // Slowloris: a head that never ends.
    let mut slow = TcpStream::connect(&addr).unwrap();
    slow.write_all(format!("GET {path}?n=3&cursor0=_first HTTP/1.1\r\nHost: x\r\n").as_bytes())
        .unwrap();
    for socket in [&mut idle, &mut slow] {
        let took = closed_after(socket);
        assert!(took < Duration::from_secs(20), "closed only after {took:?}");
    }
    // Everyone else is served as before.
    let response = raw_get(&serve.url, "n=3&cursor0=_last");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
}

#[test]
fn past_the_stream_cap_a_request_gets_503_with_retry_after() {
    let serve = Serve::start(&[FIXTURE, "--partitions", PARTITIONS, "--max-streams", "1"]);
    // One held long-poll fills the cap.
    let held = {
        let url = serve.url.clone();
        thread::spawn(move || raw_get(&url, "n=3&cursor0=_last&wait=2"))
    };
    thread::sleep(Duration::from_millis(300));
    let refused = raw_get(&serve.url, "n=3&cursor0=_first");
    assert!(refused.starts_with("HTTP/1.1 503"), "{refused}");
    assert!(
        refused.to_ascii_lowercase().contains("retry-after: 1\r\n"),
        "{refused}"
    );
    assert!(held.join().unwrap().starts_with("HTTP/1.1 200"));
    // Its stream ended: the next one is served.
    let served = raw_get(&serve.url, "n=3&cursor0=_first");
    assert!(served.starts_with("HTTP/1.1 200"), "{served}");
}
