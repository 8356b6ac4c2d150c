//! Scoped access in front of the feed route, on a real socket: a tower
//! layer maps each bearer token to the partitions it may read, and a
//! request for another partition gets 403 naming it.

use std::collections::HashMap;

use axum::{
    extract::{Request, State},
    http::StatusCode,
    middleware::{self, Next},
    response::{IntoResponse, Response},
};
use zeroeventhub::{
    Cursor, Event,
    client::Client,
    reqwest::{self, header},
    server::{MemoryLog, bearer_token},
};
use zeroeventhub_axum::{TEST_FEED_PATH, TestFeed, feed_router, refuse_partitions_outside};

const PARTITIONS: u32 = 4;

/// Token -> the partitions it may read.
type Scopes = HashMap<&'static str, Vec<u32>>;

async fn scoped(State(scopes): State<Scopes>, request: Request, next: Next) -> Response {
    let token = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| bearer_token(value.as_bytes()))
        .and_then(|token| std::str::from_utf8(token).ok());
    let Some(allowed) = token.and_then(|token| scopes.get(token)) else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    let query = request.uri().query();
    if let Some(refused) =
        refuse_partitions_outside(query, PARTITIONS, |partition| allowed.contains(&partition))
    {
        return refused;
    }
    next.run(request).await
}

fn serve() -> TestFeed {
    let log = MemoryLog::new(PARTITIONS);
    for partition in 0..PARTITIONS {
        log.append(Event::from_data(partition, &partition).unwrap())
            .unwrap();
    }
    let scopes = Scopes::from([("team-a", vec![0, 1]), ("team-b", vec![2, 3])]);
    let router =
        feed_router(TEST_FEED_PATH, log).layer(middleware::from_fn_with_state(scopes, scoped));
    TestFeed::serve_router(router)
}

fn client_with(server: &TestFeed, token: &str) -> Client {
    let mut headers = header::HeaderMap::new();
    let value = format!("Bearer {token}");
    headers.insert(header::AUTHORIZATION, value.parse().unwrap());
    let http = reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .unwrap();
    Client::builder(&server.url_of(TEST_FEED_PATH), PARTITIONS)
        .http_client(http)
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_token_reads_its_partitions_and_gets_403_naming_any_other() {
    let server = serve();
    let team_a = client_with(&server, "team-a");

    let page = team_a
        .fetch(&[Cursor::first(0), Cursor::first(1)])
        .page()
        .await
        .unwrap();
    assert_eq!(page.len(), 2);

    let error = team_a
        .fetch(&[Cursor::first(1), Cursor::first(2)])
        .page()
        .await
        .unwrap_err();
    assert_eq!(error.status(), Some(StatusCode::FORBIDDEN));
    assert_eq!(
        error.body(),
        Some("parameter cursor2: not allowed to read partition 2")
    );

    let team_b = client_with(&server, "team-b");
    assert_eq!(
        team_b
            .fetch(&[Cursor::first(3)])
            .page()
            .await
            .unwrap()
            .len(),
        1
    );
    let stranger = client_with(&server, "nobody");
    let error = stranger
        .fetch(&[Cursor::first(0)])
        .page()
        .await
        .unwrap_err();
    assert_eq!(error.status(), Some(StatusCode::UNAUTHORIZED));
}

#[tokio::test]
async fn a_malformed_request_still_gets_the_feeds_own_400() {
    let server = serve();
    let http = reqwest::Client::new();
    let url = format!(
        "{}?n=4&cursor0=_first&cursor0=1",
        server.url_of(TEST_FEED_PATH)
    );
    let response = http.get(url).bearer_auth("team-a").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response.text().await.unwrap().contains("cursor0"));
}
