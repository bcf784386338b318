//! The whois front end: one TCP port that speaks RIPE-style queries (flags, `%` message
//! blocks) and IRRd's `!` protocol (both in docs/whois.md), answered from the registry generation of the moment, plus the HTTP mirror's entry
//! point (`GET /v1/whois?q=`).
//!
//! A connection is a loop of one line in, one answer out, strictly in order, so pipelined
//! queries need no queue: the next line is read only after the answer was written.
//! Nothing is sent before the client's first line, and `!` lines never get the RIPE
//! banner (bgpq4 reads each handshake reply with one `read()`). The connection closes
//! after one answer unless the client asked to stay (`!!`, or RIPE's `-k`).
//!
//! Limits: the line length (ERROR:107), the idle timeout, the stuck-reader deadline (a
//! client that takes nothing of its answer), the server-wide output budget (rendered
//! answers waiting for readers; cached listings are written from the generation's shared
//! copy), the per-client query rate (ERROR:201, then a clean close), and the connection
//! caps the listener enforces for this front end. Clients in `whois.unmetered_networks` are not
//! rate limited.

pub mod http;
mod irrd;
mod nrtm;
mod ripe;

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio_util::sync::CancellationToken;

use crate::listen::{Io, Protocol};
use crate::state::AppState;

/// The whois protocol over the shared state (its per-client rate limiter included).
pub struct Whois {
    state: AppState,
}

impl Whois {
    pub fn new(state: AppState) -> Whois {
        Whois { state }
    }
}

impl Protocol for Whois {
    fn serve(
        &self,
        io: Io,
        peer: SocketAddr,
        stop: CancellationToken,
    ) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        let state = self.state.clone();
        Box::pin(async move {
            if let Err(e) = connection(state, io, peer, stop).await {
                tracing::debug!(%peer, error = %e, "whois connection ended with an error");
            }
        })
    }
}

/// What one line read gives.
enum Line {
    Text(String),
    TooLong,
    Eof,
}

/// Read one line of at most `max` bytes (without its `\n`/`\r\n`). A longer line is
/// reported as `TooLong` as soon as it passes the cap (the connection then closes), so
/// neither a huge line nor one that never ends is held.
async fn read_line<R: tokio::io::AsyncBufRead + Unpin>(
    reader: &mut R,
    max: usize,
) -> std::io::Result<Line> {
    let mut line: Vec<u8> = Vec::new();
    loop {
        let buf = reader.fill_buf().await?;
        if buf.is_empty() {
            return Ok(if line.is_empty() {
                Line::Eof
            } else {
                Line::Text(decode(&line))
            });
        }
        let (chunk, done) = match buf.iter().position(|&b| b == b'\n') {
            Some(at) => (&buf[..at], Some(at + 1)),
            None => (buf, None),
        };
        let over = line.len() + chunk.len() > max;
        if !over {
            line.extend_from_slice(chunk);
        }
        let used = done.unwrap_or(buf.len());
        reader.consume(used);
        if over {
            return Ok(Line::TooLong);
        }
        if done.is_some() {
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            return Ok(Line::Text(decode(&line)));
        }
    }
}

/// A query line as text: UTF-8, else ISO-8859-1 (RIPE's default), byte for byte.
fn decode(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) => text.to_string(),
        Err(_) => bytes.iter().map(|&b| b as char).collect(),
    }
}

