//! `zeh serve` against hostile clients, with raw sockets: oversized and
//! malformed requests get a 4xx, pipelined requests are all answered,
//! clients that go away mid-body cost nothing lasting, and through it all
//! the others are served and memory stays bounded.

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::TcpStream,
    thread,
    time::Duration,
};

use crate::support::{FIXTURE, PARTITIONS, Serve, split_url};

/// Sends `request` as it is and returns the status code of the answer.
fn status_of(addr: &str, request: &[u8]) -> u16 {
    let mut socket = TcpStream::connect(addr).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    // The server may answer and close before all of a huge request is sent.
    let _ = socket.write_all(request);
    let mut status = String::new();
    BufReader::new(socket).read_line(&mut status).unwrap();
    status
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {status:?}"))
}

fn get(path: &str, query: &str, headers: &str) -> Vec<u8> {
    format!("GET {path}?{query} HTTP/1.1\r\nHost: x\r\n{headers}Connection: close\r\n\r\n")
        .into_bytes()
}

/// The resident memory of process `pid`, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[test]
fn oversized_and_malformed_requests_get_a_4xx_and_the_others_are_served() {
    let serve = Serve::start(&[FIXTURE, "--partitions", PARTITIONS]);
    let (addr, path) = split_url(&serve.url);
    let ok = "n=3&cursor0=_first";

    let huge_query = format!("{ok}&x={}", "a".repeat(1 << 20));
    let huge_header = format!("X-Big: {}\r\n", "b".repeat(1 << 20));
    let many_headers: String = (0..10_000).map(|n| format!("X-{n}: v\r\n")).collect();
    let cases: [(&str, Vec<u8>); 6] = [
        ("a 1 MiB query", get(&path, &huge_query, "")),
        ("a 1 MiB header", get(&path, ok, &huge_header)),
        ("10,000 headers", get(&path, ok, &many_headers)),
        ("bad percent-encoding", get(&path, "n=3&cursor0=%ZZ%", "")),
        (
            "a repeated parameter",
            get(&path, "n=3&n=3&cursor0=_first", ""),
        ),
        (
            "an out-of-range partition",
            get(&path, "n=3&cursor7=_first", ""),
        ),
    ];
    for (what, request) in cases {
        let status = status_of(&addr, &request);
        assert!((400..500).contains(&status), "{what}: {status}");
        assert_eq!(status_of(&addr, &get(&path, ok, "")), 200, "after {what}");
    }
}

#[test]
fn pipelined_requests_are_all_answered_in_order() {
    let serve = Serve::start(&[FIXTURE, "--partitions", PARTITIONS]);
    let (addr, path) = split_url(&serve.url);
    let mut requests = String::new();
    for n in 0..50 {
        let cursor = n % 3;
        requests.push_str(&format!(
            "GET {path}?n=3&cursor{cursor}=_last HTTP/1.1\r\nHost: x\r\n\r\n"
        ));
    }
    let mut socket = TcpStream::connect(&addr).unwrap();
    socket.write_all(requests.as_bytes()).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut reader = BufReader::new(socket);
    let mut answered = 0;
    let mut line = String::new();
    while answered < 50 {
        line.clear();
        assert!(
            reader.read_line(&mut line).unwrap() > 0,
            "{answered} answered"
        );
        if line.starts_with("HTTP/1.1 200") {
            answered += 1;
        }
    }
}

#[test]
fn clients_that_go_away_mid_body_leave_memory_bounded() {
    // A response of about 2.5 MB per request.
    let mut file = tempfile::NamedTempFile::new().unwrap();
    let line = format!("{{\"partition\":0,\"data\":\"{}\"}}\n", "x".repeat(200));
    for _ in 0..10_000 {
        file.write_all(line.as_bytes()).unwrap();
    }
    file.flush().unwrap();
    let serve = Serve::start(&[file.path().to_str().unwrap(), "--partitions", "1"]);
    let (addr, path) = split_url(&serve.url);
    let request = get(&path, "n=1&cursor0=_first&pagesizehint=10000", "");
    let dropping: Vec<_> = (0..200)
        .map(|_| {
            let (addr, request) = (addr.clone(), request.clone());
            thread::spawn(move || {
                let mut socket = TcpStream::connect(&addr).unwrap();
                socket.write_all(&request).unwrap();
                let mut some = [0_u8; 4096];
                let _ = socket.read(&mut some);
                // Gone, mid-body.
            })
        })
        .collect();
    for client in dropping {
        client.join().unwrap();
    }
    thread::sleep(Duration::from_millis(500));
    let pid = serve.process.child.id();
    let rss = rss_kib(pid);
    assert!(
        rss < 64 * 1024,
        "zeh serve holds {rss} KiB after 200 dropped clients"
    );
    assert_eq!(status_of(&addr, &get(&path, "n=1&cursor0=_last", "")), 200);
}
