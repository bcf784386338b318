//! TCP connect scan of a port list, with bounded concurrency and a per-port timeout.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::sync::Semaphore;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortState {
    /// The connection was accepted.
    Open,
    /// Actively refused (RST).
    Closed,
    /// No answer within the timeout, or unreachable.
    Filtered,
}

impl PortState {
    pub fn as_str(self) -> &'static str {
        match self {
            PortState::Open => "open",
            PortState::Closed => "closed",
            PortState::Filtered => "filtered",
        }
    }
}

/// Scan `ports` on `ip`; results in port order.
pub async fn scan(
    ip: IpAddr,
    ports: &[u16],
    concurrency: usize,
    timeout: Duration,
) -> Vec<(u16, PortState)> {
    let permits = Arc::new(Semaphore::new(concurrency.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    for &port in ports {
        let permits = permits.clone();
        tasks.spawn(async move {
            let _permit = permits
                .acquire_owned()
                .await
                .expect("semaphore never closed");
            let state =
                match tokio::time::timeout(timeout, TcpStream::connect(SocketAddr::new(ip, port)))
                    .await
                {
                    Ok(Ok(_)) => PortState::Open,
                    Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                        PortState::Closed
                    }
                    _ => PortState::Filtered,
                };
            (port, state)
        });
    }
    let mut out = Vec::with_capacity(ports.len());
    while let Some(done) = tasks.join_next().await {
        if let Ok(result) = done {
            out.push(result);
        }
    }
    out.sort_by_key(|(port, _)| *port);
    out
}
