//! The CPU pool: work too slow for the async threads (checking maintainer passwords,
//! rendering thousands of objects) runs on tokio's blocking threads, at most as many at
//! once as the machine has cores, so health checks, lookups and whois never wait behind
//! it. A caller that stops waiting (a request timeout, a client gone) cancels the work:
//! the closure sees [`Cancel::is_cancelled`] and returns early.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::sync::Semaphore;

/// Set when the caller stopped waiting; slow loops look at it between steps.
#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<AtomicBool>);

impl Cancel {
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    /// A token nobody cancels, for work run inline.
    pub fn never() -> Cancel {
        Cancel::default()
    }
}

/// Cancels on drop unless disarmed: dropped with the caller's future.
struct CancelOnDrop(Option<Cancel>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(c) = self.0.take() {
            c.0.store(true, Ordering::Relaxed);
        }
    }
}

#[derive(Debug)]
pub struct CpuPool {
    permits: Arc<Semaphore>,
}

impl CpuPool {
    /// At most `workers` closures at once (at least one).
    pub fn new(workers: usize) -> CpuPool {
        CpuPool {
            permits: Arc::new(Semaphore::new(workers.max(1))),
        }
    }

    /// One per core.
    pub fn per_core() -> CpuPool {
        CpuPool::new(std::thread::available_parallelism().map_or(2, |n| n.get()))
    }

    /// Run `work` on a blocking thread once a worker is free. A panic in `work` resumes in
    /// the caller (the HTTP layer turns it into a 500).
    pub async fn run<T, F>(&self, work: F) -> T
    where
        T: Send + 'static,
        F: FnOnce(&Cancel) -> T + Send + 'static,
    {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .expect("the CPU pool's semaphore is never closed");
        let cancel = Cancel::default();
        let mut guard = CancelOnDrop(Some(cancel.clone()));
        let joined = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            work(&cancel)
        })
        .await;
        guard.0 = None;
        match joined {
            Ok(out) => out,
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_caller_that_stops_waiting_cancels_the_work() {
        let pool = Arc::new(CpuPool::new(1));
        let seen = Arc::new(AtomicBool::new(false));
        let seen2 = seen.clone();
        let slow = pool.run(move |cancel| {
            let start = std::time::Instant::now();
            while !cancel.is_cancelled() && start.elapsed() < Duration::from_secs(10) {
                std::thread::sleep(Duration::from_millis(5));
            }
            seen2.store(cancel.is_cancelled(), Ordering::Relaxed);
        });
        assert!(tokio::time::timeout(Duration::from_millis(100), slow)
            .await
            .is_err());
        // The worker is given back once the cancelled closure returns.
        let next = tokio::time::timeout(Duration::from_secs(5), pool.run(|_| 7)).await;
        assert_eq!(next.ok(), Some(7));
        assert!(seen.load(Ordering::Relaxed), "the closure saw the cancel");
    }
}
