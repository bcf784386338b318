//! WHOIS over TCP (RFC 3912), following referrals the way the `whois` command does:
//! IANA's `refer:`/`whois:` lines and ARIN's `ReferralServer: whois://host[:port]`.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::NetError;

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Per server: connect, send, read to the end.
    pub timeout: Duration,
    /// Per answer; the rest is dropped and the answer marked truncated.
    pub max_bytes: usize,
    pub max_referrals: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// (server, text) for each server asked, in order.
    pub chain: Vec<(String, String)>,
    pub truncated: bool,
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
        out
    }
}

fn with_port(server: &str) -> String {
    let bare = server.trim().trim_end_matches('/');
    if bare
        .rsplit_once(':')
        .is_some_and(|(_, port)| port.parse::<u16>().is_ok())
        && !bare.ends_with(']')
    {
        bare.to_owned()
    } else {
        format!("{bare}:43")
    }
}

/// The server an answer refers to, if any.
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
            "refer" | "whois" => return Some(with_port(value)),
            "referralserver" => {
                if let Some(rest) = value.strip_prefix("whois://") {
                    return Some(with_port(rest));
                }
            }
            _ => {}
        }
    }
    None
}

async fn ask(server: &str, query: &str, limits: &Limits) -> Result<(String, bool), NetError> {
    let io = |e: std::io::Error| NetError::Io {
        what: format!("whois {server}"),
        reason: e.to_string(),
    };
    let work = async {
        let mut stream = TcpStream::connect(server).await.map_err(io)?;
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
        .map_err(|_| NetError::Timeout(format!("whois {server}")))?
}

/// Ask `server` about `query`, then each server it refers to (no server twice).
pub async fn lookup(server: &str, query: &str, limits: Limits) -> Result<Answer, NetError> {
    let mut chain = Vec::new();
    let mut next = Some(with_port(server));
    let mut truncated = false;
    while let Some(server) = next.take() {
        let (text, cut) = ask(&server, query, &limits).await?;
        truncated |= cut;
        let refer = referral(&text);
        chain.push((server, text));
        if let Some(refer) = refer {
            if chain.len() <= limits.max_referrals
                && !chain.iter().any(|(s, _)| *s == refer)
                && !truncated
            {
                next = Some(refer);
            }
        }
    }
    Ok(Answer { chain, truncated })
}

#[cfg(test)]
mod tests {
    use super::referral;

    #[test]
    fn referral_lines() {
        assert_eq!(
            referral("% IANA\nrefer:        whois.ripe.net\n"),
            Some("whois.ripe.net:43".into())
        );
        assert_eq!(
            referral("whois: whois.apnic.net\n"),
            Some("whois.apnic.net:43".into())
        );
        assert_eq!(
            referral("ReferralServer:  whois://whois.lacnic.net\n"),
            Some("whois.lacnic.net:43".into())
        );
        assert_eq!(
            referral("ReferralServer: rwhois://rwhois.example:4321\n"),
            None
        );
        assert_eq!(
            referral("refer: 127.0.0.1:4343\n"),
            Some("127.0.0.1:4343".into())
        );
        assert_eq!(referral("inetnum: 1.2.3.0 - 1.2.3.255\n"), None);
    }
}
