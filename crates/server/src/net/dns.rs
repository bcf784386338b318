//! DNS over UDP with hickory-proto: one question to one configured server, with a timeout and
//! an id check. Used for the reverse lookup (PTR plus forward confirmation of each name) and
//! for the dig report, which shows the exchange itself.

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use tokio::net::UdpSocket;

use super::NetError;

/// Where questions go and how long an answer may take.
#[derive(Debug, Clone, Copy)]
pub struct Server {
    pub addr: SocketAddr,
    pub timeout: Duration,
}

/// One question and its answer.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub question: Message,
    pub answer: Message,
    pub elapsed: Duration,
}

fn io(server: SocketAddr) -> impl Fn(std::io::Error) -> NetError {
    move |e| NetError::Io {
        what: format!("dns {server}"),
        reason: e.to_string(),
    }
}

/// Ask `server` one question.
pub async fn ask(server: Server, name: Name, kind: RecordType) -> Result<Exchange, NetError> {
    let id = rand_id();
    let mut question = Message::new(id, MessageType::Query, OpCode::Query);
    question.metadata.recursion_desired = true;
    question.add_query(Query::query(name, kind));
    let bytes = question.to_vec().map_err(|e| NetError::Io {
        what: "dns encode".into(),
        reason: e.to_string(),
    })?;
    let local: SocketAddr = if server.addr.is_ipv4() {
        "0.0.0.0:0"
    } else {
        "[::]:0"
    }
    .parse()
    .expect("static");
    let started = Instant::now();
    let work = async {
        let socket = UdpSocket::bind(local).await.map_err(io(server.addr))?;
        socket.connect(server.addr).await.map_err(io(server.addr))?;
        // The largest UDP payload: answers past 4096 bytes (hundreds of PTR names) are
        // legal without EDNS on many servers, and a cut one would read as malformed.
        let mut buf = vec![0u8; 65_535];
        // A reply that does not parse is kept as the reason, should no good one follow.
        let mut malformed: Option<String> = None;
        // UDP loses packets, and busy servers drop questions: ask again after a tenth of
        // the budget (at least 200 ms), doubling each time, as stub resolvers do, until the
        // whole budget is spent. A late answer to an earlier send still counts.
        let mut resend = (server.timeout / 10).max(Duration::from_millis(200));
        loop {
            socket.send(&bytes).await.map_err(io(server.addr))?;
            let answer = tokio::time::timeout(resend, async {
                loop {
                    let n = socket.recv(&mut buf).await.map_err(io(server.addr))?;
                    // Ignore strays: only the answer to our id counts.
                    match Message::from_vec(&buf[..n]) {
                        Ok(answer) => {
                            if answer.metadata.id == id
                                && answer.metadata.message_type == MessageType::Response
                            {
                                return Ok::<_, NetError>(answer);
                            }
                        }
                        Err(e) => malformed = Some(e.to_string()),
                    }
                }
            })
            .await;
            match answer {
                Ok(answer) => return answer,
                Err(_) if started.elapsed() + resend >= server.timeout => {
                    if let Some(reason) = malformed.take() {
                        return Err(NetError::Io {
                            what: format!("dns {}", server.addr),
                            reason: format!("malformed answer: {reason}"),
                        });
                    }
                    resend *= 2;
                }
                Err(_) => resend *= 2,
            }
        }
    };
    let answer = tokio::time::timeout(server.timeout, work)
        .await
        .map_err(|_| NetError::Timeout(format!("dns {}", server.addr)))??;
    Ok(Exchange {
        question,
        answer,
        elapsed: started.elapsed(),
    })
}

fn rand_id() -> u16 {
    use ring::rand::{SecureRandom, SystemRandom};
    let mut id = [0u8; 2];
    SystemRandom::new()
        .fill(&mut id)
        .expect("system random source");
    u16::from_be_bytes(id)
}

/// Forward questions one reverse lookup may ask: a PTR answer can carry hundreds of names,
/// and each would cost a question to the configured server.
pub const MAX_FORWARD_CHECKS: usize = 10;

