//! The whois output budget: bytes that rendered answers hold while they wait for their
//! readers, all connections together. A slow reader holds its answer until it has taken
//! it; without a budget, a hundred of them hold a hundred copies.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Answers below this are not counted: a refusal or a `C` line costs nothing to hold.
const FREE_BYTES: usize = 4096;

#[derive(Debug)]
pub struct OutputBudget {
    kib: Arc<Semaphore>,
}

/// Bytes held against the budget until dropped.
#[derive(Debug)]
pub struct Held(#[allow(dead_code)] Option<OwnedSemaphorePermit>);

impl OutputBudget {
    pub fn new(bytes: u64) -> OutputBudget {
        let kib = (bytes / 1024).clamp(1, u32::MAX as u64) as usize;
        OutputBudget {
            kib: Arc::new(Semaphore::new(kib.min(Semaphore::MAX_PERMITS))),
        }
    }

    /// Hold `bytes` if the budget has room now; `None` when it has not.
    pub fn try_hold(&self, bytes: usize) -> Option<Held> {
        if bytes < FREE_BYTES {
            return Some(Held(None));
        }
        let kib = u32::try_from(bytes.div_ceil(1024)).ok()?;
        self.kib
            .clone()
            .try_acquire_many_owned(kib)
            .ok()
            .map(|p| Held(Some(p)))
    }

    /// KiB free now (for metrics and tests).
    pub fn available_kib(&self) -> usize {
        self.kib.available_permits()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_until_dropped_and_refuses_past_the_budget() {
        let budget = OutputBudget::new(100 * 1024);
        let small = budget.try_hold(100).unwrap();
        assert_eq!(budget.available_kib(), 100, "small answers are free");
        let a = budget.try_hold(60 * 1024).unwrap();
        assert!(budget.try_hold(60 * 1024).is_none());
        drop(a);
        assert!(budget.try_hold(60 * 1024).is_some());
        assert!(budget.try_hold(usize::MAX).is_none());
        drop(small);
    }
}
