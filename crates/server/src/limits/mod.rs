//! Limits every front end shares: per-client rates, the CPU pool for slow work, the
//! whois output budget. A leaf:
//! imports no front end.

mod cpu;
mod output;
mod rate;

pub use cpu::{Cancel, CpuPool};
pub use output::{Held, OutputBudget};
pub use rate::RateLimiter;

/// Failed maintainer-password guesses a client may make: this many at once, refilled at
/// this many a minute. Past them, requests with passwords are refused (RIPE's `ERROR:201`)
/// until the bucket refills; requests without passwords are never affected.
pub const UNLOCK_FAILURES_PER_MINUTE: u32 = 10;
pub const UNLOCK_FAILURES_BURST: u32 = 10;
