//! A small fixed histogram of durations, stored per day in the rollups so that p50/p95 over any
//! range of days is computable from the rollups alone (histograms add bucket by bucket).
//!
//! Buckets: bucket 0 holds `[0, 100 ms)`; bucket `i ≥ 1` holds `[100·2^((i-1)/4), 100·2^(i/4))`
//! ms, so each bucket spans a factor of 2^(1/4) ≈ 1.189. The last bucket (`BUCKETS - 1`,
//! from about 38 days) is open-ended. A percentile is read as the geometric middle of its
//! bucket, so its **relative error is at most 2^(1/8) − 1 ≈ 9.05 %** (bucket 0: read as 50 ms,
//! an absolute error under 50 ms); values in the open last bucket read as its lower bound.

use serde::{Deserialize, Serialize};

/// How many buckets (0..BUCKETS).
pub const BUCKETS: usize = 90;
/// The lower bound of bucket 1, in ms.
pub const FIRST_MS: f64 = 100.0;
/// Each bucket spans this factor.
pub const RATIO: f64 = 1.189_207_115_002_721; // 2^(1/4)
/// The worst relative error of a percentile read from the buckets (2^(1/8) − 1).
pub const MAX_RELATIVE_ERROR: f64 = 0.090_507_732_665_257_66;

/// Counts per bucket (a fixed array: adding two is `BUCKETS` additions). Stored sparse, as a
/// JSON object of the non-zero buckets (`{"12": 3}`), which is how the rollups keep it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Histogram(pub [u64; BUCKETS]);

impl Default for Histogram {
    fn default() -> Self {
        Self([0; BUCKETS])
    }
}

impl Serialize for Histogram {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(None)?;
        for (i, n) in self.0.iter().enumerate().filter(|(_, n)| **n > 0) {
            m.serialize_entry(&i, n)?;
        }
        m.end()
    }
}

impl<'de> Deserialize<'de> for Histogram {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Sparse;
        impl<'de> serde::de::Visitor<'de> for Sparse {
            type Value = Histogram;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object of bucket index to count")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut m: A,
            ) -> Result<Histogram, A::Error> {
                let mut h = Histogram::default();
                while let Some((i, n)) = m.next_entry::<u16, u64>()? {
                    let slot = h.0.get_mut(usize::from(i)).ok_or_else(|| {
                        serde::de::Error::custom(format!("bucket {i} out of range"))
                    })?;
                    *slot = n;
                }
                Ok(h)
            }
        }
        d.deserialize_map(Sparse)
    }
}

/// The bucket of a duration in ms (negative counts as 0).
pub fn bucket_of(ms: i64) -> u16 {
    if ms < FIRST_MS as i64 {
        return 0;
    }
    let i = ((ms as f64 / FIRST_MS).ln() / RATIO.ln()).floor() as i64 + 1;
    // Float rounding at an exact bound: move to the bucket whose range holds `ms`.
    let mut i = i.clamp(1, BUCKETS as i64 - 1);
    while i > 1 && (ms as f64) < lower_bound(i as u16) {
        i -= 1;
    }
    while i < BUCKETS as i64 - 1 && (ms as f64) >= lower_bound(i as u16 + 1) {
        i += 1;
    }
    i as u16
}

/// The lowest value of bucket `i`, in ms.
pub fn lower_bound(i: u16) -> f64 {
    if i == 0 {
        0.0
    } else {
        FIRST_MS * RATIO.powi(i32::from(i) - 1)
    }
}

/// The value a percentile in bucket `i` reads as, in ms.
pub fn representative(i: u16) -> f64 {
    match i {
        0 => FIRST_MS / 2.0,
        i if usize::from(i) == BUCKETS - 1 => lower_bound(i),
        i => lower_bound(i) * RATIO.sqrt(),
    }
}

impl Histogram {
    pub fn add(&mut self, ms: i64) {
        self.0[usize::from(bucket_of(ms))] += 1;
    }

    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.0.iter_mut().zip(other.0.iter()) {
            *a += b;
        }
    }

    pub fn count(&self) -> u64 {
        self.0.iter().sum()
    }

    /// The `q`-quantile (0 < q ≤ 1) in ms: the representative of the bucket holding the
    /// ⌈q·n⌉-th smallest value (nearest rank). `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let n = self.count();
        if n == 0 {
            return None;
        }
        let rank = ((q * n as f64).ceil() as u64).clamp(1, n);
        let mut seen = 0;
        for (b, c) in self.0.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return u16::try_from(b).ok().map(representative);
            }
        }
        None
    }
}

/// The exact nearest-rank quantile of raw values (what the histogram approximates; tests
/// compare the two).
pub fn exact_quantile(values: &[i64], q: f64) -> Option<i64> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_unstable();
    let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
    Some(v[rank - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_hold_their_bounds() {
        assert_eq!(bucket_of(-5), 0);
        assert_eq!(bucket_of(99), 0);
        assert_eq!(bucket_of(100), 1);
        assert_eq!(bucket_of(118), 1);
        assert_eq!(bucket_of(119), 2);
        assert_eq!(bucket_of(200), 5);
        assert_eq!(bucket_of(i64::MAX), (BUCKETS - 1) as u16);
        for ms in [150, 1_000, 61_000, 3_600_000, 86_400_000] {
            let b = bucket_of(ms);
            assert!(lower_bound(b) <= ms as f64 && (ms as f64) < lower_bound(b + 1));
        }
    }

    #[test]
    fn quantiles_are_within_the_documented_error() {
        let values: Vec<i64> = (1..=1000).map(|i| i * 937 % 7_200_000 + 150).collect();
        let mut h = Histogram::default();
        values.iter().for_each(|v| h.add(*v));
        for q in [0.5, 0.95, 0.99] {
            let exact = exact_quantile(&values, q).unwrap() as f64;
            let est = h.quantile(q).unwrap();
            assert!(
                (est - exact).abs() / exact <= MAX_RELATIVE_ERROR + 1e-9,
                "q {q}: {est} vs {exact}"
            );
        }
        assert!((RATIO.sqrt() - 1.0 - MAX_RELATIVE_ERROR).abs() < 1e-12);
    }

    #[test]
    fn merged_days_equal_one_histogram() {
        let (mut a, mut b, mut all) = (
            Histogram::default(),
            Histogram::default(),
            Histogram::default(),
        );
        for v in [300, 5_000, 70_000] {
            a.add(v);
            all.add(v);
        }
        for v in [10, 5_100, 9_999_999] {
            b.add(v);
            all.add(v);
        }
        a.merge(&b);
        assert_eq!(a, all);
        assert_eq!(serde_json::to_string(&Histogram::default()).unwrap(), "{}");
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(serde_json::from_str::<Histogram>(&json).unwrap(), a);
        assert!(serde_json::from_str::<Histogram>("{\"90\": 1}").is_err());
    }
}
