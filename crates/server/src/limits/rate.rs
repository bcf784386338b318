//! Per-client token buckets: queries a second for whois, failed password guesses for the
//! registry. A bucket holds `burst` tokens and refills at `rate` a second; clients that
//! went quiet are forgotten once [`MAX_BUCKETS`] are held, so the map cannot grow without
//! bound however many addresses a client spreads over.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

/// Per-client token buckets: `rate` queries a second sustained, `burst` at once.
pub struct RateLimiter {
    rate: f64,
    burst: f64,
    unmetered: Vec<ipnet::IpNet>,
    buckets: Mutex<HashMap<IpAddr, (f64, Instant)>>,
}

/// Buckets kept before full ones (clients that went quiet) are dropped.
const MAX_BUCKETS: usize = 100_000;

impl RateLimiter {
    pub fn new(rate: u32, burst: u32, unmetered: Vec<ipnet::IpNet>) -> RateLimiter {
        RateLimiter {
            rate: rate.max(1) as f64,
            burst: burst.max(1) as f64,
            unmetered,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Whether `client` may send one more query now (and count it).
    pub fn allow(&self, client: IpAddr) -> bool {
        if self.unmetered.iter().any(|n| n.contains(&client)) {
            return true;
        }
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() >= MAX_BUCKETS && !buckets.contains_key(&client) {
            let (rate, burst) = (self.rate, self.burst);
            buckets.retain(|_, (tokens, at)| {
                *tokens + now.duration_since(*at).as_secs_f64() * rate < burst
            });
        }
        let (tokens, at) = buckets.entry(client).or_insert((self.burst, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * self.rate).min(self.burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

impl RateLimiter {
    /// `per_minute` tokens a minute sustained, `burst` at once, unmetered networks none.
    pub fn per_minute(per_minute: u32, burst: u32) -> RateLimiter {
        RateLimiter {
            rate: per_minute.max(1) as f64 / 60.0,
            burst: burst.max(1) as f64,
            unmetered: Vec::new(),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Whether `client` has no token left now, without spending one.
    pub fn exhausted(&self, client: IpAddr) -> bool {
        if self.unmetered.iter().any(|n| n.contains(&client)) {
            return false;
        }
        let now = Instant::now();
        let buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        buckets.get(&client).is_some_and(|(tokens, at)| {
            (*tokens + now.duration_since(*at).as_secs_f64() * self.rate).min(self.burst) < 1.0
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_limit_refills_and_spares_unmetered_networks() {
        let limiter = RateLimiter::new(1, 3, vec!["10.0.0.0/8".parse().unwrap()]);
        let client: IpAddr = "192.0.2.1".parse().unwrap();
        assert!((0..3).all(|_| limiter.allow(client)));
        assert!(!limiter.allow(client), "the burst is spent");
        assert!(limiter.allow("192.0.2.2".parse().unwrap()), "per client");
        let inside: IpAddr = "10.1.2.3".parse().unwrap();
        assert!((0..100).all(|_| limiter.allow(inside)));
    }

    #[test]
    fn exhausted_spends_nothing() {
        let limiter = RateLimiter::new(1, 2, vec![]);
        let client: IpAddr = "192.0.2.1".parse().unwrap();
        assert!(!limiter.exhausted(client));
        assert!(limiter.allow(client) && limiter.allow(client));
        assert!(limiter.exhausted(client));
        assert!(limiter.exhausted(client), "looking twice spends nothing");
        assert!(!limiter.exhausted("192.0.2.2".parse().unwrap()));
    }
}