async fn connection(
    state: AppState,
    io: Io,
    peer: SocketAddr,
    stop: CancellationToken,
) -> std::io::Result<()> {
    let config = &state.config.whois;
    let (read, mut write) = tokio::io::split(io);
    let mut reader = BufReader::with_capacity(16 * 1024, read);
    let client = crate::limits::canonical(peer.ip());
    let mut session = Session::new(&state, client);
    let stuck_reader = Duration::from_secs(config.stuck_reader_secs.max(1));
    loop {
        let timeout = session.timeout;
        let line = tokio::select! {
            _ = stop.cancelled() => return Ok(()),
            read = tokio::time::timeout(timeout, read_line(&mut reader, config.max_line_bytes)) => read,
        };
        let line = match line {
            Err(_) => {
                if session.keep_open() {
                    // Only a client that asked to stay is told why it is let go.
                    let bytes = session.idle_closed();
                    let _ =
                        tokio::time::timeout(Duration::from_secs(2), write.write_all(&bytes)).await;
                }
                break;
            }
            Ok(Err(e)) => return Err(e),
            Ok(Ok(Line::Eof)) => break,
            Ok(Ok(Line::TooLong)) => {
                let bytes = session.line_too_long(config.max_line_bytes);
                let _ = tokio::time::timeout(Duration::from_secs(2), write.write_all(&bytes)).await;
                close_cleanly(&mut reader, &mut write).await;
                return Ok(());
            }
            Ok(Ok(Line::Text(text))) => text,
        };
        // Blank lines are ignored in every mode (IRRd; peval sends them).
        if line.trim().is_empty() {
            continue;
        }
        let (mut reply, refused) = if state.whois_limiter.allow(client) {
            (session.answer(&line).await, false)
        } else {
            state.metrics.whois_query("refused");
            tracing::info!(%peer, "whois query rate exceeded; closing");
            (session.access_denied(&line), true)
        };
        // The rendered part is held against the server-wide budget until written; the
        // shared listing is the generation's own copy and costs nothing per connection.
        let held = match state.whois_output.try_hold(reply.bytes.len()) {
            Some(held) => held,
            None => {
                state.metrics.whois_query("busy");
                reply = session.busy(&line, reply.close);
                state
                    .whois_output
                    .try_hold(0)
                    .expect("small replies are free")
            }
        };
        if !reply.is_empty() {
            // A client that takes nothing of its answer for `stuck_reader_secs` is let go
            // (whatever `!t` set), and its answer with it.
            let stuck = session.timeout.min(stuck_reader);
            let mut done = write_pieces(&mut write, &reply.bytes, stuck).await?;
            if done {
                if let Some(shared) = &reply.shared {
                    done = write_pieces(&mut write, shared.as_bytes(), stuck).await?;
                }
            }
            if done {
                done = write_pieces(&mut write, reply.tail, stuck).await?;
            }
            if !done {
                tracing::info!(%peer, "whois reader stuck; closing");
                state.metrics.connection("whois", "stuck_reader");
                break;
            }
        }
        drop(held);
        if reply.close {
            if refused {
                close_cleanly(&mut reader, &mut write).await;
                return Ok(());
            }
            break;
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(2), write.shutdown()).await;
    Ok(())
}

/// What is sent for one line, and whether the connection ends after it: `bytes`, then
/// the registry's shared listing if there is one, then `tail`.
#[derive(Debug, Default)]
pub struct Reply {
    pub bytes: Vec<u8>,
    pub shared: Option<std::sync::Arc<str>>,
    pub tail: &'static [u8],
    pub close: bool,
}

impl Reply {
    fn is_empty(&self) -> bool {
        self.bytes.is_empty() && self.shared.is_none() && self.tail.is_empty()
    }
}

/// The kernel send buffer of a whois connection (Linux doubles it for its bookkeeping).
pub const SEND_BUFFER_BYTES: usize = 128 * 1024;

/// Bytes written at once: a reader must take each piece within `whois.stuck_reader_secs`.
const WRITE_PIECE: usize = 64 * 1024;

/// Write `bytes` in pieces, each within `stuck`. `Ok(false)`: the reader is stuck.
async fn write_pieces<W: tokio::io::AsyncWrite + Unpin>(
    write: &mut W,
    bytes: &[u8],
    stuck: Duration,
) -> std::io::Result<bool> {
    for piece in bytes.chunks(WRITE_PIECE) {
        match tokio::time::timeout(stuck, write.write_all(piece)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e),
            Err(_) => return Ok(false),
        }
    }
    Ok(true)
}

