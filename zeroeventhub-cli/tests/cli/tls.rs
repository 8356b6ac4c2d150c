//! `https://` feeds in the default build: a producer behind TLS whose
//! certificate a private authority signed is read with `--cacert`, and
//! refused without it.

use std::{
    io::{BufRead, BufReader, Write},
    net::TcpListener,
    sync::Arc,
    thread,
};

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::support::{stderr_of, stdout_of, zeh};

const PAGE: &str = "{\"partition\":0,\"cursor\":\"0\"}\n";

/// A private authority, and a TLS server on `localhost` with a certificate
/// it signed, answering every request with an empty page. Returns the
/// server's URL and the authority's PEM file.
fn tls_feed() -> (String, tempfile::TempDir) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let server_key = KeyPair::generate().unwrap();
    let server_cert = CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .signed_by(&server_key, &issuer)
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ca.pem"), ca.pem()).unwrap();

    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der()));
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![server_cert.der().clone()], key)
    .unwrap();
    let config = Arc::new(config);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "https://localhost:{}/feed",
        listener.local_addr().unwrap().port()
    );
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let connection = rustls::ServerConnection::new(Arc::clone(&config)).unwrap();
            let mut tls = rustls::StreamOwned::new(connection, stream);
            // A client that refuses the certificate ends the handshake.
            let mut reader = BufReader::new(&mut tls);
            let mut line = String::new();
            let mut ok = true;
            loop {
                line.clear();
                match reader.read_line(&mut line) {
                    Ok(0) | Err(_) => {
                        ok = false;
                        break;
                    }
                    Ok(_) if line == "\r\n" => break,
                    Ok(_) => {}
                }
            }
            if ok {
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/x-ndjson\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{PAGE}",
                    PAGE.len()
                );
                let _ = tls.write_all(response.as_bytes());
                tls.conn.send_close_notify();
                let _ = tls.flush();
            }
        }
    });
    (url, dir)
}

#[test]
fn an_https_feed_is_read_with_its_private_authority_and_refused_without() {
    let (url, dir) = tls_feed();
    let ca = dir.path().join("ca.pem");
    let output = zeh()
        .args(["fetch", &url, "--partitions", "1", "--cacert"])
        .arg(&ca)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr_of(&output));
    assert_eq!(stdout_of(&output), PAGE);

    let refused = zeh()
        .args(["fetch", &url, "--partitions", "1"])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(1));
    let stderr = stderr_of(&refused).to_ascii_lowercase();
    assert!(stderr.contains("certificate"), "{stderr}");
}

#[test]
fn a_cacert_that_is_not_a_certificate_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("empty.pem");
    std::fs::write(&path, "not a certificate\n").unwrap();
    let output = zeh()
        .args([
            "fetch",
            "https://localhost:1/feed",
            "--partitions",
            "1",
            "--cacert",
        ])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr_of(&output).contains("holds no certificate"),
        "{}",
        stderr_of(&output)
    );
}
