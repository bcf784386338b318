//! HTTP/1.1 as a front end: each connection the shared accept loop (`listen`) hands over is
//! served by hyper with the router, header-size and header-read-time limits, keep-alive,
//! and graceful shutdown that lets the request in flight finish.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use crate::config::HttpConfig;
use crate::listen::{Io, Protocol};

/// The HTTP front end's protocol: the router and hyper's connection settings.
pub struct Http {
    router: Router,
    builder: Arc<hyper::server::conn::http1::Builder>,
}

impl Http {
    pub fn new(router: Router, limits: &HttpConfig) -> Http {
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(Duration::from_secs(limits.header_read_timeout_secs))
            .max_buf_size(limits.max_header_bytes.max(8192))
            .keep_alive(true);
        Http {
            router,
            builder: Arc::new(builder),
        }
    }
}

impl Protocol for Http {
    fn serve(
        &self,
        io: Io,
        peer: SocketAddr,
        stop: CancellationToken,
    ) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        let service = TowerToHyperService::new(self.router.clone().map_request(
            move |mut request: axum::extract::Request<hyper::body::Incoming>| {
                request
                    .extensions_mut()
                    .insert(ConnectInfo::<SocketAddr>(peer));
                request
            },
        ));
        let builder = self.builder.clone();
        Box::pin(async move {
            let connection = builder.serve_connection(TokioIo::new(io), service);
            tokio::pin!(connection);
            let result = tokio::select! {
                result = connection.as_mut() => result,
                _ = stop.cancelled() => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(e) = result {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        })
    }
}