/// A name found for an address, and whether it resolves back to the address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReverseName {
    pub name: String,
    pub confirmed: bool,
    /// False past `MAX_FORWARD_CHECKS`: the name was not asked about.
    pub checked: bool,
}

/// PTR names for `ip`, the first `MAX_FORWARD_CHECKS` checked forward (A for IPv4, AAAA for
/// IPv6), concurrently. NXDOMAIN is no names; any other failure code is an error naming it.
pub async fn reverse(server: Server, ip: IpAddr) -> Result<Vec<ReverseName>, NetError> {
    let ptr = ask(server, Name::from(ip), RecordType::PTR).await?;
    match u16::from(ptr.answer.metadata.response_code) {
        0 => {}
        3 => return Ok(Vec::new()),
        _ => {
            return Err(NetError::Io {
                what: format!("dns {} PTR {ip}", server.addr),
                reason: rcode_name(ptr.answer.metadata.response_code),
            })
        }
    }
    let names: Vec<Name> = ptr
        .answer
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::PTR(target) => Some(target.0.clone()),
            _ => None,
        })
        .collect();
    let forward_type = if ip.is_ipv4() {
        RecordType::A
    } else {
        RecordType::AAAA
    };
    let checks = names
        .iter()
        .take(MAX_FORWARD_CHECKS)
        .map(|name| async move {
            match ask(server, name.clone(), forward_type).await {
                Ok(forward) => forward.answer.answers.iter().any(|r| match &r.data {
                    RData::A(a) => IpAddr::V4(a.0) == ip,
                    RData::AAAA(a) => IpAddr::V6(a.0) == ip,
                    _ => false,
                }),
                Err(_) => false,
            }
        });
    let confirmed = futures_util::future::join_all(checks).await;
    Ok(names
        .iter()
        .enumerate()
        .map(|(n, name)| ReverseName {
            name: name.to_string(),
            confirmed: confirmed.get(n).copied().unwrap_or(false),
            checked: n < MAX_FORWARD_CHECKS,
        })
        .collect())
}

/// Ask about `name` (an absolute name without the trailing dot) and check the response
/// code: NXDOMAIN is `NoSuchName`, other failures are errors naming the code.
async fn ask_name(server: Server, name: &str, kind: RecordType) -> Result<Message, NetError> {
    let fqdn = Name::from_ascii(format!("{name}."))
        .map_err(|e| NetError::Refused(format!("{name:?} is not a domain name: {e}")))?;
    let exchange = ask(server, fqdn, kind).await?;
    match u16::from(exchange.answer.metadata.response_code) {
        0 => Ok(exchange.answer),
        3 => Err(NetError::NoSuchName(name.to_owned())),
        _ => Err(NetError::Io {
            what: format!("dns {} {kind} {name}", server.addr),
            reason: rcode_name(exchange.answer.metadata.response_code),
        }),
    }
}

/// The IPv4 and IPv6 addresses of `name` (A and AAAA asked at once), in answer order. Empty
/// when the name exists without addresses; `NoSuchName` when it does not exist; an error
/// when neither question was answered.
pub async fn addresses(server: Server, name: &str) -> Result<Vec<IpAddr>, NetError> {
    let (a, aaaa) = tokio::join!(
        ask_name(server, name, RecordType::A),
        ask_name(server, name, RecordType::AAAA)
    );
    let mut found = Vec::new();
    let mut failure = None;
    for outcome in [a, aaaa] {
        match outcome {
            Ok(answer) => found.extend(answer.answers.iter().filter_map(|r| match &r.data {
                RData::A(a) => Some(IpAddr::V4(a.0)),
                RData::AAAA(a) => Some(IpAddr::V6(a.0)),
                _ => None,
            })),
            Err(e @ NetError::NoSuchName(_)) => return Err(e),
            Err(e) => failure = Some(e),
        }
    }
    match failure {
        Some(e) if found.is_empty() => Err(e),
        _ => Ok(found),
    }
}

