//! Token buckets for upstream rate limits, with time as an argument.
//!
//! Hand-written rather than taken from `governor` because the room logic is sans-IO: the
//! caller passes the time, so tests step it exactly, and the same bucket state can be
//! kept in a backend (in memory now, Redis later) keyed by user or room.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;

/// A token bucket: `rate_per_sec` tokens a second, holding at most `burst`.
/// Amounts are kept in thousandths of a token so refills are exact to the millisecond.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenBucket {
    milli_tokens: u64,
    last_ms: u64,
}

impl TokenBucket {
    /// A full bucket.
    pub fn full(burst: u32, now_ms: u64) -> TokenBucket {
        TokenBucket {
            milli_tokens: u64::from(burst) * 1000,
            last_ms: now_ms,
        }
    }

    fn refill(&mut self, rate_per_sec: u32, burst: u32, now_ms: u64) {
        let elapsed = now_ms.saturating_sub(self.last_ms);
        // rate tokens per 1000 ms = rate milli-tokens per ms.
        let added = elapsed.saturating_mul(u64::from(rate_per_sec));
        self.milli_tokens = (self.milli_tokens.saturating_add(added)).min(u64::from(burst) * 1000);
        self.last_ms = self.last_ms.max(now_ms);
    }

    /// Takes one token if there is one.
    pub fn try_take(&mut self, rate_per_sec: u32, burst: u32, now_ms: u64) -> bool {
        self.refill(rate_per_sec, burst, now_ms);
        if self.milli_tokens >= 1000 {
            self.milli_tokens -= 1000;
            true
        } else {
            false
        }
    }

    /// Whether the bucket has refilled to `burst`, i.e. is indistinguishable from a new one.
    pub fn is_full(&self, rate_per_sec: u32, burst: u32, now_ms: u64) -> bool {
        let mut probe = self.clone();
        probe.refill(rate_per_sec, burst, now_ms);
        probe.milli_tokens >= u64::from(burst) * 1000
    }
}

/// Token buckets by key (user, room), bounded to `max_keys`.
///
/// Policy at the bound: buckets that have refilled completely are forgotten (a new bucket
/// would be identical); if every bucket is still in use the new key is refused, which the
/// caller reports as rate limited. Nothing grows without bound.
#[derive(Debug)]
pub struct KeyedLimiter<K> {
    buckets: HashMap<K, TokenBucket>,
    max_keys: usize,
}

/// Why [`KeyedLimiter::try_take`] said no.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The key's bucket is empty.
    Empty,
    /// Too many keys are being tracked at once.
    TooManyKeys,
}

impl<K: Hash + Eq + Clone> KeyedLimiter<K> {
    pub fn new(max_keys: usize) -> KeyedLimiter<K> {
        KeyedLimiter {
            buckets: HashMap::new(),
            max_keys,
        }
    }

    /// Takes a token from `key`'s bucket. The key is borrowed (a `&str` for `String`
    /// keys), so a lookup of a tracked key allocates nothing.
    pub fn try_take<Q>(
        &mut self,
        key: &Q,
        rate_per_sec: u32,
        burst: u32,
        now_ms: u64,
    ) -> Result<(), Refusal>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        if !self.buckets.contains_key(key) {
            if self.buckets.len() >= self.max_keys {
                self.buckets
                    .retain(|_, b| !b.is_full(rate_per_sec, burst, now_ms));
            }
            if self.buckets.len() >= self.max_keys {
                return Err(Refusal::TooManyKeys);
            }
            self.buckets
                .insert(key.to_owned(), TokenBucket::full(burst, now_ms));
        }
        let bucket = self.buckets.get_mut(key).expect("inserted above");
        if bucket.try_take(rate_per_sec, burst, now_ms) {
            Ok(())
        } else {
            Err(Refusal::Empty)
        }
    }

    pub fn forget(&mut self, key: &K) {
        self.buckets.remove(key);
    }

    pub fn len(&self) -> usize {
        self.buckets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs attempts at the given times against one bucket and returns which succeeded.
    fn run(rate: u32, burst: u32, times: &[u64]) -> String {
        let mut bucket = TokenBucket::full(burst, 0);
        times
            .iter()
            .map(|&t| {
                if bucket.try_take(rate, burst, t) {
                    'y'
                } else {
                    'n'
                }
            })
            .collect()
    }

    #[test]
    fn bucket_cases() {
        let cases: [(u32, u32, &[u64], &str); 6] = [
            (1, 1, &[0, 0, 999, 1000], "ynny"),
            (10, 2, &[0, 0, 0, 99, 100, 100], "yynnyn"),
            (200, 200, &[0; 201], concat!("yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy", "yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy", "n")),
            (1000, 1, &[0, 1, 1, 2], "yyny"),
            // Time going backwards (a caller's clock glitch) never adds tokens.
            (1, 1, &[5000, 0, 4000], "ynn"),
            // A long idle period refills only up to the burst.
            (10, 3, &[0, 0, 0, 0, 100_000, 100_000, 100_000, 100_000], "yyynyyyn"),
        ];
        for (rate, burst, times, expect) in cases {
            assert_eq!(run(rate, burst, times), expect, "rate {rate} burst {burst}");
        }
    }

    #[test]
    fn keyed_limiter_forgets_idle_keys_at_its_bound() {
        let mut limiter = KeyedLimiter::new(2);
        assert_eq!(limiter.try_take(&"a", 1, 1, 0), Ok(()));
        assert_eq!(limiter.try_take(&"b", 1, 1, 0), Ok(()));
        // Both buckets are empty at t=0: a third key cannot be tracked.
        assert_eq!(limiter.try_take(&"c", 1, 1, 0), Err(Refusal::TooManyKeys));
        assert_eq!(limiter.try_take(&"a", 1, 1, 10), Err(Refusal::Empty));
        // At t=1000 both have refilled, so they are forgotten to make room.
        assert_eq!(limiter.try_take(&"c", 1, 1, 1000), Ok(()));
        assert_eq!(limiter.len(), 1);
    }
}
