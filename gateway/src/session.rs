//! Sessions: one per ZeroMQ peer identity, with its login state and throttle.

use std::time::Instant;

use bourse_core::UserId;

/// A token bucket: `rate` messages a second, bursts up to `rate`.
#[derive(Clone, Debug)]
pub struct Throttle {
    rate: f64,
    tokens: f64,
    last: Instant,
}

impl Throttle {
    /// A full bucket for `rate` messages a second (0 disables the throttle).
    pub fn new(rate: u32, now: Instant) -> Self {
        Throttle {
            rate: f64::from(rate),
            tokens: f64::from(rate),
            last: now,
        }
    }

    /// Takes one token if there is one.
    pub fn allow(&mut self, now: Instant) -> bool {
        if self.rate == 0.0 {
            return true;
        }
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.rate);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// One connected peer.
#[derive(Clone, Debug)]
pub struct Session {
    /// The user, once logged in.
    pub user: Option<UserId>,
    /// The key it logged in with.
    pub key: Option<bourse_core::FixedStr>,
    /// Its handle, when it logged in with a service key.
    pub service: Option<u32>,
    /// Its message-rate limit.
    pub throttle: Throttle,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn throttle_allows_the_rate_then_refuses_then_refills() {
        let t0 = Instant::now();
        let mut t = Throttle::new(10, t0);
        let allowed = (0..15).filter(|_| t.allow(t0)).count();
        assert_eq!(allowed, 10, "a burst of one second's worth");
        assert!(!t.allow(t0));
        assert!(
            t.allow(t0 + Duration::from_millis(150)),
            "refilled after 0.1 s"
        );
        let mut off = Throttle::new(0, t0);
        assert!((0..1000).all(|_| off.allow(t0)));
    }
}
