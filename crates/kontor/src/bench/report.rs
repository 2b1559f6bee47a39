//! The benchmark's result: the JSON shape of `kontor bench sync --json`, the table, and the pure
//! helpers behind them (percentiles, rates, ratios).

use std::time::Duration;

use serde::Serialize;

/// One timed run: wall time, rate and peak resident memory.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Run {
    pub seconds: f64,
    pub records_per_second: f64,
    pub peak_rss_bytes: u64,
}

impl Run {
    /// A run that moved `records` rows in `elapsed`, with the given peak RSS.
    pub fn new(records: u64, elapsed: Duration, peak_rss_bytes: u64) -> Run {
        let seconds = elapsed.as_secs_f64();
        Run { seconds, records_per_second: rate(records, seconds), peak_rss_bytes }
    }
}

/// Ratios of wall times.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Ratios {
    /// Time of the per-record run over the time of Kontor's full synchronization (higher is better).
    pub per_record_over_kontor: f64,
    /// Time of Kontor's full synchronization over the raw-copy floor (lower is better, ≥ 1).
    pub kontor_over_raw_copy: f64,
}

impl Ratios {
    pub fn of(kontor: &Run, per_record: &Run, raw_copy: &Run) -> Ratios {
        Ratios {
            per_record_over_kontor: ratio(per_record.seconds, kontor.seconds),
            kontor_over_raw_copy: ratio(kontor.seconds, raw_copy.seconds),
        }
    }
}

/// Incremental synchronization latency: from a write on one side to its appearance on the other.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Latency {
    pub p50: f64,
    pub p99: f64,
}

/// Item availability (the `ProductItemAvailability` web service) under concurrent load.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Availability {
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub requests_per_second: f64,
}

/// The whole report; serialises to exactly the JSON object of the issue (plus
/// `per_record_sampled`, the number of records the per-record run really did).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// Customers generated (`--records`).
    pub records: u64,
    /// (a) Kontor's full synchronization.
    pub kontor: Run,
    /// (b) the same work, one request per record (extrapolated to all records when sampled).
    pub per_record: Run,
    /// (c) the raw-copy floor.
    pub raw_copy: Run,
    pub ratios: Ratios,
    pub incremental_latency_ms: Latency,
    pub item_availability: Availability,
    /// How many records the per-record run synchronized; its time and rate are extrapolated
    /// to all records from them.
    pub per_record_sampled: u64,
    /// Not serialised: how the run was made, for the table.
    #[serde(skip)]
    pub notes: Notes,
}

/// Facts for the table that the JSON shape has no place for.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Notes {
    pub backend: String,
    /// Rows every run writes to Sales (all tables, not only customers).
    pub rows: u64,
    /// Rows by table, as (Financials set → Sales set, count).
    pub tables: Vec<(String, u64)>,
    /// Seconds the per-record sample really took.
    pub per_record_sample_seconds: f64,
    pub incremental_changes: u64,
    pub availability_requests: u64,
    pub availability_concurrency: u64,
    pub seed_seconds: f64,
}

impl Report {
    /// The report as a table for people.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let n = &self.notes;
        out.push_str(&format!(
            "kontor bench sync: {} customers, {} rows to Sales per run ({}), {} backend\n",
            self.records,
            n.rows,
            n.tables.iter().map(|(t, c)| format!("{t} {c}")).collect::<Vec<_>>().join(", "),
            if n.backend.is_empty() { "?" } else { &n.backend },
        ));
        out.push_str(&format!("seeding Financials (not timed): {:.1} s\n\n", n.seed_seconds));
        out.push_str(&format!(
            "{:<34} {:>12} {:>14} {:>14}\n",
            "run", "seconds", "records/s", "peak RSS MiB"
        ));
        let line = |name: &str, r: &Run| {
            format!(
                "{:<34} {:>12.2} {:>14.0} {:>14.1}\n",
                name,
                r.seconds,
                r.records_per_second,
                r.peak_rss_bytes as f64 / (1024.0 * 1024.0)
            )
        };
        out.push_str(&line("(a) Kontor full synchronization", &self.kontor));
        let sampled = self.per_record_sampled < n.rows;
        out.push_str(&line(
            if sampled { "(b) one request per record *" } else { "(b) one request per record" },
            &self.per_record,
        ));
        out.push_str(&line("(c) raw copy between the stores", &self.raw_copy));
        if sampled {
            out.push_str(&format!(
                "  * measured on {} of {} rows ({:.2} s), time extrapolated to all rows at the measured rate\n",
                self.per_record_sampled, n.rows, n.per_record_sample_seconds
            ));
        }
        out.push('\n');
        out.push_str(&format!(
            "(b)/(a) time: {:.1}x    (a)/(c) time: {:.2}x\n",
            self.ratios.per_record_over_kontor, self.ratios.kontor_over_raw_copy
        ));
        out.push_str(&format!(
            "incremental sync latency over {} changes: p50 {:.1} ms, p99 {:.1} ms\n",
            n.incremental_changes, self.incremental_latency_ms.p50, self.incremental_latency_ms.p99
        ));
        out.push_str(&format!(
            "item availability, {} requests by {} tasks: p50 {:.2} ms, p99 {:.2} ms, {:.0} requests/s\n",
            n.availability_requests,
            n.availability_concurrency,
            self.item_availability.p50_ms,
            self.item_availability.p99_ms,
            self.item_availability.requests_per_second
        ));
        out
    }

    /// Prints [`Report::table`] to standard output.
    pub fn print_table(&self) {
        print!("{}", self.table());
    }
}

