//! Status codes, bodies and content types of the feed route, in process
//! (`tower::ServiceExt::oneshot`, no socket).

use axum::{
    Router,
    body::{Body, to_bytes},
    extract::{RawQuery, State},
    http::{HeaderMap, Request, StatusCode, header::CONTENT_TYPE},
    response::{IntoResponse, Response},
    routing::get,
};
use futures_util::Stream;
use tower::ServiceExt;
use zeroeventhub::{
    Cursor, Event, FeedLine, FeedRequest,
    server::{DataReader, MemoryLog, ReadError},
};
use zeroeventhub_axum::{Feed, feed_handler, feed_router};

const FEED: &str = "/feed";

/// Two partitions: `1` and `2` (with header `h`) in 0, `"ten"` in 1.
fn log() -> MemoryLog {
    let log = MemoryLog::new(2);
    log.append(Event::from_data(0, &1).unwrap()).unwrap();
    log.append(Event::from_data(0, &2).unwrap().with_header("h", "v"))
        .unwrap();
    log.append(Event::from_data(1, "ten").unwrap()).unwrap();
    log
}

/// Sends `GET uri` to `app` and returns the status, headers and body.
async fn get_uri(app: Router, uri: &str) -> (StatusCode, HeaderMap, String) {
    let request = Request::get(uri).body(Body::empty()).unwrap();
    let response = app.oneshot(request).await.unwrap();
    let (parts, body) = response.into_parts();
    let body = to_bytes(body, usize::MAX).await.expect("a complete body");
    (
        parts.status,
        parts.headers,
        String::from_utf8(body.to_vec()).unwrap(),
    )
}

#[tokio::test]
async fn reader_refusing_a_cursor_is_400_with_its_message() {
    let app = feed_router(FEED, log());
    let (status, _, body) = get_uri(app, &format!("{FEED}?n=2&cursor1=99")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.starts_with("parameter cursor1: \"99\""), "{body}");
}

/// A reader that fails: before its first line, or after one checkpoint.
#[derive(Debug)]
struct FailingReader {
    after_first_line: bool,
}

/// An internal error text that must never reach a consumer.
const SECRET: &str = "db password hunter2 rejected";

impl DataReader for FailingReader {
    type Data = Box<serde_json::value::RawValue>;

    fn read(
        &self,
        _request: FeedRequest,
    ) -> impl Stream<Item = Result<FeedLine, ReadError>> + Send + 'static {
        let after_first_line = self.after_first_line;
        async_stream::stream! {
            if after_first_line {
                // Checkpoints alone are held back until the first event (a
                // failure then is still a 500); an event starts the body.
                yield Ok(FeedLine::Checkpoint(Cursor::new(0, "1").unwrap()));
                yield Ok(FeedLine::Event(Event::from_data(0, &2).unwrap()));
            }
            yield Err(ReadError::internal(SECRET));
        }
    }
}

#[tokio::test]
async fn reader_failing_before_the_first_line_is_500_with_a_generic_body() {
    let reader = FailingReader {
        after_first_line: false,
    };
    let app = feed_router(FEED, Feed::new(reader, 1));

    let (status, _, body) = get_uri(app, &format!("{FEED}?n=1&cursor0=_first")).await;

    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(body, "internal server error");
    assert!(!body.contains("hunter2"));
}

#[tokio::test]
async fn reader_failing_after_the_first_line_makes_the_body_fail() {
    let reader = FailingReader {
        after_first_line: true,
    };
    let app = feed_router(FEED, Feed::new(reader, 1));
    let request = Request::get(format!("{FEED}?n=1&cursor0=_first"))
        .body(Body::empty())
        .unwrap();

    let response = app.oneshot(request).await.unwrap();

    // The status is already sent; the body must not end cleanly.
    assert_eq!(response.status(), StatusCode::OK);
    let error = to_bytes(response.into_body(), usize::MAX)
        .await
        .expect_err("a failed response must not end cleanly");
    assert!(!error.to_string().contains("hunter2"), "{error}");
}

#[tokio::test]
async fn good_request_is_200_with_the_ndjson_body() {
    let app = feed_router(FEED, log());

    let (status, headers, body) = get_uri(
        app,
        &format!("{FEED}?n=2&cursor0=1&cursor1=_last&headers=h,&unknown=1"),
    )
    .await;

    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[CONTENT_TYPE], "application/x-ndjson");
    assert_eq!(
        body,
        "{\"partition\":0,\"headers\":{\"h\":\"v\"},\"data\":2}\n\
         {\"partition\":0,\"cursor\":\"2\"}\n\
         {\"partition\":0,\"cursor\":\"2\"}\n\
         {\"partition\":1,\"cursor\":\"1\"}\n"
    );
}

#[tokio::test]
async fn feed_route_answers_only_get() {
    let app = feed_router(FEED, log());
    let request = Request::post(format!("{FEED}?n=2&cursor0=_first"))
        .body(Body::empty())
        .unwrap();

    let response = app.oneshot(request).await.unwrap();

    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn feed_handler_with_feed_state_serves_a_users_own_route() {
    let app = Router::new()
        .route("/my/events", get(feed_handler::<MemoryLog>))
        .with_state(Feed::new(log(), 2));

    let (status, headers, body) = get_uri(app, "/my/events?n=2&cursor1=_first").await;

    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[CONTENT_TYPE], "application/x-ndjson");
    assert_eq!(
        body,
        "{\"partition\":1,\"data\":\"ten\"}\n\
         {\"partition\":1,\"cursor\":\"1\"}\n\
         {\"partition\":1,\"cursor\":\"1\"}\n"
    );
}

/// A handler of the user's own that checks a permission before serving.
async fn only_for_admins(
    State(feed): State<Feed<MemoryLog>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    if headers.get("x-role").is_none_or(|role| role != "admin") {
        return StatusCode::FORBIDDEN.into_response();
    }
    zeroeventhub_axum::respond(&feed, query.as_deref()).await
}

#[tokio::test]
async fn feed_respond_serves_a_users_handler_that_checks_permissions_first() {
    let app = Router::new()
        .route(FEED, get(only_for_admins))
        .with_state(Feed::new(log(), 2));
    let uri = format!("{FEED}?n=2&cursor1=_last");

    let (status, _, _) = get_uri(app.clone(), &uri).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let request = Request::get(&uri)
        .header("x-role", "admin")
        .body(Body::empty())
        .unwrap();
    let response = app.oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body = to_bytes(response.into_body(), usize::MAX).await.unwrap();
    assert_eq!(&body[..], b"{\"partition\":1,\"cursor\":\"1\"}\n");
}
