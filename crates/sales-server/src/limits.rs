//! Service protection limits like Dataverse's (api-limits): per user, over a sliding window, a
//! number of requests, a combined execution time and a number of concurrent requests. Over a
//! limit the request is refused with 429 and `Retry-After`. `kontor sales serve` turns them on at
//! Dataverse's values unless told otherwise ([`parse_setting`]).
//!
//! The counters live in the process, as Dataverse's live per web server.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use uuid::Uuid;

use crate::error::{ApiError, code};

/// The limits (Dataverse defaults: 6,000 requests and 1,200 s execution time per 300 s, 52
/// concurrent requests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    pub window: Duration,
    pub max_requests: u32,
    pub max_execution_time: Duration,
    pub max_concurrent: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            window: Duration::from_secs(300),
            max_requests: 6000,
            max_execution_time: Duration::from_secs(1200),
            max_concurrent: 52,
        }
    }
}

impl Limits {
    /// Parses `requests=6000,window=300,execution=1200,concurrent=52` (seconds; any subset, the
    /// rest default), e.g. from `KONTOR_SALES_LIMITS`.
    pub fn parse(text: &str) -> Result<Limits, String> {
        let mut l = Limits::default();
        for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (k, v) =
                item.split_once('=').ok_or_else(|| format!("'{item}' is not name=value"))?;
            let n: u64 = v.trim().parse().map_err(|_| format!("'{v}' is not a number"))?;
            match k.trim() {
                "requests" => {
                    l.max_requests =
                        u32::try_from(n).map_err(|_| "requests too large".to_owned())?
                }
                "window" => l.window = Duration::from_secs(n),
                "execution" => l.max_execution_time = Duration::from_secs(n),
                "concurrent" => {
                    l.max_concurrent =
                        u32::try_from(n).map_err(|_| "concurrent too large".to_owned())?
                }
                other => {
                    return Err(format!(
                        "unknown limit '{other}' (requests, window, execution, concurrent)"
                    ));
                }
            }
        }
        Ok(l)
    }
}

/// A limits setting as a person writes it (a flag or `KONTOR_SALES_LIMITS`): `on` (Dataverse's
/// documented values), `off`, or a [`Limits::parse`] list.
pub fn parse_setting(text: &str) -> Result<Option<Limits>, String> {
    match text.trim() {
        "off" | "none" => Ok(None),
        "on" | "default" | "" => Ok(Some(Limits::default())),
        spec => Limits::parse(spec).map(Some),
    }
}

#[derive(Default)]
struct UserWindow {
    requests: VecDeque<Instant>,
    executions: VecDeque<(Instant, Duration)>,
    execution_total: Duration,
    in_flight: u32,
}

/// Per-user counters.
#[derive(Clone)]
pub struct Limiter {
    limits: Limits,
    users: Arc<Mutex<HashMap<Uuid, UserWindow>>>,
}

/// Held while a request runs; records its execution time when dropped.
pub struct Permit {
    limiter: Limiter,
    user: Uuid,
    started: Instant,
}

impl Drop for Permit {
    fn drop(&mut self) {
        let elapsed = self.started.elapsed();
        if let Ok(mut users) = self.limiter.users.lock()
            && let Some(w) = users.get_mut(&self.user)
        {
            w.in_flight = w.in_flight.saturating_sub(1);
            w.executions.push_back((Instant::now(), elapsed));
            w.execution_total += elapsed;
        }
    }
}

fn ceil_secs(d: Duration) -> u64 {
    let s = d.as_secs();
    if d.subsec_nanos() > 0 { s + 1 } else { s.max(1) }
}

