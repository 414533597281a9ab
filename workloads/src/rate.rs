//! A global rate limiter: interval pacing shared by all of a workload's logical threads.
//!
//! At `rate_per_s` operations per second, each call to [`RateLimiter::acquire`] reserves the
//! next free slot on a timeline spaced `1 / rate` apart and sleeps until it. After an idle
//! period the timeline restarts at "now" rather than handing out the missed slots at once,
//! so a burst is at most [`MAX_BURST_SLOTS`] operations. The backlog is bounded too: each
//! logical thread holds at most one reservation, so no one waits more than
//! `threads / rate` seconds. A rate of 0 means unlimited.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// How many missed slots may be caught up at once after a stall (e.g. a slow op).
pub const MAX_BURST_SLOTS: u32 = 2;

/// Refused limiter settings.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum RateError {
    #[error("the rate must be a finite number of operations per second >= 0, got {0}")]
    InvalidRate(f64),
}

/// Paces operations to a total rate; shared (by reference or `Arc`) between tasks.
#[derive(Debug)]
pub struct RateLimiter {
    /// `None`: unlimited.
    interval: Option<Duration>,
    next_slot: Mutex<Instant>,
}

impl RateLimiter {
    /// A limiter for `rate_per_s` operations per second in total; 0 means unlimited.
    pub fn new(rate_per_s: f64) -> Result<Self, RateError> {
        if !rate_per_s.is_finite() || rate_per_s < 0.0 {
            return Err(RateError::InvalidRate(rate_per_s));
        }
        let interval = (rate_per_s > 0.0).then(|| Duration::from_secs_f64(1.0 / rate_per_s));
        Ok(RateLimiter {
            interval,
            next_slot: Mutex::new(Instant::now()),
        })
    }

    /// Reserves the next slot and returns when it is due. Cancel-safe in the sense that a
    /// dropped future only wastes its one slot.
    pub async fn acquire(&self) {
        let Some(interval) = self.interval else {
            return;
        };
        let slot = self.reserve(interval);
        tokio::time::sleep_until(slot).await;
    }

    fn reserve(&self, interval: Duration) -> Instant {
        let now = Instant::now();
        let mut next_slot = self
            .next_slot
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        // Slots further in the past than the burst allowance are forfeited.
        let earliest = now.checked_sub(interval * MAX_BURST_SLOTS).unwrap_or(now);
        let slot = (*next_slot).max(earliest);
        *next_slot = slot + interval;
        slot
    }
}
