//! The memory that request bodies in flight may hold: a total budget for the server and a
//! share for each client address, so that clients who send large bodies (or send all but the
//! last byte and wait) cannot take the server's memory, whether or not they hold a key.
//!
//! Bytes are counted as they arrive, not as declared: a client that declares 32 MiB and sends
//! nothing holds nothing. A request's bytes stay counted until its response is ready (the
//! handler holds what it read until then), and a request that held a lot gives the freed
//! heap back to the system when it ends.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use prometheus_client::metrics::gauge::Gauge;

/// Bodies at least this large give freed heap back to the system when their request ends.
const TRIM_AFTER_BYTES: u64 = 1 << 20;

/// Which limit refused a body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The server's total budget (`http.body_budget_bytes`) is spent.
    Total,
    /// This client's share (`http.body_budget_per_client_bytes`) is spent.
    Client,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Refusal::Total => "the server is holding as much request body data as it allows (http.body_budget_bytes); try again shortly",
            Refusal::Client => "this client is sending more request body data at once than it may (http.body_budget_per_client_bytes); finish or close other uploads first",
        })
    }
}

impl std::error::Error for Refusal {}

/// The budget shared by every request of one server.
pub struct BodyBudget {
    total: u64,
    per_client: u64,
    in_flight: Gauge,
    used: Mutex<Used>,
}

#[derive(Default)]
struct Used {
    total: u64,
    by_client: HashMap<IpAddr, u64>,
}

impl BodyBudget {
    pub fn new(total: u64, per_client: u64, in_flight: Gauge) -> BodyBudget {
        BodyBudget {
            total,
            per_client,
            in_flight,
            used: Mutex::new(Used::default()),
        }
    }

    /// Bytes held now, all clients together.
    pub fn used(&self) -> u64 {
        self.lock().total
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Used> {
        self.used.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A reservation for one request from `client`, holding nothing yet.
    pub fn reservation(self: &Arc<Self>, client: IpAddr) -> Reservation {
        Reservation {
            budget: self.clone(),
            client,
            held: Mutex::new(Held::default()),
        }
    }
}

/// What one request holds; given back when it drops.
pub struct Reservation {
    budget: Arc<BodyBudget>,
    client: IpAddr,
    held: Mutex<Held>,
}

#[derive(Default)]
struct Held {
    bytes: u64,
    refused: Option<Refusal>,
}

impl Reservation {
    /// Count `n` more bytes of this request's body, or refuse them (and remember why).
    pub fn take(&self, n: u64) -> Result<(), Refusal> {
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        let mut used = self.budget.lock();
        let client = used.by_client.get(&self.client).copied().unwrap_or(0);
        let refusal = if used.total + n > self.budget.total {
            Some(Refusal::Total)
        } else if client + n > self.budget.per_client {
            Some(Refusal::Client)
        } else {
            None
        };
        if let Some(refusal) = refusal {
            held.refused = Some(refusal);
            return Err(refusal);
        }
        used.total += n;
        *used.by_client.entry(self.client).or_insert(0) += n;
        held.bytes += n;
        self.budget.in_flight.set(used.total as i64);
        Ok(())
    }

    /// Why a body was refused, if it was.
    pub fn refused(&self) -> Option<Refusal> {
        self.held.lock().unwrap_or_else(|e| e.into_inner()).refused
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        let bytes = self.held.get_mut().unwrap_or_else(|e| e.into_inner()).bytes;
        if bytes == 0 {
            return;
        }
        {
            let mut used = self.budget.lock();
            used.total -= bytes;
            if let Some(client) = used.by_client.get_mut(&self.client) {
                *client -= bytes;
                if *client == 0 {
                    used.by_client.remove(&self.client);
                }
            }
            self.budget.in_flight.set(used.total as i64);
        }
        if bytes >= TRIM_AFTER_BYTES {
            // The body's buffers are freed by now; without this glibc keeps their pages.
            match tokio::runtime::Handle::try_current() {
                Ok(runtime) => {
                    runtime.spawn_blocking(ipintel_core::release_free_heap);
                }
                Err(_) => ipintel_core::release_free_heap(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn total_and_client_shares_are_enforced_and_given_back() {
        let budget = Arc::new(BodyBudget::new(100, 60, Gauge::default()));
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let b: IpAddr = "127.0.0.2".parse().unwrap();
        let first = budget.reservation(a);
        first.take(50).unwrap();
        let second = budget.reservation(a);
        assert_eq!(second.take(20), Err(Refusal::Client));
        assert_eq!(second.refused(), Some(Refusal::Client));
        let other = budget.reservation(b);
        other.take(50).unwrap();
        assert_eq!(other.take(1), Err(Refusal::Total));
        assert_eq!(budget.used(), 100);
        drop(first);
        drop(second);
        assert_eq!(budget.used(), 50);
        drop(other);
        assert_eq!(budget.used(), 0);
        assert!(budget.lock().by_client.is_empty());
    }
}
