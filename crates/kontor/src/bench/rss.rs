//! Peak resident memory of this process, per run (Linux).
//!
//! Writing `5` to `/proc/self/clear_refs` resets the kernel's peak RSS mark (`VmHWM`) to the
//! current RSS; reading `VmHWM` from `/proc/self/status` after a run gives that run's peak. The
//! figure is the whole process (servers, engine, database caches of SQLite), which is what a user
//! sees, not an allocation count. Elsewhere than Linux both calls answer 0.

/// Resets the peak RSS mark to the current RSS. Returns whether the kernel accepted it.
pub fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// The peak RSS since the last [`reset_peak`] (or the process start), in bytes.
pub fn peak_bytes() -> u64 {
    status_kib("VmHWM:").map_or(0, |k| k * 1024)
}

/// The current RSS in bytes.
pub fn current_bytes() -> u64 {
    status_kib("VmRSS:").map_or(0, |k| k * 1024)
}

/// CPU time this process has used so far (all threads, user + system), from
/// `/proc/self/stat` (clock ticks of 1/100 s, Linux's `USER_HZ`).
pub fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else { return 0.0 };
    parse_cpu_ticks(&stat).map_or(0.0, |t| t as f64 / 100.0)
}

/// `utime + stime` (fields 14 and 15) of a `/proc/<pid>/stat` line; the command name in
/// parentheses may hold spaces, so fields are counted after its closing parenthesis.
fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state is field 3, so utime (14) and stime (15) are at 11 and 12.
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

fn status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    parse_kib(&status, field)
}

/// Reads `<field>   123 kB` from a `/proc/<pid>/status` text.
fn parse_kib(status: &str, field: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_peak_is_read_from_the_status_text_in_kib() {
        let status = "Name:\tkontor\nVmPeak:\t  999 kB\nVmHWM:\t   20480 kB\nVmRSS:\t 10240 kB\n";
        assert_eq!(parse_kib(status, "VmHWM:"), Some(20480));
        assert_eq!(parse_kib(status, "VmRSS:"), Some(10240));
        assert_eq!(parse_kib(status, "VmSwap:"), None);
    }

    #[test]
    fn cpu_ticks_are_user_plus_system_time_counted_after_the_command_name() {
        let stat = "4242 (kontor (x) y) S 1 2 3 4 5 6 7 8 9 10 150 25 0 0 20 0 8";
        assert_eq!(parse_cpu_ticks(stat), Some(175));
        assert_eq!(parse_cpu_ticks("4242 (kontor) S 1"), None);
    }

    #[test]
    fn after_a_reset_the_peak_follows_the_current_memory() {
        if !reset_peak() {
            return; // not Linux, or /proc is read-only here: nothing to check
        }
        let before = peak_bytes();
        assert!(before > 0);
        let big = vec![1u8; 64 << 20];
        std::hint::black_box(&big);
        let high = peak_bytes();
        assert!(high >= before + (60 << 20), "64 MiB touched raises the peak");
        drop(big);
        // The allocator may keep the freed pages resident; either way the reset brings the peak
        // down to what is resident now.
        assert!(reset_peak());
        let (peak, current) = (peak_bytes(), current_bytes());
        assert!(current > 0);
        assert!(peak <= current + (8 << 20), "the reset forgets the old peak: {peak} vs {current}");
        if current + (32 << 20) < high {
            assert!(peak < high, "the freed 64 MiB left the peak: {peak} vs {high}");
        }
    }
}