/// The mail exchangers of `domain`, most preferred first, without the trailing dot. A null
/// MX (".", RFC 7505) is left out, so a domain that takes no mail has none.
pub async fn mail_exchangers(server: Server, domain: &str) -> Result<Vec<String>, NetError> {
    let answer = ask_name(server, domain, RecordType::MX).await?;
    let mut hosts: Vec<(u16, String)> = answer
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::MX(mx) => Some((mx.preference, mx.exchange.to_ascii())),
            _ => None,
        })
        .map(|(pref, host)| (pref, host.trim_end_matches('.').to_ascii_lowercase()))
        .filter(|(_, host)| !host.is_empty())
        .collect();
    hosts.sort();
    hosts.dedup_by(|a, b| a.1 == b.1);
    Ok(hosts.into_iter().map(|(_, host)| host).collect())
}

/// The PTR names of `ip`, without the trailing dot (no forward confirmation).
pub async fn ptr_names(server: Server, ip: IpAddr) -> Result<Vec<String>, NetError> {
    let ptr = ask(server, Name::from(ip), RecordType::PTR).await?;
    Ok(ptr
        .answer
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::PTR(target) => Some(target.0.to_ascii().trim_end_matches('.').to_owned()),
            _ => None,
        })
        .collect())
}

/// dig's mnemonic for a response code (NOERROR, NXDOMAIN, ...).
pub fn rcode_name(code: hickory_proto::op::ResponseCode) -> String {
    match u16::from(code) {
        0 => "NOERROR".into(),
        1 => "FORMERR".into(),
        2 => "SERVFAIL".into(),
        3 => "NXDOMAIN".into(),
        4 => "NOTIMP".into(),
        5 => "REFUSED".into(),
        other => format!("RCODE{other}"),
    }
}

fn record_line(out: &mut String, r: &Record) {
    let _ = writeln!(
        out,
        "{}\t{}\t{}\t{}\t{}",
        r.name,
        r.ttl,
        r.dns_class,
        r.record_type(),
        r.data
    );
}

/// A dig-style report of the reverse (PTR) question for `ip`.
pub async fn dig(server: Server, ip: IpAddr) -> Result<(String, Exchange), NetError> {
    let exchange = ask(server, Name::from(ip), RecordType::PTR).await?;
    let a = &exchange.answer;
    let mut out = String::new();
    let _ = writeln!(out, "; <<>> ipintel dig <<>> -x {ip} @{}", server.addr.ip());
    let _ = writeln!(
        out,
        ";; ->>HEADER<<- opcode: QUERY, status: {}, id: {}",
        rcode_name(a.metadata.response_code),
        a.metadata.id
    );
    let mut flags = vec!["qr"];
    if a.metadata.authoritative {
        flags.push("aa");
    }
    if a.metadata.recursion_desired {
        flags.push("rd");
    }
    if a.metadata.recursion_available {
        flags.push("ra");
    }
    let _ = writeln!(
        out,
        ";; flags: {}; QUERY: {}, ANSWER: {}, AUTHORITY: {}, ADDITIONAL: {}\n",
        flags.join(" "),
        a.queries.len(),
        a.answers.len(),
        a.authorities.len(),
        a.additionals.len()
    );
    let _ = writeln!(out, ";; QUESTION SECTION:");
    for q in &a.queries {
        let _ = writeln!(
            out,
            ";{}\t\t{}\t{}",
            q.name(),
            q.query_class(),
            q.query_type()
        );
    }
    for (title, records) in [("ANSWER", &a.answers), ("AUTHORITY", &a.authorities)] {
        if !records.is_empty() {
            let _ = writeln!(out, "\n;; {title} SECTION:");
            records.iter().for_each(|r| record_line(&mut out, r));
        }
    }
    let _ = writeln!(
        out,
        "\n;; Query time: {} msec",
        exchange.elapsed.as_millis()
    );
    let _ = writeln!(
        out,
        ";; SERVER: {}#{}({})",
        server.addr.ip(),
        server.addr.port(),
        server.addr.ip()
    );
    Ok((out, exchange))
}
