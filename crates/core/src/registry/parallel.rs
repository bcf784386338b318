//! Work on a stream of pieces on every core, with the results taken in the order the pieces
//! came. Parsing is most of an import's CPU (a dump's text, or the store's when a registry
//! file is built), and order is what decides which of two objects with one key wins, and
//! which line a skipped object is reported at.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::sync_channel;
use std::sync::Mutex;

/// Threads that do the work: every core, at most 8.
pub fn workers() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get().min(8))
}

/// `produce` pieces on this thread (its callback answers false once nobody takes more),
/// `work` on each in [`workers`] threads, and `consume` the results in piece order on one
/// more thread (returning false stops everything). At most a few pieces per worker are in
/// flight, so memory stays a handful of pieces. Returns what `produce` returned, and
/// whether `consume` stopped early.
pub fn in_order<I, R, E>(
    produce: impl FnOnce(&mut dyn FnMut(I) -> bool) -> Result<(), E>,
    work: impl Fn(I) -> R + Sync,
    consume: impl FnMut(R) -> bool + Send,
) -> (Result<(), E>, bool)
where
    I: Send,
    R: Send,
{
    let threads = workers();
    let (to_work, pieces) = sync_channel::<(u64, I)>(threads * 2);
    let pieces = Mutex::new(pieces);
    let (to_consume, results) = sync_channel::<(u64, R)>(threads * 2);
    // Set when the consumer stops: workers then drain the pieces without working on them
    // (so the producer is never left blocked) and the producer stops offering more.
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            let (pieces, to_consume, work, stop) = (&pieces, to_consume.clone(), &work, &stop);
            scope.spawn(move || loop {
                let next = pieces.lock().unwrap_or_else(|e| e.into_inner()).recv();
                let Ok((at, piece)) = next else { break };
                if stop.load(Ordering::Relaxed) {
                    continue;
                }
                if to_consume.send((at, work(piece))).is_err() {
                    stop.store(true, Ordering::Relaxed);
                }
            });
        }
        drop(to_consume);
        let stop_consumer = &stop;
        let consumer = scope.spawn(move || {
            let mut consume = consume;
            let mut waiting = BTreeMap::new();
            let mut next = 0u64;
            for (at, result) in results {
                waiting.insert(at, result);
                while let Some(result) = waiting.remove(&next) {
                    next += 1;
                    if !consume(result) {
                        stop_consumer.store(true, Ordering::Relaxed);
                        return true;
                    }
                }
            }
            false
        });
        let mut at = 0u64;
        let produced = produce(&mut |piece| {
            if stop.load(Ordering::Relaxed) {
                return false;
            }
            let sent = to_work.send((at, piece)).is_ok();
            at += 1;
            sent
        });
        drop(to_work);
        let stopped = consumer.join().unwrap_or(true);
        (produced, stopped)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_come_in_order_and_a_stop_ends_every_thread() {
        let mut seen = Vec::new();
        let (produced, stopped) = in_order(
            |push: &mut dyn FnMut(u32) -> bool| -> Result<(), ()> {
                for i in 0..1000 {
                    if !push(i) {
                        break;
                    }
                }
                Ok(())
            },
            |i| {
                // Uneven work, so results finish out of order.
                std::thread::sleep(std::time::Duration::from_micros((i % 7) as u64 * 50));
                i * 2
            },
            |r| {
                seen.push(r);
                true
            },
        );
        assert!(produced.is_ok() && !stopped);
        assert_eq!(seen, (0..1000).map(|i| i * 2).collect::<Vec<_>>());

        let mut taken = 0;
        let mut offered = 0;
        let (_, stopped) = in_order(
            |push: &mut dyn FnMut(u32) -> bool| -> Result<(), ()> {
                for i in 0..1_000_000 {
                    offered += 1;
                    if !push(i) {
                        break;
                    }
                }
                Ok(())
            },
            |i| i,
            |_| {
                taken += 1;
                taken < 10
            },
        );
        assert!(stopped);
        assert_eq!(taken, 10);
        assert!(offered < 1000, "the producer stops soon after: {offered}");
    }
}
