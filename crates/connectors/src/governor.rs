//! Back-pressure shared by all requests to one side: a concurrency limit that grows by one after
//! a run of successes and halves on a throttle (AIMD), and a pause that every request honours
//! after a `429 Retry-After` (capped, jittered), so a throttled run slows down instead of failing.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

#[derive(Debug)]
struct State {
    /// Ceiling of the limit: the configured maximum, lowered by the server's `x-ms-dop-hint`.
    ceiling: usize,
    limit: f64,
    in_flight: usize,
    paused_until: Option<Instant>,
    throttles: u64,
}

/// The governor of one side.
#[derive(Debug)]
pub struct Governor {
    max: usize,
    state: Mutex<State>,
}

/// Holds one slot; give it back with [`Governor::done`].
#[derive(Debug)]
pub struct Slot(());

impl Governor {
    pub fn new(initial: usize, max: usize) -> Governor {
        Governor {
            max: max.max(1),
            state: Mutex::new(State {
                ceiling: max.max(1),
                limit: initial.clamp(1, max.max(1)) as f64,
                in_flight: 0,
                paused_until: None,
                throttles: 0,
            }),
        }
    }

    /// Waits for a slot (and for any pause to end).
    pub async fn acquire(&self) -> Slot {
        loop {
            let wait = {
                let mut st = self.state.lock().unwrap();
                let now = Instant::now();
                match st.paused_until {
                    Some(t) if t > now => Some(t - now),
                    _ => {
                        if st.in_flight < st.limit.floor() as usize {
                            st.in_flight += 1;
                            return Slot(());
                        }
                        None
                    }
                }
            };
            tokio::time::sleep(wait.unwrap_or(Duration::from_millis(2))).await;
        }
    }

    /// Gives the slot back; `throttled` carries the server's requested wait.
    pub fn done(&self, slot: Slot, throttled: Option<Duration>) {
        let _ = slot;
        let mut st = self.state.lock().unwrap();
        st.in_flight = st.in_flight.saturating_sub(1);
        match throttled {
            Some(wait) => {
                st.throttles += 1;
                st.limit = (st.limit / 2.0).max(1.0);
                let until = Instant::now() + wait;
                if st.paused_until.is_none_or(|t| t < until) {
                    st.paused_until = Some(until);
                }
            }
            None => {
                // Additive increase: +1 per `limit` successes.
                st.limit = (st.limit + 1.0 / st.limit.max(1.0)).min(st.ceiling as f64);
            }
        }
    }

    /// The server's recommended degree of parallelism (`x-ms-dop-hint`) caps the limit.
    pub fn hint(&self, dop: usize) {
        let mut st = self.state.lock().unwrap();
        st.ceiling = dop.clamp(1, self.max);
        st.limit = st.limit.min(st.ceiling as f64);
    }

    /// Current concurrency limit.
    pub fn limit(&self) -> usize {
        self.state.lock().unwrap().limit.floor() as usize
    }

    /// Throttle responses seen so far.
    pub fn throttles(&self) -> u64 {
        self.state.lock().unwrap().throttles
    }
}

/// `base` ± 20 %, for retry waits.
pub fn jitter(base: Duration) -> Duration {
    let f = 0.8 + rand::random::<f64>() * 0.4;
    base.mul_f64(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_throttle_halves_the_limit_and_successes_grow_it_back() {
        let g = Governor::new(8, 16);
        let s = g.acquire().await;
        g.done(s, Some(Duration::from_millis(1)));
        assert_eq!(g.limit(), 4);
        for _ in 0..40 {
            let s = g.acquire().await;
            g.done(s, None);
        }
        assert!(g.limit() > 4, "{}", g.limit());
        assert_eq!(g.throttles(), 1);
        g.hint(2);
        assert_eq!(g.limit(), 2);
    }
}
