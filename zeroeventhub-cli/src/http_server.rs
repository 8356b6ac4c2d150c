//! The HTTP server of `zeh serve`, hardened against clients that hold on:
//! a connection that does not send a request head in time is closed, and
//! past a cap on responses in flight a request gets 503 with
//! `Retry-After`, which consumers honour.
//!
//! It is hyper's HTTP/1 server with a timer, which `axum::serve` does not
//! configure, and hyper-util's graceful shutdown.

use std::{future::Future, sync::Arc, time::Duration};

use axum::{
    Router,
    body::Body,
    extract::{Request, State},
    http::{StatusCode, header::RETRY_AFTER},
    middleware::{self, Next},
    response::{IntoResponse, Response},
};
use futures_util::StreamExt;
use hyper_util::{
    rt::{TokioIo, TokioTimer},
    server::graceful::GracefulShutdown,
    service::TowerToHyperService,
};
use tokio::{net::TcpListener, sync::Semaphore};

/// How long a client refused for too many streams is asked to wait.
const RETRY_AFTER_SECONDS: &str = "1";

/// The limits `zeh serve` holds clients to.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// The longest a connection may take to send a request's head,
    /// counted from its start or the end of the previous response (so an
    /// idle keep-alive connection is closed after it too).
    pub(crate) header_timeout: Duration,
    /// The most responses in flight at once, held long-polls included.
    pub(crate) max_streams: usize,
}

/// Serves `router` on `listener` within `limits` until `shutdown`
/// completes; then stops accepting and waits for the connections to finish
/// their responses.
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) {
    let streams = Arc::new(Semaphore::new(limits.max_streams));
    let router = router.layer(middleware::from_fn_with_state(streams, limit_streams));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    // Out of descriptors, say: wait a moment rather than spin.
                    tracing::warn!(%error, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let service = TowerToHyperService::new(router.clone());
        let connection = http.serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// Admits a request while fewer than the cap are in flight; its permit is
/// held until its response body is dropped, so a response counts for as
/// long as it streams.
async fn limit_streams(
    State(streams): State<Arc<Semaphore>>,
    request: Request,
    next: Next,
) -> Response {
    let Ok(permit) = streams.try_acquire_owned() else {
        tracing::debug!("request refused: too many responses in flight");
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [(RETRY_AFTER, RETRY_AFTER_SECONDS)],
            "too many responses in flight; retry later",
        )
            .into_response();
    };
    let response = next.run(request).await;
    response.map(|body| {
        let chunks = body.into_data_stream().map(move |chunk| {
            let _held = &permit;
            chunk
        });
        Body::from_stream(chunks)
    })
}
