//! Limits every front end shares: the request body budget, per-client rates, the CPU pool
//! for slow work, the whois output budget, and the one form of a client address they count
//! by. A leaf:
//! imports no front end.

pub mod budget;
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

/// IPv4 peers on a dual-stack socket arrive as `::ffff:a.b.c.d`; report them as IPv4.
pub fn canonical(ip: std::net::IpAddr) -> std::net::IpAddr {
    match ip {
        std::net::IpAddr::V6(v6) => v6.to_ipv4_mapped().map(std::net::IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}
