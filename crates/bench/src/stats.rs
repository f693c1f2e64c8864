//! Latency samples and their summary, like the paper's tables.

use std::time::Duration;

use serde::Serialize;

/// Latencies (ms) of successful operations, the count of failures, and the wall time.
#[derive(Debug, Default, Clone)]
pub struct Samples {
    pub latencies_ms: Vec<f64>,
    pub failures: u64,
    pub elapsed: Duration,
}

impl Samples {
    pub fn ok(&mut self, latency: Duration) {
        self.latencies_ms.push(latency.as_secs_f64() * 1000.0);
    }

    pub fn fail(&mut self) {
        self.failures += 1;
    }

    pub fn merge(&mut self, other: Samples) {
        self.latencies_ms.extend(other.latencies_ms);
        self.failures += other.failures;
    }
}

/// One row of a report table.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub label: String,
    pub samples: u64,
    pub failures: u64,
    pub error_pct: f64,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// Successful operations per second of wall time.
    pub throughput_per_s: f64,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    // Nearest-rank percentile.
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1]
}

impl Summary {
    #[allow(clippy::cast_precision_loss)]
    pub fn of(label: &str, samples: &Samples) -> Self {
        let mut sorted = samples.latencies_ms.clone();
        sorted.sort_by(f64::total_cmp);
        let ok = sorted.len() as u64;
        let total = ok + samples.failures;
        let secs = samples.elapsed.as_secs_f64();
        Self {
            label: label.to_owned(),
            samples: total,
            failures: samples.failures,
            error_pct: if total == 0 {
                0.0
            } else {
                samples.failures as f64 * 100.0 / total as f64
            },
            mean_ms: if sorted.is_empty() {
                0.0
            } else {
                sorted.iter().sum::<f64>() / sorted.len() as f64
            },
            p50_ms: percentile(&sorted, 50.0),
            p90_ms: percentile(&sorted, 90.0),
            p95_ms: percentile(&sorted, 95.0),
            p99_ms: percentile(&sorted, 99.0),
            max_ms: sorted.last().copied().unwrap_or(0.0),
            throughput_per_s: if secs > 0.0 { ok as f64 / secs } else { 0.0 },
        }
    }
}

/// The table, aligned for a terminal.
pub fn table(rows: &[Summary]) -> String {
    let mut out = format!(
        "{:<28} {:>8} {:>7} {:>7} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>10}\n",
        "",
        "samples",
        "failed",
        "error%",
        "mean ms",
        "p50 ms",
        "p90 ms",
        "p95 ms",
        "p99 ms",
        "max ms",
        "per s"
    );
    for r in rows {
        out.push_str(&format!(
            "{:<28} {:>8} {:>7} {:>7.2} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>10.1}\n",
            r.label,
            r.samples,
            r.failures,
            r.error_pct,
            r.mean_ms,
            r.p50_ms,
            r.p90_ms,
            r.p95_ms,
            r.p99_ms,
            r.max_ms,
            r.throughput_per_s
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_and_rates_add_up() {
        let mut s = Samples::default();
        for i in 1..=100 {
            s.ok(Duration::from_millis(i));
        }
        s.fail();
        s.elapsed = Duration::from_secs(2);
        let sum = Summary::of("x", &s);
        assert_eq!(sum.samples, 101);
        assert_eq!(sum.p50_ms, 50.0);
        assert_eq!(sum.p99_ms, 99.0);
        assert_eq!(sum.max_ms, 100.0);
        assert!((sum.throughput_per_s - 50.0).abs() < 1e-9);
        assert!((sum.error_pct - 100.0 / 101.0).abs() < 1e-9);
    }
}
