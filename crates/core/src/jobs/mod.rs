//! Jobs: the durable model behind QRadar's asynchronous tasks and bulk requests.
//!
//! A job is accepted only once it is in the store, so a crash loses no accepted job. The
//! states are QRadar's twelve; the transitions ipintel makes are:
//!
//! ```text
//! QUEUED ──claim──> PROCESSING ──> COMPLETED | EXCEPTION
//!   │                   │ (process died: lease expired or restart)
//!   │                   └──> INTERRUPTED ──claim──> RESUMING ──> PROCESSING ──> ...
//!   └─cancel─> CANCELLED          PROCESSING ──cancel──> CANCEL_REQUESTED ──> CANCELLED
//! ```
//! INITIALIZING, CANCELING, PAUSED and CONFLICT exist for QRadar clients that know them;
//! ipintel does not enter them. A job's result is written in the same statement that marks
//! it finished, and only by the worker holding its lease, so a caller sees one result.

use std::fmt;
use std::str::FromStr;

/// QRadar's task states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobStatus {
    Queued,
    Initializing,
    Processing,
    Completed,
    Exception,
    CancelRequested,
    Canceling,
    Cancelled,
    Interrupted,
    Resuming,
    Paused,
    Conflict,
}

impl JobStatus {
    pub const ALL: [JobStatus; 12] = [
        JobStatus::Queued,
        JobStatus::Initializing,
        JobStatus::Processing,
        JobStatus::Completed,
        JobStatus::Exception,
        JobStatus::CancelRequested,
        JobStatus::Canceling,
        JobStatus::Cancelled,
        JobStatus::Interrupted,
        JobStatus::Resuming,
        JobStatus::Paused,
        JobStatus::Conflict,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Queued => "QUEUED",
            JobStatus::Initializing => "INITIALIZING",
            JobStatus::Processing => "PROCESSING",
            JobStatus::Completed => "COMPLETED",
            JobStatus::Exception => "EXCEPTION",
            JobStatus::CancelRequested => "CANCEL_REQUESTED",
            JobStatus::Canceling => "CANCELING",
            JobStatus::Cancelled => "CANCELLED",
            JobStatus::Interrupted => "INTERRUPTED",
            JobStatus::Resuming => "RESUMING",
            JobStatus::Paused => "PAUSED",
            JobStatus::Conflict => "CONFLICT",
        }
    }

    /// No more work will happen.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            JobStatus::Completed | JobStatus::Exception | JobStatus::Cancelled
        )
    }
}

impl fmt::Display for JobStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for JobStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        JobStatus::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| format!("unknown job status {s:?}"))
    }
}

/// What a job does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobKind {
    /// Reverse DNS with forward confirmation.
    DnsLookup,
    /// A dig-style report of the reverse question.
    Dig,
    Whois,
    PortScan,
    /// A bulk request: many terms, processed in durable chunks (see `store::bulk`).
    Bulk,
}

impl JobKind {
    pub const ALL: [JobKind; 5] = [
        JobKind::DnsLookup,
        JobKind::Dig,
        JobKind::Whois,
        JobKind::PortScan,
        JobKind::Bulk,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::DnsLookup => "dns_lookup",
            JobKind::Dig => "dig",
            JobKind::Whois => "whois",
            JobKind::PortScan => "port_scan",
            JobKind::Bulk => "bulk",
        }
    }
}

impl FromStr for JobKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        JobKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| format!("unknown job kind {s:?}"))
    }
}

/// A job as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub id: u64,
    pub account_id: u64,
    pub kind: JobKind,
    /// The address the task is about, canonical text.
    pub target: String,
    pub status: JobStatus,
    /// Human-readable result (COMPLETED) or reason (EXCEPTION, CANCELLED).
    pub message: Option<String>,
    /// Structured result, JSON text.
    pub result: Option<String>,
    pub attempts: u32,
    pub created_at: i64,
    pub finished_at: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip() {
        for st in JobStatus::ALL {
            assert_eq!(st.as_str().parse::<JobStatus>(), Ok(st));
        }
        assert!("DONE".parse::<JobStatus>().is_err());
        assert_eq!(JobStatus::ALL.iter().filter(|s| s.is_final()).count(), 3);
    }
}
