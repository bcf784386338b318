//! WHOIS over TCP (RFC 3912), following referrals the way the `whois` command does:
//! IANA's `refer:`/`whois:` lines and ARIN's `ReferralServer: whois://host[:port]`.
//!
//! A referral is text from a remote server, so it is followed only to a server the operator
//! allows (`tasks.whois_referral_hosts`: by default the regional registries' whois servers
//! on port 43); an IP literal or another port must be listed as such. Host names are
//! resolved with ipintel's own DNS client against the configured server, never the system
//! resolver, so the resolution is bounded and observable like every other question.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{dns, NetError};

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Per server: resolve, connect, send, read to the end.
    pub timeout: Duration,
    /// Per answer; the rest is dropped and the answer marked truncated.
    pub max_bytes: usize,
    pub max_referrals: usize,
}

/// A whois server: a host name or an IP literal, and a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub host: String,
    pub port: u16,
}

impl Target {
    /// `host`, `host:port`, `v4:port`, `[v6]:port` or a bare IPv6 address; port 43 when
    /// none is given. Host names are compared in lower case without a trailing dot.
    pub fn parse(text: &str) -> Option<Target> {
        let bare = text.trim().trim_end_matches('/');
        let (host, port) = if let Some(rest) = bare.strip_prefix('[') {
            let (host, after) = rest.split_once(']')?;
            let port = match after.strip_prefix(':') {
                Some(p) => p.parse().ok()?,
                None if after.is_empty() => 43,
                None => return None,
            };
            (host, port)
        } else if bare.parse::<std::net::Ipv6Addr>().is_ok() {
            (bare, 43)
        } else {
            match bare.rsplit_once(':') {
                Some((host, port)) => (host, port.parse().ok()?),
                None => (bare, 43),
            }
        };
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        let valid = !host.is_empty()
            && port != 0
            && (host.parse::<IpAddr>().is_ok()
                || host
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.'));
        valid.then_some(Target { host, port })
    }

    fn ip(&self) -> Option<IpAddr> {
        self.host.parse().ok()
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.ip() {
            Some(IpAddr::V6(v6)) => write!(f, "[{v6}]:{}", self.port),
            _ => write!(f, "{}:{}", self.host, self.port),
        }
    }
}

/// Which servers referrals may lead to.
#[derive(Debug, Clone, Default)]
pub struct ReferralPolicy {
    pub allowed: Vec<Target>,
}

impl ReferralPolicy {
    pub fn allows(&self, target: &Target) -> bool {
        self.allowed.contains(target)
    }
}

/// How a lookup reaches servers: the referral policy and the DNS server for host names.
#[derive(Debug, Clone)]
pub struct Reach {
    pub policy: ReferralPolicy,
    pub dns: Option<dns::Server>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// (server, text) for each server asked, in order.
    pub chain: Vec<(String, String)>,
    pub truncated: bool,
    /// A referral that was not followed, and why.
    pub not_followed: Option<(String, String)>,
}

impl Answer {
    /// The answers with `% server` headers, as one text.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for (server, text) in &self.chain {
            out.push_str(&format!("% {server}\n{text}"));
            if !text.ends_with('\n') {
                out.push('\n');
            }
        }
        if self.truncated {
            out.push_str("% answer truncated at the size limit\n");
        }
        if let Some((server, why)) = &self.not_followed {
            out.push_str(&format!("% referral to {server} not followed: {why}\n"));
        }
        out
    }
}

/// The server an answer refers to, if any, as written (`None` for non-whois referrals).
pub fn referral(text: &str) -> Option<String> {
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let key = key.trim().to_ascii_lowercase();
        let value = value.trim();
        if value.is_empty() {
            continue;
        }
        match key.as_str() {
            "refer" | "whois" => return Some(value.to_owned()),
            "referralserver" => {
                if let Some(rest) = value.strip_prefix("whois://") {
                    return Some(rest.to_owned());
                }
            }
            _ => {}
        }
    }
    None
}

/// The addresses to try for `target`: itself when it is an IP literal, else its A and
/// AAAA records from the configured DNS server.
async fn addresses(target: &Target, dns: Option<dns::Server>) -> Result<Vec<SocketAddr>, NetError> {
    if let Some(ip) = target.ip() {
        return Ok(vec![SocketAddr::new(ip, target.port)]);
    }
    let dns = dns.ok_or_else(|| {
        NetError::Refused(format!(
            "cannot resolve {}: no DNS server configured (tasks.dns_server) or found in /etc/resolv.conf",
            target.host
        ))
    })?;
    let found = dns::addresses(dns, &target.host).await?;
    if found.is_empty() {
        return Err(NetError::Refused(format!("{} has no address", target.host)));
    }
    Ok(found
        .into_iter()
        .map(|ip| SocketAddr::new(ip, target.port))
        .collect())
}

