//! The program's clock. Rules are handed `now` from here; only this module reads the time.
//! A test clock (`ace serve --test-clock`, like Stripe's test clocks) starts at the real time,
//! stands still, and moves only forward by operator command.

use std::sync::Mutex;

use ace_domain::time::{truncate_to_millis, Instant};
use chrono::{TimeDelta, Utc};
use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ClockError {
    #[error("the server was not started with --test-clock; its clock follows real time")]
    NotATestClock,
    #[error("a test clock only moves forward")]
    Backwards,
}

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Instant;
    fn is_test_clock(&self) -> bool;
    fn advance(&self, by: TimeDelta) -> Result<Instant, ClockError>;
}

#[derive(Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        truncate_to_millis(Utc::now())
    }

    fn is_test_clock(&self) -> bool {
        false
    }

    fn advance(&self, _by: TimeDelta) -> Result<Instant, ClockError> {
        Err(ClockError::NotATestClock)
    }
}

#[derive(Debug)]
pub struct TestClock {
    now: Mutex<Instant>,
}

impl TestClock {
    pub fn starting_now() -> TestClock {
        TestClock::starting_at(truncate_to_millis(Utc::now()))
    }

    pub fn starting_at(start: Instant) -> TestClock {
        TestClock { now: Mutex::new(start) }
    }
}

impl Clock for TestClock {
    fn now(&self) -> Instant {
        *self.now.lock().expect("clock lock")
    }

    fn is_test_clock(&self) -> bool {
        true
    }

    fn advance(&self, by: TimeDelta) -> Result<Instant, ClockError> {
        if by < TimeDelta::zero() {
            return Err(ClockError::Backwards);
        }
        let mut now = self.now.lock().expect("clock lock");
        *now += by;
        Ok(*now)
    }
}

/// Real time moved ahead by an offset that only grows: the wall clock of tests, which lets a
/// test skip a second (a quota's refill, say) instead of sleeping through it, while signatures
/// and everything else still see time pass as it does.
#[derive(Debug, Default)]
pub struct OffsetClock {
    offset: Mutex<TimeDelta>,
}

impl Clock for OffsetClock {
    fn now(&self) -> Instant {
        truncate_to_millis(Utc::now() + *self.offset.lock().expect("clock lock"))
    }

    fn is_test_clock(&self) -> bool {
        true
    }

    fn advance(&self, by: TimeDelta) -> Result<Instant, ClockError> {
        if by < TimeDelta::zero() {
            return Err(ClockError::Backwards);
        }
        *self.offset.lock().expect("clock lock") += by;
        Ok(self.now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_clock_stands_still_and_moves_forward_only() {
        let clock = TestClock::starting_now();
        let start = clock.now();
        std::thread::sleep(std::time::Duration::from_millis(5));
        assert_eq!(clock.now(), start);
        assert_eq!(clock.advance(TimeDelta::days(4)).unwrap(), start + TimeDelta::days(4));
        assert_eq!(clock.advance(TimeDelta::hours(-1)), Err(ClockError::Backwards));
        assert_eq!(SystemClock.advance(TimeDelta::hours(1)), Err(ClockError::NotATestClock));
        let wall = OffsetClock::default();
        let before = wall.now();
        let after = wall.advance(TimeDelta::seconds(90)).unwrap();
        assert!(after - before >= TimeDelta::seconds(90), "the offset adds to real time");
    }
}
