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

/// What a network task found, as typed data. The store keeps each front end's rendering of
/// it: QRadar's message (`api::qradar::model::task_message`) and the structured result of
/// ipintel's own API (`api::v1::model::task_result`).
#[derive(Debug, Clone)]
pub enum TaskOutcome {
    Reverse {
        ip: std::net::IpAddr,
        names: Vec<dns::ReverseName>,
    },
    Dig {
        ip: std::net::IpAddr,
        server: std::net::SocketAddr,
        /// The dig-style report.
        report: String,
        status: String,
        answers: Vec<String>,
        query_time_ms: u64,
    },
    Whois {
        query: String,
        answer: whois::Answer,
    },
    PortScan {
        ip: std::net::IpAddr,
        ports: Vec<(u16, portscan::PortState)>,
    },
}
