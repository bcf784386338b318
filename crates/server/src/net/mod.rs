//! All outbound network access: DNS questions, the WHOIS client and the port scanner. Every call has a
//! timeout and a size or concurrency limit; addresses come from configuration or from a job
//! that passed the allow-list.

pub mod dns;
pub mod portscan;
pub mod whois;

#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error("{0} timed out")]
    Timeout(String),
    #[error("{what}: {reason}")]
    Io { what: String, reason: String },
    #[error("{0}")]
    Refused(String),
    #[error("{0}: no such domain (NXDOMAIN)")]
    NoSuchName(String),
}
