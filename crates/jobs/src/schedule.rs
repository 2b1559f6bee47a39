//! The pure rules of the job queue: what an entry becomes after a run. No IO; the queue applies
//! what [`after_run`] decides inside the transaction that completes the run.
//!
//! | outcome                | one-off entry   | recurring entry                                               |
//! |------------------------|-----------------|---------------------------------------------------------------|
//! | Finished               | Finished        | Ready at `now + interval`, idle streak reset                  |
//! | Idle                   | Finished        | Ready at `now + interval`; On Hold with Inactivity Timeout when the idle streak has lasted the inactivity timeout (it wakes itself after the timeout again, or on `wake`) |
//! | Failed, attempts left  | Ready at `now + rerun delay` | Ready at `now + backoff` (see below), last error kept |
//! | Failed, no attempts left, or FailedPermanently | Error | Ready at `now + backoff`, last error kept (never Error) |
//!
//! "Attempts" count the runs started since the last successful run, the current one included, so
//! with `max_attempts = 3` a one-off job runs at most three times in a row before it goes to Error.
//! A recurring entry never ends by itself: a failed run is retried after [`backoff`] (the rerun
//! delay, doubled with each failure in a row, at most [`Policy::max_rerun_delay`]), for ever,
//! until a person sets it On Hold. A run whose worker died (its lease expired) counts as a failed
//! attempt and is taken over at once.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::entry::{LogStatus, Outcome, Status};

/// The part of an entry's setup the rules need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub interval: Option<Duration>,
    pub max_attempts: u32,
    pub rerun_delay: Duration,
    pub inactivity_timeout: Option<Duration>,
    /// The longest wait between two retries of a failing recurring entry.
    pub max_rerun_delay: Duration,
}

/// The default [`Policy::max_rerun_delay`]: 30 minutes.
pub const MAX_RERUN_DELAY: Duration = Duration::from_secs(30 * 60);

/// The wait before the next run of a recurring entry whose last `failures` runs failed (the
/// current one included): `first` after one failure, doubled with each further failure, never
/// more than `max` (nor less than one second). `failures = 0` counts as one.
pub fn backoff(first: Duration, max: Duration, failures: u32) -> Duration {
    let first = first.max(Duration::from_secs(1));
    let max = max.max(first);
    let doublings = failures.saturating_sub(1).min(63);
    first.checked_mul(1u32.checked_shl(doublings).unwrap_or(u32::MAX)).map_or(max, |d| d.min(max))
}

/// The state of the run that ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Run {
    /// Runs started since the last success, this one included.
    pub attempts: u32,
    pub started_at: DateTime<Utc>,
    /// The entry's idle streak before this run.
    pub idle_since: Option<DateTime<Utc>>,
}

/// What the entry and its log row become.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AfterRun {
    pub status: Status,
    /// The new `run_at`; `None` keeps the old one (the entry will not run by itself).
    pub run_at: Option<DateTime<Utc>>,
    pub attempts: u32,
    pub idle_since: Option<DateTime<Utc>>,
    /// The entry's new "Error Message" (`None` clears it).
    pub last_error: Option<String>,
    pub log_status: LogStatus,
    pub log_error: Option<String>,
}

/// Decides the entry's next status and run time after a run ended at `now` with `outcome`.
pub fn after_run(policy: &Policy, run: &Run, outcome: &Outcome, now: DateTime<Utc>) -> AfterRun {
    let success = |status, run_at, idle_since, log_status| AfterRun {
        status,
        run_at,
        attempts: 0,
        idle_since,
        last_error: None,
        log_status,
        log_error: None,
    };
    let failure = |message: &str, permanent: bool| {
        let exhausted = permanent || run.attempts >= policy.max_attempts.max(1);
        let (status, run_at) = match policy.interval {
            Some(_) => (
                Status::Ready,
                Some(add(now, backoff(policy.rerun_delay, policy.max_rerun_delay, run.attempts))),
            ),
            None if exhausted => (Status::Error, None),
            None => (Status::Ready, Some(add(now, policy.rerun_delay))),
        };
        AfterRun {
            status,
            run_at,
            attempts: run.attempts,
            idle_since: run.idle_since,
            last_error: Some(message.to_owned()),
            log_status: LogStatus::Error,
            log_error: Some(message.to_owned()),
        }
    };
    match (outcome, policy.interval) {
        (Outcome::Finished, None) => success(Status::Finished, None, None, LogStatus::Success),
        (Outcome::Idle, None) => success(Status::Finished, None, None, LogStatus::Idle),
        (Outcome::Finished, Some(interval)) => {
            success(Status::Ready, Some(add(now, interval)), None, LogStatus::Success)
        }
        (Outcome::Idle, Some(interval)) => {
            let idle_since = run.idle_since.unwrap_or(run.started_at);
            match policy.inactivity_timeout {
                Some(timeout) if now - idle_since >= crate::clock::delta(timeout) => success(
                    Status::OnHoldInactivity,
                    Some(add(now, timeout)),
                    Some(idle_since),
                    LogStatus::Idle,
                ),
                _ => success(
                    Status::Ready,
                    Some(add(now, interval)),
                    Some(idle_since),
                    LogStatus::Idle,
                ),
            }
        }
        (Outcome::Failed(message), _) => failure(message, false),
        (Outcome::FailedPermanently(message), _) => failure(message, true),
    }
}

