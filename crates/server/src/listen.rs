//! Front ends as listeners: the one accept loop every front end shares (HTTP, whois).
//!
//! A front end is a bound listener, optional TLS, and a `Protocol` that serves one
//! connection. The loop owns what is the same for all of them: the connection cap in total
//! and per client address (across front ends, and a front end's own caps when it has
//! them), the TLS handshake timeout, metrics labelled by front end, and
//! graceful shutdown (stop accepting, ask each connection to finish what it is doing, wait
//! at most 10 s). The protocol owns its own read timeouts and framing.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::metrics::Metrics;

/// A connection's byte stream, plain or TLS.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

pub type Io = Box<dyn Stream>;

/// Serves one connection of a front end until it ends or `stop` is cancelled (then it
/// finishes the request in hand and closes).
pub trait Protocol: Send + Sync {
    fn serve(
        &self,
        io: Io,
        peer: SocketAddr,
        stop: CancellationToken,
    ) -> Pin<Box<dyn Future<Output = ()> + Send>>;
}

/// One bound listener and how its connections are served.
pub struct FrontEnd {
    /// For logs and the `front_end` metric label (`http`, `whois`, ...).
    pub name: &'static str,
    pub listener: TcpListener,
    pub tls: Option<tokio_rustls::TlsAcceptor>,
    pub protocol: Arc<dyn Protocol>,
    /// This front end's own caps, within the shared ones (whois has its own).
    pub caps: Option<Limits>,
    /// A fixed kernel send buffer per connection (no autotuning): what a reader that stops
    /// reading can make the kernel hold for it. `None`: the system's default.
    pub send_buffer: Option<usize>,
}

/// What every front end's connections share.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Open connections at most, all front ends together.
    pub max_connections: usize,
    /// Open connections one client address may hold.
    pub max_per_client: usize,
}

/// Counts open connections per client address; a slot is given back when dropped.
#[derive(Default)]
struct PerClient {
    open: Mutex<HashMap<IpAddr, usize>>,
}

struct ClientSlot {
    table: Arc<PerClient>,
    ip: IpAddr,
}

impl PerClient {
    fn take(self: &Arc<Self>, ip: IpAddr, max: usize) -> Option<ClientSlot> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let n = open.entry(ip).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(ClientSlot {
            table: self.clone(),
            ip,
        })
    }
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let mut open = self.table.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = open.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

/// Serve every front end until `shutdown` is cancelled, then drain.
pub async fn serve(
    front_ends: Vec<FrontEnd>,
    limits: Limits,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
) {
    let total = Arc::new(Semaphore::new(limits.max_connections));
    let per_client = Arc::new(PerClient::default());
    let tracker = TaskTracker::new();
    let mut loops = tokio::task::JoinSet::new();
    for front in front_ends {
        loops.spawn(accept_loop(
            front,
            limits,
            total.clone(),
            per_client.clone(),
            metrics.clone(),
            tracker.clone(),
            shutdown.clone(),
        ));
    }
    while loops.join_next().await.is_some() {}
    tracker.close();
    if tokio::time::timeout(Duration::from_secs(10), tracker.wait())
        .await
        .is_err()
    {
        tracing::warn!("connections still open after 10 s; closing them");
    }
}

async fn accept_loop(
    front: FrontEnd,
    limits: Limits,
    total: Arc<Semaphore>,
    per_client: Arc<PerClient>,
    metrics: Arc<Metrics>,
    tracker: TaskTracker,
    shutdown: CancellationToken,
) {
    let name = front.name;
    let own = front.caps.map(|caps| {
        (
            Arc::new(Semaphore::new(caps.max_connections)),
            Arc::new(PerClient::default()),
            caps.max_per_client,
        )
    });
    loop {
        let (stream, peer) = tokio::select! {
            _ = shutdown.cancelled() => return,
            accepted = front.listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(front_end = name, error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = total.clone().try_acquire_owned() else {
            metrics.connection(name, "refused_total");
            tracing::warn!(front_end = name, %peer, "connection limit reached; refusing");
            continue;
        };
        let client = crate::limits::canonical(peer.ip());
        let Some(slot) = per_client.take(client, limits.max_per_client) else {
            metrics.connection(name, "refused_client");
            tracing::debug!(front_end = name, %peer, "per-client connection limit reached; refusing");
            continue;
        };
        let own_slots = match &own {
            None => None,
            Some((total, per_client, max)) => {
                let Ok(permit) = total.clone().try_acquire_owned() else {
                    metrics.connection(name, "refused_total");
                    tracing::warn!(front_end = name, %peer, "front end connection limit reached; refusing");
                    continue;
                };
                let Some(slot) = per_client.take(client, *max) else {
                    metrics.connection(name, "refused_client");
                    tracing::debug!(front_end = name, %peer, "per-client connection limit reached; refusing");
                    continue;
                };
                Some((permit, slot))
            }
        };
        metrics.connection(name, "accepted");
        let _ = stream.set_nodelay(true);
        if let Some(bytes) = front.send_buffer {
            let _ = socket2::SockRef::from(&stream).set_send_buffer_size(bytes);
        }
        let (tls, protocol, stop, metrics) = (
            front.tls.clone(),
            front.protocol.clone(),
            shutdown.clone(),
            metrics.clone(),
        );
        tracker.spawn(async move {
            let _held = (permit, slot, own_slots);
            let open = metrics
                .open_connections
                .get_or_create(&crate::metrics::FrontEndLabel { front_end: name })
                .clone();
            open.inc();
            let io: Io = match tls {
                Some(acceptor) => {
                    match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream))
                        .await
                    {
                        Ok(Ok(stream)) => Box::new(stream),
                        Ok(Err(e)) => {
                            tracing::debug!(front_end = name, %peer, error = %e, "TLS handshake failed");
                            open.dec();
                            return;
                        }
                        Err(_) => {
                            open.dec();
                            return;
                        }
                    }
                }
                None => Box::new(stream),
            };
            protocol.serve(io, peer, stop).await;
            open.dec();
        });
    }
}

/// Build a TLS acceptor from PEM files.
pub fn tls_acceptor(
    cert: &std::path::Path,
    key: &std::path::Path,
    alpn: &[&[u8]],
) -> anyhow::Result<tokio_rustls::TlsAcceptor> {
    use anyhow::Context;
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("reading TLS certificate {}", cert.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("parsing TLS certificate {}", cert.display()))?;
    let key = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("reading TLS key {}", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .context("TLS certificate and key do not match")?;
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}