async fn ask(
    target: &Target,
    query: &str,
    limits: &Limits,
    dns: Option<dns::Server>,
) -> Result<(String, bool), NetError> {
    let io = |e: std::io::Error| NetError::Io {
        what: format!("whois {target}"),
        reason: e.to_string(),
    };
    let work = async {
        let mut stream = None;
        let mut last = None;
        for addr in addresses(target, dns).await? {
            match TcpStream::connect(addr).await {
                Ok(s) => {
                    stream = Some(s);
                    break;
                }
                Err(e) => last = Some(e),
            }
        }
        let mut stream = match (stream, last) {
            (Some(s), _) => s,
            (None, Some(e)) => return Err(io(e)),
            (None, None) => return Err(NetError::Refused(format!("{target}: no address"))),
        };
        stream
            .write_all(format!("{query}\r\n").as_bytes())
            .await
            .map_err(io)?;
        let mut buf = Vec::with_capacity(4096);
        let mut chunk = [0u8; 8192];
        let mut truncated = false;
        loop {
            let n = stream.read(&mut chunk).await.map_err(io)?;
            if n == 0 {
                break;
            }
            let room = limits.max_bytes - buf.len();
            if n > room {
                buf.extend_from_slice(&chunk[..room]);
                truncated = true;
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        Ok((String::from_utf8_lossy(&buf).into_owned(), truncated))
    };
    tokio::time::timeout(limits.timeout, work)
        .await
        .map_err(|_| NetError::Timeout(format!("whois {target}")))?
}

/// Ask `server` (the operator's, trusted as configured) about `query`, then each allowed
/// server it refers to (no server twice, at most `max_referrals`).
pub async fn lookup(
    server: &Target,
    query: &str,
    limits: Limits,
    reach: &Reach,
) -> Result<Answer, NetError> {
    let mut chain: Vec<(String, String)> = Vec::new();
    let mut asked: Vec<Target> = Vec::new();
    let mut next = Some(server.clone());
    let mut truncated = false;
    let mut not_followed = None;
    while let Some(target) = next.take() {
        let (text, cut) = ask(&target, query, &limits, reach.dns).await?;
        truncated |= cut;
        let refer = referral(&text);
        chain.push((target.to_string(), text));
        asked.push(target);
        let Some(refer) = refer else { break };
        let why = match Target::parse(&refer) {
            None => Some("not a host name or address".to_owned()),
            Some(t) if asked.contains(&t) => None,
            Some(t) if !reach.policy.allows(&t) => {
                Some("not in tasks.whois_referral_hosts".to_owned())
            }
            Some(_) if chain.len() > limits.max_referrals => {
                Some("tasks.whois_max_referrals reached".to_owned())
            }
            Some(_) if truncated => Some("the answer was truncated".to_owned()),
            Some(t) => {
                next = Some(t);
                None
            }
        };
        if let Some(why) = why {
            tracing::debug!(referral = %refer, %why, "whois referral not followed");
            not_followed = Some((refer, why));
        }
    }
    Ok(Answer {
        chain,
        truncated,
        not_followed,
    })
}

#[cfg(test)]
mod tests {
    use super::{referral, ReferralPolicy, Target};

    fn t(host: &str, port: u16) -> Target {
        Target {
            host: host.into(),
            port,
        }
    }

    #[test]
    fn referral_lines() {
        assert_eq!(
            referral("% IANA\nrefer:        whois.ripe.net\n"),
            Some("whois.ripe.net".into())
        );
        assert_eq!(
            referral("whois: whois.apnic.net\n"),
            Some("whois.apnic.net".into())
        );
        assert_eq!(
            referral("ReferralServer:  whois://whois.lacnic.net\n"),
            Some("whois.lacnic.net".into())
        );
        assert_eq!(
            referral("ReferralServer: rwhois://rwhois.example:4321\n"),
            None
        );
        assert_eq!(referral("inetnum: 1.2.3.0 - 1.2.3.255\n"), None);
    }

    #[test]
    fn targets_parse_with_port_43_by_default() {
        assert_eq!(
            Target::parse("Whois.RIPE.net."),
            Some(t("whois.ripe.net", 43))
        );
        assert_eq!(
            Target::parse("whois.ripe.net:4343"),
            Some(t("whois.ripe.net", 4343))
        );
        assert_eq!(Target::parse("127.0.0.1:4343"), Some(t("127.0.0.1", 4343)));
        assert_eq!(Target::parse("[::1]:4343"), Some(t("::1", 4343)));
        assert_eq!(Target::parse("2001:db8::1"), Some(t("2001:db8::1", 43)));
        assert_eq!(Target::parse("[::1]").unwrap().to_string(), "[::1]:43");
        for bad in [
            "",
            "host:0",
            "host:99999",
            "a b",
            "x/../y",
            "[::1",
            "evil.example:43;rm",
        ] {
            assert_eq!(Target::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_policy_allows_only_listed_hosts_and_ports() {
        let policy = ReferralPolicy {
            allowed: vec![t("whois.ripe.net", 43), t("127.0.0.1", 4343)],
        };
        assert!(policy.allows(&Target::parse("WHOIS.ripe.net").unwrap()));
        assert!(!policy.allows(&Target::parse("whois.ripe.net:8080").unwrap()));
        assert!(!policy.allows(&Target::parse("127.0.0.1").unwrap()));
        assert!(policy.allows(&Target::parse("127.0.0.1:4343").unwrap()));
        assert!(!policy.allows(&Target::parse("10.0.0.1").unwrap()));
    }
}