/// `records / seconds`, 0 for an empty run.
pub fn rate(records: u64, seconds: f64) -> f64 {
    if seconds > 0.0 { records as f64 / seconds } else { 0.0 }
}

/// `a / b`, 0 when `b` is 0.
pub fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 { a / b } else { 0.0 }
}

/// The `p`-th percentile (0–100) of `samples` by the nearest-rank method; 0 for no samples.
/// Sorts `samples`.
pub fn percentile(samples: &mut [f64], p: f64) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    samples.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * samples.len() as f64).ceil() as usize;
    samples[rank.clamp(1, samples.len()) - 1]
}

/// p50 and p99 of durations, in milliseconds.
pub fn latency_ms(samples: &[Duration]) -> Latency {
    let mut ms: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
    Latency { p50: percentile(&mut ms, 50.0), p99: percentile(&mut ms, 99.0) }
}

/// The per-record run, extrapolated: `sample` records took `elapsed`; all `total` records would
/// take `total / sample` times as long at the same rate.
pub fn extrapolate(sample: u64, elapsed: Duration, total: u64, peak_rss_bytes: u64) -> Run {
    let measured = Run::new(sample, elapsed, peak_rss_bytes);
    let seconds = if sample == 0 { 0.0 } else { measured.seconds * total as f64 / sample as f64 };
    Run { seconds, records_per_second: measured.records_per_second, peak_rss_bytes }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Report {
        let kontor = Run::new(275_000, Duration::from_secs(10), 200 << 20);
        let per_record = extrapolate(2_000, Duration::from_secs(4), 275_000, 150 << 20);
        let raw_copy = Run::new(275_000, Duration::from_secs(5), 100 << 20);
        Report {
            records: 100_000,
            kontor,
            per_record,
            raw_copy,
            ratios: Ratios::of(&kontor, &per_record, &raw_copy),
            incremental_latency_ms: Latency { p50: 12.0, p99: 40.0 },
            item_availability: Availability {
                p50_ms: 1.5,
                p99_ms: 4.0,
                requests_per_second: 3000.0,
            },
            per_record_sampled: 2_000,
            notes: Notes {
                backend: "sqlite".into(),
                rows: 275_000,
                tables: vec![("customers → accounts".into(), 100_000)],
                per_record_sample_seconds: 4.0,
                incremental_changes: 1000,
                availability_requests: 8000,
                availability_concurrency: 8,
                seed_seconds: 30.0,
            },
        }
    }

    #[test]
    fn the_json_report_has_exactly_the_promised_members() {
        let json = serde_json::to_value(sample()).unwrap();
        insta::assert_json_snapshot!(json);
    }

    #[test]
    fn the_nearest_rank_percentile_picks_a_sample() {
        let mut v: Vec<f64> = (1..=100).map(f64::from).collect();
        v.reverse();
        assert_eq!(percentile(&mut v, 50.0), 50.0);
        assert_eq!(percentile(&mut v, 99.0), 99.0);
        assert_eq!(percentile(&mut v, 100.0), 100.0);
        assert_eq!(percentile(&mut v, 0.0), 1.0);
        assert_eq!(percentile(&mut [7.0], 99.0), 7.0);
        assert_eq!(percentile(&mut [], 50.0), 0.0);
    }

    #[test]
    fn latencies_are_reported_in_milliseconds() {
        let samples: Vec<Duration> = (1..=1000).map(Duration::from_micros).collect();
        let l = latency_ms(&samples);
        assert_eq!(l.p50, 0.5);
        assert_eq!(l.p99, 0.99);
    }

    #[test]
    fn a_sampled_run_is_extrapolated_at_its_measured_rate() {
        let r = extrapolate(1_000, Duration::from_secs(2), 10_000, 7);
        assert_eq!(r.records_per_second, 500.0);
        assert_eq!(r.seconds, 20.0);
        assert_eq!(r.peak_rss_bytes, 7);
    }

    #[test]
    fn ratios_are_ratios_of_wall_times() {
        let r = sample();
        assert_eq!(r.ratios.kontor_over_raw_copy, 2.0);
        assert_eq!(r.ratios.per_record_over_kontor, 55.0);
        assert_eq!(rate(10, 0.0), 0.0);
    }

    #[test]
    fn the_table_names_every_run_and_says_when_the_per_record_run_was_sampled() {
        insta::assert_snapshot!(sample().table());
    }
}
