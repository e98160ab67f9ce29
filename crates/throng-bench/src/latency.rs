//! Publish-to-receive latency: an HDR histogram in microseconds, merged across workers as
//! (value, count) buckets, summarised in milliseconds for reports.

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// The largest latency recorded exactly; anything longer is recorded as this (one hour).
pub const MAX_TRACKED_US: u64 = 3_600_000_000;

/// Latencies in microseconds, three significant figures.
#[derive(Debug, Clone)]
pub struct LatencyHistogram {
    histogram: Histogram<u64>,
}

/// Percentiles of a histogram, in milliseconds, as reports show them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct LatencySummary {
    pub count: u64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
    pub mean: f64,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        LatencyHistogram::new()
    }
}

impl LatencyHistogram {
    pub fn new() -> LatencyHistogram {
        LatencyHistogram {
            histogram: Histogram::new_with_bounds(1, MAX_TRACKED_US, 3)
                .expect("static histogram bounds are valid"),
        }
    }

    /// Records one latency; values past the bound are clamped rather than dropped, so a
    /// count never goes missing.
    pub fn record_us(&mut self, latency_us: u64) {
        self.histogram
            .saturating_record(latency_us.min(MAX_TRACKED_US));
    }

    /// Records the time from `sent_at_us` to `received_at_us` (both microseconds since the
    /// epoch on the same clock). A receive time before the send time (the clock stepped
    /// back) counts as zero.
    pub fn record_between(&mut self, sent_at_us: u64, received_at_us: u64) {
        self.record_us(received_at_us.saturating_sub(sent_at_us));
    }

    pub fn count(&self) -> u64 {
        self.histogram.len()
    }

    /// Every non-empty bucket as (value, count), to ship a histogram between processes.
    pub fn to_buckets(&self) -> Vec<(u64, u64)> {
        self.histogram
            .iter_recorded()
            .map(|bucket| (bucket.value_iterated_to(), bucket.count_at_value()))
            .collect()
    }

    /// Adds buckets produced by [`LatencyHistogram::to_buckets`].
    pub fn add_buckets(&mut self, buckets: &[(u64, u64)]) {
        for &(value, count) in buckets {
            // Bucket values are at most MAX_TRACKED_US, so this cannot fail; clamp anyway
            // for buckets that came from another build.
            let _ = self
                .histogram
                .record_n(value.clamp(1, MAX_TRACKED_US), count);
        }
    }

    pub fn merge(&mut self, other: &LatencyHistogram) {
        self.add_buckets(&other.to_buckets());
    }

    pub fn summary(&self) -> LatencySummary {
        if self.histogram.is_empty() {
            return LatencySummary::default();
        }
        let ms = |us: u64| us as f64 / 1000.0;
        LatencySummary {
            count: self.histogram.len(),
            p50: ms(self.histogram.value_at_quantile(0.50)),
            p90: ms(self.histogram.value_at_quantile(0.90)),
            p99: ms(self.histogram.value_at_quantile(0.99)),
            p999: ms(self.histogram.value_at_quantile(0.999)),
            max: ms(self.histogram.max()),
            mean: self.histogram.mean() / 1000.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn histogram_of(values_us: &[u64]) -> LatencyHistogram {
        let mut h = LatencyHistogram::new();
        for &v in values_us {
            h.record_us(v);
        }
        h
    }

    /// Checks `got` against `expect` within the histogram's precision (0.1 %).
    fn close(got: f64, expect: f64) -> bool {
        (got - expect).abs() <= expect.abs() * 0.001 + 1e-9
    }

    #[test]
    fn summaries_are_in_milliseconds() {
        // (values in µs, expected p50, p99, max in ms)
        let cases: &[(&[u64], f64, f64, f64)] = &[
            (&[], 0.0, 0.0, 0.0),
            (&[1000], 1.0, 1.0, 1.0),
            (&[1000, 2000, 3000, 4000], 2.0, 4.0, 4.0),
            (&[250_000; 99], 250.0, 250.0, 250.0),
            // Clamped at the bound instead of lost.
            (&[MAX_TRACKED_US * 2], 3_600_000.0, 3_600_000.0, 3_600_000.0),
        ];
        for (values, p50, p99, max) in cases {
            let s = histogram_of(values).summary();
            assert_eq!(s.count, values.len() as u64);
            assert!(close(s.p50, *p50), "p50 {} vs {p50} for {values:?}", s.p50);
            assert!(close(s.p99, *p99), "p99 {} vs {p99} for {values:?}", s.p99);
            assert!(close(s.max, *max), "max {} vs {max} for {values:?}", s.max);
        }
    }

    #[test]
    fn p99_sees_the_slowest_percent() {
        let mut values = vec![1_000u64; 980];
        values.extend(std::iter::repeat_n(500_000u64, 20));
        let s = histogram_of(&values).summary();
        assert!(close(s.p50, 1.0));
        assert!(close(s.p99, 500.0), "{s:?}");
    }

    #[test]
    fn record_between_never_goes_negative() {
        let mut h = LatencyHistogram::new();
        h.record_between(2_000_000, 1_000_000);
        h.record_between(1_000_000, 1_250_000);
        let s = h.summary();
        assert_eq!(s.count, 2);
        assert!(s.p50 <= 0.001, "{s:?}");
        assert!(close(s.max, 250.0), "{s:?}");
    }

    #[test]
    fn buckets_round_trip_and_merge() {
        let a = histogram_of(&[10, 20, 20, 5_000, 70_000]);
        let b = histogram_of(&[20, 1_000_000]);
        let mut merged = LatencyHistogram::new();
        merged.add_buckets(&a.to_buckets());
        merged.merge(&b);
        let direct = histogram_of(&[10, 20, 20, 5_000, 70_000, 20, 1_000_000]);
        assert_eq!(merged.count(), 7);
        assert_eq!(merged.summary(), direct.summary());
        assert_eq!(merged.to_buckets(), direct.to_buckets());
    }
}
