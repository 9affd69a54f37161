//! Figures a benchmark run prints: throughput and batch latency percentiles.

use std::fmt;
use std::time::Duration;

use crate::util::human_duration;

/// What one run measured.
#[derive(Debug, Clone)]
pub struct RunStats {
    pub reports: usize,
    /// Wall time from the first request sent to the last response read.
    pub wall: Duration,
    /// Latency of every batch, sorted ascending.
    pub latencies: Vec<Duration>,
}

impl RunStats {
    pub fn new(reports: usize, wall: Duration, mut latencies: Vec<Duration>) -> Self {
        latencies.sort_unstable();
        Self {
            reports,
            wall,
            latencies,
        }
    }

    pub fn reports_per_sec(&self) -> f64 {
        self.reports as f64 / self.wall.as_secs_f64().max(f64::EPSILON)
    }

    pub fn p50(&self) -> Duration {
        percentile(&self.latencies, 0.50)
    }

    pub fn p99(&self) -> Duration {
        percentile(&self.latencies, 0.99)
    }
}

impl fmt::Display for RunStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} reports in {} = {:.0} reports/s; batch latency p50 {}, p99 {} ({} batches)",
            self.reports,
            human_duration(self.wall),
            self.reports_per_sec(),
            millis(self.p50()),
            millis(self.p99()),
            self.latencies.len()
        )
    }
}

/// Nearest-rank percentile of sorted values (`q` in `0..=1`); zero when there are none.
pub fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The median of some numbers (mean of the middle two for an even count).
pub fn median(values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}

/// The line printed after several runs: the median of each figure across them.
pub fn summary(runs: &[RunStats]) -> String {
    let mut rates: Vec<f64> = runs.iter().map(RunStats::reports_per_sec).collect();
    let mut p50s: Vec<f64> = runs.iter().map(|r| r.p50().as_secs_f64()).collect();
    let mut p99s: Vec<f64> = runs.iter().map(|r| r.p99().as_secs_f64()).collect();
    format!(
        "median of {} runs: {:.0} reports/s; batch latency p50 {}, p99 {}",
        runs.len(),
        median(&mut rates),
        millis(Duration::from_secs_f64(median(&mut p50s))),
        millis(Duration::from_secs_f64(median(&mut p99s)))
    )
}

fn millis(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(values: &[u64]) -> Vec<Duration> {
        values.iter().map(|&v| Duration::from_millis(v)).collect()
    }

    #[test]
    fn nearest_rank_percentiles() {
        let sorted = ms(&(1..=100).collect::<Vec<_>>());
        assert_eq!(percentile(&sorted, 0.50), Duration::from_millis(50));
        assert_eq!(percentile(&sorted, 0.99), Duration::from_millis(99));
        assert_eq!(percentile(&ms(&[7]), 0.99), Duration::from_millis(7));
        assert_eq!(percentile(&[], 0.5), Duration::ZERO);
    }

    #[test]
    fn medians_of_odd_and_even_counts() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), 2.5);
    }

    #[test]
    fn throughput_and_display() {
        let run = RunStats::new(1_000, Duration::from_secs(2), ms(&[30, 10, 20]));
        assert_eq!(run.reports_per_sec(), 500.0);
        assert_eq!(run.p50(), Duration::from_millis(20));
        assert_eq!(
            run.to_string(),
            "1000 reports in 2.0 s = 500 reports/s; batch latency p50 20.0 ms, p99 30.0 ms (3 batches)"
        );
        assert!(summary(&[run]).starts_with("median of 1 runs: 500 reports/s"));
    }
}
