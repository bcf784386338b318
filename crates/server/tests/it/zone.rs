//! A DNS server on 127.0.0.1 answering from a function: real DNS over UDP (hickory-proto
//! messages), so the bulk pipeline's resolver is exercised as against any server. Shared
//! with `benches/bulk.rs` (included there by path).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::{RData, Record, RecordType};

/// How the zone answers one question.
pub enum Answer {
    /// NOERROR with these records (none: the name exists without data of that type).
    Records(Vec<RData>),
    NxDomain,
    /// Another response code (SERVFAIL, REFUSED, ...) and no records.
    Code(ResponseCode),
    /// A reply with the question's id that is not a DNS message.
    Malformed,
    /// No answer at all: the client times out.
    Silent,
}

/// Serve `zone` (called with the lower-case name, trailing dot included, and the type).
/// Returns the address and a count of questions answered.
pub async fn serve(
    zone: impl Fn(&str, RecordType) -> Answer + Send + Sync + 'static,
) -> (SocketAddr, Arc<AtomicU64>) {
    serve_delayed(std::time::Duration::ZERO, zone).await
}

/// `serve`, each answer sent `delay` after its question (questions overlap, as upstream).
pub async fn serve_delayed(
    delay: std::time::Duration,
    zone: impl Fn(&str, RecordType) -> Answer + Send + Sync + 'static,
) -> (SocketAddr, Arc<AtomicU64>) {
    let socket = Arc::new(tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap());
    let addr = socket.local_addr().unwrap();
    let count = Arc::new(AtomicU64::new(0));
    let answered = count.clone();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        loop {
            let Ok((n, peer)) = socket.recv_from(&mut buf).await else {
                return;
            };
            let Ok(query) = Message::from_vec(&buf[..n]) else {
                continue;
            };
            let mut reply = Message::new(query.metadata.id, MessageType::Response, OpCode::Query);
            reply.metadata.recursion_desired = query.metadata.recursion_desired;
            reply.metadata.authoritative = true;
            let mut silent = false;
            let mut malformed = false;
            for q in &query.queries {
                reply.add_query(q.clone());
                let name = q.name().to_ascii().to_ascii_lowercase();
                match zone(&name, q.query_type()) {
                    Answer::Records(data) => reply.answers.extend(
                        data.into_iter()
                            .map(|d| Record::from_rdata(q.name().clone(), 300, d)),
                    ),
                    Answer::NxDomain => reply.metadata.response_code = ResponseCode::NXDomain,
                    Answer::Code(code) => reply.metadata.response_code = code,
                    Answer::Malformed => malformed = true,
                    Answer::Silent => silent = true,
                }
            }
            if silent {
                continue;
            }
            answered.fetch_add(1, Ordering::Relaxed);
            let mut bytes = reply.to_vec().unwrap();
            if malformed {
                // A header that promises 200 answers, followed by none of them.
                bytes.truncate(12);
                bytes[2] |= 0x80;
                bytes[6..8].copy_from_slice(&200u16.to_be_bytes());
            }
            if delay.is_zero() {
                let _ = socket.send_to(&bytes, peer).await;
            } else {
                let socket = socket.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(delay).await;
                    let _ = socket.send_to(&bytes, peer).await;
                });
            }
        }
    });
    (addr, count)
}