impl Limiter {
    pub fn new(limits: Limits) -> Self {
        Limiter { limits, users: Arc::new(Mutex::new(HashMap::new())) }
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Admits a request of `user` at `now`, or says how long to wait.
    pub fn admit_at(&self, user: Uuid, now: Instant) -> Result<Permit, ApiError> {
        let l = &self.limits;
        let mut users =
            self.users.lock().map_err(|_| ApiError::internal("limiter lock poisoned"))?;
        let w = users.entry(user).or_default();
        let horizon = now.checked_sub(l.window);
        let expired = |t: Instant| horizon.is_some_and(|h| t <= h);
        while w.requests.front().is_some_and(|t| expired(*t)) {
            w.requests.pop_front();
        }
        while let Some((t, d)) = w.executions.front().copied() {
            if !expired(t) {
                break;
            }
            w.executions.pop_front();
            w.execution_total = w.execution_total.saturating_sub(d);
        }
        if w.requests.len() >= l.max_requests as usize {
            let oldest = w.requests.front().copied().unwrap_or(now);
            let wait = (oldest + l.window).saturating_duration_since(now);
            return Err(ApiError::throttled(
                code::THROTTLE_REQUESTS,
                format!(
                    "Number of requests exceeded the limit of {} over time window of {} seconds.",
                    l.max_requests,
                    l.window.as_secs()
                ),
                ceil_secs(wait),
            ));
        }
        if w.execution_total >= l.max_execution_time {
            let oldest = w.executions.front().map(|(t, _)| *t).unwrap_or(now);
            let wait = (oldest + l.window).saturating_duration_since(now);
            return Err(ApiError::throttled(
                code::THROTTLE_TIME,
                format!(
                    "Combined execution time of incoming requests exceeded limit of {} milliseconds over time window of {} seconds. Decrease number of concurrent requests or reduce the duration of requests and try again later.",
                    l.max_execution_time.as_millis(),
                    l.window.as_secs()
                ),
                ceil_secs(wait),
            ));
        }
        if w.in_flight >= l.max_concurrent {
            return Err(ApiError::throttled(
                code::THROTTLE_CONCURRENCY,
                format!(
                    "Number of concurrent requests exceeded the limit of {}.",
                    l.max_concurrent
                ),
                1,
            ));
        }
        w.requests.push_back(now);
        w.in_flight += 1;
        drop(users);
        Ok(Permit { limiter: self.clone(), user, started: now })
    }

    pub fn admit(&self, user: Uuid) -> Result<Permit, ApiError> {
        self.admit_at(user, Instant::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_limits_setting_is_on_off_or_a_list_and_anything_else_is_refused_by_name() {
        let cases: &[(&str, Result<Option<Limits>, &str>)] = &[
            ("on", Ok(Some(Limits::default()))),
            ("off", Ok(None)),
            ("requests=10", Ok(Some(Limits { max_requests: 10, ..Limits::default() }))),
            ("requests=ten", Err("'ten' is not a number")),
            ("speed=3", Err("unknown limit 'speed'")),
        ];
        for (text, want) in cases {
            match (parse_setting(text), want) {
                (Ok(got), Ok(want)) => assert_eq!(&got, want, "{text}"),
                (Err(got), Err(want)) => assert!(got.contains(want), "{text}: {got}"),
                (got, want) => panic!("{text}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn the_request_after_the_limit_waits_until_the_oldest_leaves_the_window() {
        let l = Limiter::new(Limits {
            window: Duration::from_secs(10),
            max_requests: 2,
            ..Limits::default()
        });
        let u = Uuid::new_v4();
        let t0 = Instant::now();
        drop(l.admit_at(u, t0).unwrap());
        drop(l.admit_at(u, t0 + Duration::from_secs(4)).unwrap());
        let e = l.admit_at(u, t0 + Duration::from_secs(5)).err().unwrap();
        assert_eq!(e.status, 429);
        assert_eq!(e.code, code::THROTTLE_REQUESTS);
        assert_eq!(e.retry_after, Some(5));
        assert!(
            l.admit_at(Uuid::new_v4(), t0 + Duration::from_secs(5)).is_ok(),
            "limits are per user"
        );
        assert!(l.admit_at(u, t0 + Duration::from_secs(11)).is_ok());
    }

    #[test]
    fn limits_parse_from_a_short_text() {
        let l = Limits::parse("requests=10, window=5").unwrap();
        assert_eq!((l.max_requests, l.window, l.max_concurrent), (10, Duration::from_secs(5), 52));
        assert!(Limits::parse("speed=1").is_err());
    }

    #[test]
    fn concurrent_requests_over_the_limit_are_refused() {
        let l = Limiter::new(Limits { max_concurrent: 1, ..Limits::default() });
        let u = Uuid::new_v4();
        let p = l.admit(u).unwrap();
        assert_eq!(l.admit(u).err().unwrap().code, code::THROTTLE_CONCURRENCY);
        drop(p);
        assert!(l.admit(u).is_ok());
    }
}
