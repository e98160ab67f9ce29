//! Server API keys, checked in constant time so response timing does not reveal how much of
//! a guessed key was right.

use std::fmt;
use subtle::{Choice, ConstantTimeEq};

/// The keys accepted on the HTTP server API.
#[derive(Clone, Default)]
pub struct ApiKeys {
    keys: Vec<Vec<u8>>,
}

impl ApiKeys {
    /// Empty strings are dropped: they would match an empty `Authorization` value.
    pub fn new(keys: Vec<String>) -> ApiKeys {
        ApiKeys {
            keys: keys
                .into_iter()
                .filter(|key| !key.is_empty())
                .map(String::into_bytes)
                .collect(),
        }
    }

    /// Whether `presented` is one of the keys. Every key is compared, each in constant time
    /// for its length, whether or not an earlier one matched.
    pub fn check(&self, presented: &str) -> bool {
        if presented.is_empty() {
            return false;
        }
        let mut matched = Choice::from(0);
        for key in &self.keys {
            matched |= key.as_slice().ct_eq(presented.as_bytes());
        }
        matched.into()
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// Written by hand so that the keys never reach a log.
impl fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKeys(<{} redacted>)", self.keys.len())
    }
}