/// Close after a refusal so the client reads it: send FIN, then read and drop what it had
/// already pipelined (closing with unread input would send a TCP reset, and the client
/// could lose the refusal). Bounded: two seconds, 1 MiB.
async fn close_cleanly<R, W>(reader: &mut R, write: &mut W)
where
    R: tokio::io::AsyncRead + Unpin,
    W: tokio::io::AsyncWrite + Unpin,
{
    use tokio::io::AsyncReadExt;
    let _ = tokio::time::timeout(Duration::from_secs(2), write.shutdown()).await;
    let mut sink = [0u8; 8192];
    let mut drained = 0usize;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    while drained < (1 << 20) {
        match tokio::time::timeout_at(deadline, reader.read(&mut sink)).await {
            Ok(Ok(n)) if n > 0 => drained += n,
            _ => break,
        }
    }
}

/// How an answer went, for the HTTP mirror's status and the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Something was found.
    Data,
    /// A valid query with nothing to show (IRRd `C`/`D`, RIPE ERROR:101, `!!`).
    Empty,
    /// The query was refused (IRRd `F`, other RIPE errors).
    Error,
}

impl Outcome {
    fn label(self) -> &'static str {
        match self {
            Outcome::Data => "data",
            Outcome::Empty => "empty",
            Outcome::Error => "error",
        }
    }
}

/// One connection's state: what IRRd's `!s`, `!e`, `!t`, `!!` and RIPE's `-k` set.
pub(crate) struct Session<'a> {
    state: &'a AppState,
    client: IpAddr,
    /// `!!`: answer queries until `!q` or the idle timeout.
    multiple: bool,
    /// RIPE `-k`: the same, one RIPE answer after another.
    persistent: bool,
    /// `!s`: the sources IRRd queries read, in priority order; empty: the defaults.
    sources: Vec<String>,
    /// `!e`: sets never expanded in `!i,1` and `!a`.
    exclude: Vec<String>,
    timeout: Duration,
}

