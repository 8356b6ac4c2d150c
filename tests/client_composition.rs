//! The client against the axum adapter, over a real loopback socket: the
//! client's request hook, a feed behind an authentication layer, and a
//! feed composed with other routes and router state.

mod support;

use std::sync::{
    Arc, Mutex,
    atomic::{AtomicUsize, Ordering},
};

use axum::{
    Router,
    extract::{Request, State},
    http::{StatusCode, header::AUTHORIZATION},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::get,
};
use reqwest::header::{HeaderMap, HeaderValue};
use support::{
    FIXTURE_PARTITIONS, client, feeds::FEED, first_cursors, fixture_events, fixture_log,
};
use zeroeventhub::{Cursor, Event, client::Client, server::MemoryLog};
use zeroeventhub_axum::{TestFeed, feed_route, feed_router};

// ---------------------------------------------------------------------
// Request hook, authentication and composition
// ---------------------------------------------------------------------

#[tokio::test]
async fn request_hook_adds_its_header_to_every_request() {
    let seen: Arc<Mutex<Vec<Option<String>>>> = Arc::default();
    let record = {
        let seen = Arc::clone(&seen);
        move |request: Request, next: Next| {
            let value = request
                .headers()
                .get("x-attempt")
                .map(|v| v.to_str().unwrap().to_owned());
            seen.lock().unwrap().push(value);
            next.run(request)
        }
    };
    let app = feed_router(FEED, fixture_log()).layer(middleware::from_fn(record));
    let server = TestFeed::serve_router(app);
    let calls = Arc::new(AtomicUsize::new(0));
    let client = Client::builder(&server.url_of(FEED), FIXTURE_PARTITIONS)
        .request_hook({
            let calls = Arc::clone(&calls);
            move || {
                let attempt = calls.fetch_add(1, Ordering::SeqCst) + 1;
                async move {
                    let mut headers = HeaderMap::new();
                    headers.insert("x-attempt", HeaderValue::from(attempt));
                    Ok::<_, std::convert::Infallible>(headers)
                }
            }
        })
        .build()
        .unwrap();

    for _ in 0..3 {
        client.fetch(&[Cursor::first(0)]).page().await.unwrap();
    }

    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen,
        [
            Some("1".to_owned()),
            Some("2".to_owned()),
            Some("3".to_owned())
        ]
    );
}

/// Admits only requests with `Authorization: Bearer secret`.
async fn require_bearer_secret(request: Request, next: Next) -> Response {
    match request.headers().get(AUTHORIZATION) {
        Some(value) if value == "Bearer secret" => next.run(request).await,
        _ => (StatusCode::UNAUTHORIZED, "missing or wrong bearer token").into_response(),
    }
}

fn serve_behind_auth() -> TestFeed {
    let app = feed_router(FEED, fixture_log()).layer(middleware::from_fn(require_bearer_secret));
    TestFeed::serve_router(app)
}

fn client_with_token(server: &TestFeed, token: &'static str) -> Client {
    Client::builder(&server.url_of(FEED), FIXTURE_PARTITIONS)
        .request_hook(move || async move {
            let mut headers = HeaderMap::new();
            headers.insert(
                reqwest::header::AUTHORIZATION,
                HeaderValue::from_str(&format!("Bearer {token}"))?,
            );
            Ok::<_, reqwest::header::InvalidHeaderValue>(headers)
        })
        .build()
        .unwrap()
}

#[tokio::test]
async fn feed_behind_an_auth_layer_refuses_a_client_without_the_token_with_401() {
    let server = serve_behind_auth();

    for client in [
        client(&server, FEED, FIXTURE_PARTITIONS),
        client_with_token(&server, "wrong"),
    ] {
        let error = client.fetch(&[Cursor::first(0)]).page().await.unwrap_err();
        assert_eq!(error.status().map(|s| s.as_u16()), Some(401), "{error}");
        assert!(!error.is_transient());
    }
}

#[tokio::test]
async fn feed_behind_an_auth_layer_serves_a_client_whose_hook_sends_the_token() {
    let server = serve_behind_auth();
    let client = client_with_token(&server, "secret");

    let page = client
        .fetch(&first_cursors(FIXTURE_PARTITIONS))
        .page()
        .await
        .unwrap();

    assert_eq!(page.len(), fixture_events().len());
}

#[derive(Debug, Clone)]
struct AppState {
    name: &'static str,
}

async fn name(State(state): State<AppState>) -> &'static str {
    state.name
}

#[tokio::test]
async fn feed_composes_with_other_routes_and_router_state() {
    let audit = MemoryLog::new(1);
    audit.append(Event::from_data(0, "login").unwrap()).unwrap();
    let app: Router = Router::new()
        .route("/name", get(name))
        .route(FEED, feed_route(fixture_log()))
        .nest("/api", feed_router("/audit/feed", audit))
        .with_state(AppState { name: "producer" });
    let server = TestFeed::serve_router(app);

    let name = reqwest::get(server.url_of("/name"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(name, "producer");
    let page = client(&server, FEED, FIXTURE_PARTITIONS)
        .fetch(&first_cursors(FIXTURE_PARTITIONS))
        .page()
        .await
        .unwrap();
    assert_eq!(page.len(), fixture_events().len());
    let page = client(&server, "/api/audit/feed", 1)
        .fetch(&[Cursor::first(0)])
        .page()
        .await
        .unwrap();
    let data: Vec<String> = page.events().iter().map(|e| e.data_as().unwrap()).collect();
    assert_eq!(data, ["login"]);
}
