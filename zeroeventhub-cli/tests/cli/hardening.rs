//! `zeh serve` against clients that hold on: a connection that sends no
//! request head in time is closed, and past `--max-streams` responses in
//! flight a request gets 503 with `Retry-After`.

use std::{
    io::{Read, Write},
    net::TcpStream,
    thread,
    time::{Duration, Instant},
};

use crate::support::{FIXTURE, PARTITIONS, Serve};

fn address(url: &str) -> (String, String) {
    let rest = url.strip_prefix("http://").unwrap();
    let (addr, path) = rest.split_once('/').unwrap();
    (addr.to_owned(), format!("/{path}"))
}

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
    let (addr, path) = address(&serve.url);

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
    let mut socket = TcpStream::connect(&addr).unwrap();
    let request =
        format!("GET {path}?n=3&cursor0=_last HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    socket.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    socket.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
}

/// Sends `GET PATH?QUERY` and reads the whole response.
fn get(addr: &str, path: &str, query: &str) -> String {
    let mut socket = TcpStream::connect(addr).unwrap();
    let request = format!("GET {path}?{query} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    socket.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    socket.read_to_string(&mut response).unwrap();
    response
}

#[test]
fn past_the_stream_cap_a_request_gets_503_with_retry_after() {
    let serve = Serve::start(&[FIXTURE, "--partitions", PARTITIONS, "--max-streams", "1"]);
    let (addr, path) = address(&serve.url);
    // One held long-poll fills the cap.
    let held = {
        let (addr, path) = (addr.clone(), path.clone());
        thread::spawn(move || get(&addr, &path, "n=3&cursor0=_last&wait=2"))
    };
    thread::sleep(Duration::from_millis(300));
    let refused = get(&addr, &path, "n=3&cursor0=_first");
    assert!(refused.starts_with("HTTP/1.1 503"), "{refused}");
    assert!(
        refused.to_ascii_lowercase().contains("retry-after: 1\r\n"),
        "{refused}"
    );
    assert!(held.join().unwrap().starts_with("HTTP/1.1 200"));
    // Its stream ended: the next one is served.
    let served = get(&addr, &path, "n=3&cursor0=_first");
    assert!(served.starts_with("HTTP/1.1 200"), "{served}");
}