/// `at + d`, saturating at the largest representable time.
pub fn add(at: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    at.checked_add_signed(crate::clock::delta(d)).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Duration = Duration::from_secs(60);

    fn t(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap()
    }

    fn one_off() -> Policy {
        Policy {
            interval: None,
            max_attempts: 3,
            rerun_delay: Duration::from_secs(30),
            inactivity_timeout: None,
            max_rerun_delay: 30 * MIN,
        }
    }

    fn recurring(timeout: Option<Duration>) -> Policy {
        Policy { interval: Some(30 * MIN), inactivity_timeout: timeout, ..one_off() }
    }

    fn run(attempts: u32, idle_since: Option<DateTime<Utc>>) -> Run {
        Run { attempts, started_at: t(0), idle_since }
    }

    #[test]
    fn a_finished_one_off_entry_is_finished_and_keeps_no_error() {
        let res = after_run(&one_off(), &run(2, None), &Outcome::Finished, t(5));
        assert_eq!(
            res,
            AfterRun {
                status: Status::Finished,
                run_at: None,
                attempts: 0,
                idle_since: None,
                last_error: None,
                log_status: LogStatus::Success,
                log_error: None,
            }
        );
    }

    #[test]
    fn an_idle_one_off_entry_is_finished_with_an_idle_log() {
        let res = after_run(&one_off(), &run(1, None), &Outcome::Idle, t(5));
        assert_eq!((res.status, res.log_status), (Status::Finished, LogStatus::Idle));
    }

    #[test]
    fn a_finished_recurring_entry_is_ready_one_interval_after_the_run_ended() {
        let res = after_run(&recurring(None), &run(1, Some(t(-100))), &Outcome::Finished, t(5));
        assert_eq!(res.status, Status::Ready);
        assert_eq!(res.run_at, Some(t(5 + 30 * 60)));
        assert_eq!(res.idle_since, None, "work found ends the idle streak");
    }

    #[test]
    fn a_failed_run_with_attempts_left_is_retried_after_the_rerun_delay() {
        let res = after_run(&one_off(), &run(2, None), &Outcome::Failed("boom".into()), t(5));
        assert_eq!(res.status, Status::Ready);
        assert_eq!(res.run_at, Some(t(35)));
        assert_eq!(res.attempts, 2);
        assert_eq!(res.last_error.as_deref(), Some("boom"));
        assert_eq!((res.log_status, res.log_error.as_deref()), (LogStatus::Error, Some("boom")));
    }

    #[test]
    fn a_one_off_run_failed_on_the_last_attempt_goes_to_error_and_stays_there() {
        let res = after_run(&one_off(), &run(3, None), &Outcome::Failed("boom".into()), t(5));
        assert_eq!((res.status, res.run_at), (Status::Error, None));
        assert_eq!(res.last_error.as_deref(), Some("boom"));
    }

    #[test]
    fn a_one_off_permanent_failure_goes_to_error_on_the_first_attempt() {
        let res =
            after_run(&one_off(), &run(1, None), &Outcome::FailedPermanently("bad".into()), t(5));
        assert_eq!((res.status, res.run_at), (Status::Error, None));
    }

    #[test]
    fn a_failed_recurring_run_is_retried_with_a_backoff_for_ever_keeping_its_error() {
        // (failures in a row, permanent, seconds until the retry)
        let cases = [
            (1, false, 30),
            (2, false, 60),
            (3, false, 120),
            (6, false, 960),
            (7, false, 1800),
            (10, false, 1800),
            (1_000_000, false, 1800),
            (1, true, 30),
            (12, true, 1800),
        ];
        for (failures, permanent, wait) in cases {
            let outcome = if permanent {
                Outcome::FailedPermanently("Sales refused the credentials".into())
            } else {
                Outcome::Failed("Sales refused the credentials".into())
            };
            let res = after_run(&recurring(Some(60 * MIN)), &run(failures, None), &outcome, t(5));
            assert_eq!(
                (res.status, res.run_at, res.attempts),
                (Status::Ready, Some(t(5 + wait)), failures),
                "after {failures} failures (permanent: {permanent})"
            );
            assert_eq!(res.last_error.as_deref(), Some("Sales refused the credentials"));
            assert_eq!(res.log_status, LogStatus::Error);
        }
    }

    #[test]
    fn the_backoff_doubles_the_first_delay_up_to_the_longest() {
        let s = Duration::from_secs;
        // (first, max, failures, expected)
        let cases = [
            (s(30), s(1800), 0, s(30)),
            (s(30), s(1800), 1, s(30)),
            (s(30), s(1800), 2, s(60)),
            (s(30), s(1800), 5, s(480)),
            (s(30), s(1800), 6, s(960)),
            (s(30), s(1800), 7, s(1800)),
            (s(30), s(1800), 64, s(1800)),
            (s(30), s(1800), u32::MAX, s(1800)),
            (s(10), s(25), 2, s(20)),
            (s(10), s(25), 3, s(25)),
            (s(0), s(60), 1, s(1)),
            (s(0), s(60), 3, s(4)),
            (s(120), s(60), 1, s(120)),
            (Duration::MAX, Duration::MAX, 3, Duration::MAX),
        ];
        for (first, max, failures, expected) in cases {
            assert_eq!(backoff(first, max, failures), expected, "{first:?} {max:?} {failures}");
        }
    }

    #[test]
    fn max_attempts_of_zero_behaves_as_one() {
        let policy = Policy { max_attempts: 0, ..one_off() };
        let res = after_run(&policy, &run(1, None), &Outcome::Failed("x".into()), t(5));
        assert_eq!(res.status, Status::Error);
    }

    #[test]
    fn an_idle_recurring_entry_starts_an_idle_streak_at_the_run_start() {
        let res = after_run(&recurring(Some(60 * MIN)), &run(1, None), &Outcome::Idle, t(5));
        assert_eq!(res.status, Status::Ready);
        assert_eq!(res.idle_since, Some(t(0)));
        assert_eq!(res.run_at, Some(t(5 + 30 * 60)));
    }

    #[test]
    fn an_idle_streak_as_long_as_the_inactivity_timeout_puts_the_entry_on_hold() {
        let policy = recurring(Some(60 * MIN));
        let still_short = after_run(&policy, &run(1, Some(t(-3599))), &Outcome::Idle, t(0));
        assert_eq!(still_short.status, Status::Ready);
        let res = after_run(&policy, &run(1, Some(t(-3600))), &Outcome::Idle, t(0));
        assert_eq!(res.status, Status::OnHoldInactivity);
        assert_eq!(res.run_at, Some(t(3600)), "it wakes itself after the timeout at the latest");
        assert_eq!(res.idle_since, Some(t(-3600)));
    }

    #[test]
    fn a_recurring_entry_without_inactivity_timeout_never_goes_on_hold() {
        let res = after_run(&recurring(None), &run(1, Some(t(-1_000_000))), &Outcome::Idle, t(0));
        assert_eq!(res.status, Status::Ready);
    }

    #[test]
    fn a_failure_keeps_the_idle_streak() {
        let res = after_run(
            &recurring(Some(60 * MIN)),
            &run(1, Some(t(-10))),
            &Outcome::Failed("x".into()),
            t(0),
        );
        assert_eq!(res.idle_since, Some(t(-10)));
    }

    #[test]
    fn adding_a_huge_duration_saturates() {
        assert_eq!(add(t(0), Duration::MAX), DateTime::<Utc>::MAX_UTC);
    }
}
