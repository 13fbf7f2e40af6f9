//! The runner's clock: every time the engine reads (sleep and wait deadlines, timers due,
//! leases, event timestamps, cron ticks) comes from [`RunnerConfig::clock`](crate::RunnerConfig).
//! [`SystemClock`] is the wall clock; [`ManualClock`] is set by a test, and moving it wakes
//! every worker loop that uses it, so a durable sleep of a month fires as soon as the test
//! advances the clock past it, with no real waiting.

use crate::event::Millis;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Where the runner reads the time.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Unix milliseconds.
    fn now_ms(&self) -> Millis;

    /// Changes of the time other than its passing (a manual clock set or advanced); `None` for
    /// a clock that only moves with the wall clock.
    fn subscribe(&self) -> Option<watch::Receiver<Millis>> {
        None
    }
}

/// The wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> Millis {
        crate::event::now_ms()
    }
}

/// A clock that stands still until it is set or advanced.
#[derive(Debug)]
pub struct ManualClock {
    now: watch::Sender<Millis>,
}

impl ManualClock {
    /// A clock standing at `start` (Unix milliseconds).
    pub fn new(start: Millis) -> Arc<Self> {
        Arc::new(Self {
            now: watch::Sender::new(start),
        })
    }

    /// Set the time (it may go backwards; the runner only compares).
    pub fn set(&self, at: Millis) {
        self.now.send_replace(at);
    }

    /// Move the time forward by `by`; returns the new time.
    pub fn advance(&self, by: Duration) -> Millis {
        let by = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        let mut now = 0;
        self.now.send_modify(|t| {
            *t = t.saturating_add(by);
            now = *t;
        });
        now
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> Millis {
        *self.now.borrow()
    }

    fn subscribe(&self) -> Option<watch::Receiver<Millis>> {
        Some(self.now.subscribe())
    }
}

/// The default clock of a runner.
pub fn system() -> Arc<dyn Clock> {
    Arc::new(SystemClock)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told_and_tells_subscribers() {
        let c = ManualClock::new(1_000);
        let mut rx = c.subscribe().expect("a manual clock has subscribers");
        assert_eq!(c.now_ms(), 1_000);
        assert!(!rx.has_changed().unwrap());
        assert_eq!(c.advance(Duration::from_secs(2)), 3_000);
        assert!(rx.has_changed().unwrap());
        assert_eq!(*rx.borrow_and_update(), 3_000);
        c.set(500);
        assert_eq!(c.now_ms(), 500);
        assert!(SystemClock.subscribe().is_none());
        assert!(SystemClock.now_ms() > 1_700_000_000_000);
    }
}
