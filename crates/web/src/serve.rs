//! Serving a router until shutdown, letting in-flight requests finish, with
//! every connection bounded: a header-read timeout, a keep-alive timeout
//! and caps on open connections, per listener and per client address (see
//! [`HttpLimits`]).

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::Request;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tower::ServiceExt;

use crate::idle::IdleClock;
use crate::layers::HttpLimits;
use crate::per_client::{ClientSlot, ConnectionsPerClient};

/// Serves `router` on `listener` until `shutdown` completes, then waits for
/// in-flight requests. Handlers can see the client's address
/// (`ConnectInfo<SocketAddr>`).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: HttpLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let max = limits.max_connections.clamp(1, Semaphore::MAX_PERMITS);
    let permits = Arc::new(Semaphore::new(max));
    let per_client = ConnectionsPerClient::new(limits.max_connections_per_client);
    let (stop, stopping) = watch::channel(false);
    let mut shutdown = pin!(shutdown);
    for why in ["client", "listener"] {
        metrics::counter!("stockroom_http_connections_refused_total", "why" => why).increment(0);
    }
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let (stream, remote) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of descriptors, most likely: let some close.
                tracing::warn!(error = %e, "cannot accept a connection");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        // Over the cap: closed at once rather than left in the backlog,
        // so the client learns at once and the descriptor is freed.
        let Some(slot) = per_client.admit(remote.ip()) else {
            metrics::counter!("stockroom_http_connections_refused_total", "why" => "client")
                .increment(1);
            drop(stream);
            continue;
        };
        let Ok(permit) = Arc::clone(&permits).try_acquire_owned() else {
            metrics::counter!("stockroom_http_connections_refused_total", "why" => "listener")
                .increment(1);
            drop(stream);
            continue;
        };
        tokio::spawn(connection(
            stream,
            remote,
            router.clone(),
            limits,
            stopping.clone(),
            (permit, slot),
        ));
    }
    let _ = stop.send(true);
    // Every connection holds a permit until it ends.
    let _all = permits.acquire_many(max as u32).await;
    Ok(())
}

/// Serves one connection until it ends, it idles past the keep-alive
/// timeout, or the server stops (then its request in flight finishes).
async fn connection(
    stream: TcpStream,
    remote: SocketAddr,
    router: Router,
    limits: HttpLimits,
    mut stopping: watch::Receiver<bool>,
    _held: (OwnedSemaphorePermit, ClientSlot),
) {
    let clock = IdleClock::new();
    let service = {
        let clock = clock.clone();
        hyper::service::service_fn(move |mut request: Request<Incoming>| {
            let busy = clock.busy();
            request.extensions_mut().insert(ConnectInfo(remote));
            let router = router.clone();
            async move {
                let response = router.oneshot(request).await;
                drop(busy);
                Ok::<_, Infallible>(response.unwrap_or_else(|never| match never {}))
            }
        })
    };
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let mut conn = pin!(builder
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades());
    let mut closing = false;
    loop {
        let idle_deadline = clock.deadline(limits.keep_alive_timeout);
        tokio::select! {
            served = conn.as_mut() => {
                if let Err(e) = served {
                    tracing::trace!(error = %e, "connection ended with an error");
                }
                return;
            }
            () = tokio::time::sleep_until(idle_deadline), if !closing => {
                if clock.idle_for(limits.keep_alive_timeout) {
                    conn.as_mut().graceful_shutdown();
                    closing = true;
                }
            }
            _ = stopping.wait_for(|stopped| *stopped), if !closing => {
                conn.as_mut().graceful_shutdown();
                closing = true;
            }
        }
    }
}
