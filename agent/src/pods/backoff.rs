//! Exponential backoff the way the kubelet applies it to crash loops and image pulls.

use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    max: Duration,
    current: Option<Duration>,
}

impl Backoff {
    pub fn new(base: Duration, max: Duration) -> Self {
        Self {
            base,
            max,
            current: None,
        }
    }

    /// The delay before the next try: base, then doubling up to max.
    pub fn next_delay(&mut self) -> Duration {
        let next = match self.current {
            None => self.base,
            Some(d) => (d * 2).min(self.max),
        };
        self.current = Some(next);
        next
    }

    /// Like the kubelet's crash loop: the first restart is immediate, later ones back off.
    pub fn next_restart_delay(&mut self) -> Duration {
        if self.current.is_none() {
            self.current = Some(self.base / 2);
            return Duration::ZERO;
        }
        self.next_delay()
    }

    pub fn reset(&mut self) {
        self.current = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_to_the_cap_and_resets() {
        let mut b = Backoff::new(Duration::from_secs(10), Duration::from_secs(300));
        let got: Vec<u64> = (0..7).map(|_| b.next_delay().as_secs()).collect();
        assert_eq!(got, [10, 20, 40, 80, 160, 300, 300]);
        b.reset();
        assert_eq!(b.next_delay().as_secs(), 10);
    }

    #[test]
    fn crash_loop_restarts_once_at_once() {
        let mut b = Backoff::new(Duration::from_secs(10), Duration::from_secs(300));
        let got: Vec<u64> = (0..4).map(|_| b.next_restart_delay().as_secs()).collect();
        assert_eq!(got, [0, 10, 20, 40]);
    }
}