impl<'a> Session<'a> {
    fn new(state: &'a AppState, client: IpAddr) -> Session<'a> {
        Session {
            state,
            client,
            multiple: false,
            persistent: false,
            sources: Vec::new(),
            exclude: Vec::new(),
            timeout: Duration::from_secs(state.config.whois.idle_timeout_secs.max(1)),
        }
    }

    fn keep_open(&self) -> bool {
        self.multiple || self.persistent
    }

    /// Answer one (non-blank) line, in the dialect it is written in.
    async fn answer(&mut self, line: &str) -> Reply {
        let trimmed = line.trim();
        // IRRd takes a leading `-V <agent>` before a `!` command, as IRRd does.
        let command = strip_agent(trimmed);
        if let Some(command) = command.strip_prefix('!') {
            let (answer, outcome) = irrd::answer(self, command);
            self.state.metrics.whois_query(outcome.label());
            let close = matches!(answer, irrd::Answer::Close) || !self.multiple;
            let (bytes, shared, tail) = answer.into_parts();
            return Reply {
                bytes,
                shared,
                tail,
                close,
            };
        }
        if trimmed.eq_ignore_ascii_case("q") && self.multiple {
            // peval and RtConfig end a `!!` session with a bare `q`.
            return Reply {
                close: true,
                ..Reply::default()
            };
        }
        let answer = ripe::answer(self, trimmed).await;
        self.state.metrics.whois_query(answer.outcome.label());
        let close = answer.close || !self.keep_open();
        Reply {
            bytes: if self.multiple && !self.persistent {
                // Inside `!!` (peval): the answer alone, ending in a blank line.
                answer.body.into_bytes()
            } else if answer.silent {
                Vec::new()
            } else if answer.unframed {
                answer.body.into_bytes()
            } else {
                ripe::frame(self, &answer.body).into_bytes()
            },
            close,
            ..Reply::default()
        }
    }

    fn access_denied(&self, line: &str) -> Reply {
        let text = format!("access denied for {}", self.client);
        let bytes = if strip_agent(line.trim()).starts_with('!') {
            format!("F {text}: too many queries\n").into_bytes()
        } else {
            ripe::frame(
                self,
                &ripe::message(&format!(
                    "ERROR:201: {text}\n\nSorry, access from your host has been denied\nbecause of too many queries. Try again later."
                )),
            )
            .into_bytes()
        };
        Reply {
            bytes,
            close: true,
            ..Reply::default()
        }
    }

    /// The answer did not fit the output budget: a retry message, the connection stays.
    fn busy(&self, line: &str, close: bool) -> Reply {
        let bytes = if strip_agent(line.trim()).starts_with('!') {
            b"F Server busy: too many answers are waiting for their readers; try again\n".to_vec()
        } else {
            ripe::frame(
                self,
                &ripe::message(
                    "ERROR:100: server busy\n\nToo many answers are waiting for slow readers (whois.output_budget_bytes).\nTry again shortly.",
                ),
            )
            .into_bytes()
        };
        Reply {
            bytes,
            close,
            ..Reply::default()
        }
    }

    fn idle_closed(&self) -> Vec<u8> {
        if self.multiple && !self.persistent {
            return Vec::new();
        }
        ripe::message(&format!(
            "ERROR:305: connection has been closed\n\nThe connection to the {} Database query server\nhas been closed after a period of inactivity.",
            self.state.config.whois.name
        ))
        .into_bytes()
    }

    fn line_too_long(&self, max: usize) -> Vec<u8> {
        ripe::message(&format!(
            "ERROR:107: input line too long\n\nInput exceeds the maximum line length of {max} bytes."
        ))
        .into_bytes()
    }

    /// The sources an IRRd query reads: `!s`, else the configured defaults, else all.
    fn irr_sources(&self) -> Vec<String> {
        if !self.sources.is_empty() {
            return self.sources.clone();
        }
        self.state.config.registry_default_sources()
    }
}

/// A line without a leading `-V <agent> ` when a `!` command follows it.
fn strip_agent(line: &str) -> &str {
    if let Some(rest) = line.strip_prefix("-V") {
        let rest = rest.trim_start();
        if let Some((_, command)) = rest.split_once(char::is_whitespace) {
            let command = command.trim_start();
            if command.starts_with('!') {
                return command;
            }
        }
    }
    line
}

/// The HTTP mirror: one query answered as `GET /v1/whois?q=` shows it, the payload
/// without framing, banner or served-by line. `None`: the client's query rate is spent.
pub async fn answer_http(
    state: &AppState,
    client: IpAddr,
    query: &str,
) -> Option<(Outcome, String)> {
    if !state.whois_limiter.allow(client) {
        state.metrics.whois_query("refused");
        return None;
    }
    let mut session = Session::new(state, client);
    session.multiple = true;
    let query = query.trim();
    let command = strip_agent(query);
    if let Some(command) = command.strip_prefix('!') {
        let (answer, outcome) = irrd::answer(&mut session, command);
        state.metrics.whois_query(outcome.label());
        let text = match answer {
            irrd::Answer::Data(text) | irrd::Answer::Fail(text) => text,
            irrd::Answer::Listing(text) => text.to_string(),
            _ => String::new(),
        };
        return Some((outcome, text));
    }
    let answer = ripe::answer(&mut session, query).await;
    state.metrics.whois_query(answer.outcome.label());
    Some((answer.outcome, answer.body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn lines_are_capped_and_split_on_either_ending() {
        let input: &[u8] = b"first\r\nsecond\n\xe9t\xe9\n0123456789abcdef\nlast";
        let mut reader = BufReader::with_capacity(4, input);
        let mut got = Vec::new();
        loop {
            match read_line(&mut reader, 10).await.unwrap() {
                Line::Text(t) => got.push(t),
                Line::TooLong => got.push("<too long>".into()),
                Line::Eof => break,
            }
        }
        // After a line too long the connection closes; what follows is never read.
        assert_eq!(got[..4], ["first", "second", "été", "<too long>"]);
        assert_eq!(got.last().map(String::as_str), Some("last"));
    }

    #[test]
    fn agents_are_stripped_only_before_irrd_commands() {
        assert_eq!(strip_agent("-V bgpq4 !gAS1"), "!gAS1");
        assert_eq!(strip_agent("-V Md5.5.17 AS1"), "-V Md5.5.17 AS1");
        assert_eq!(strip_agent("!!"), "!!");
    }
}
