//! The environment layer: `THRONG_LIMITS__MAX_CONNECTIONS=5000` sets `limits.max_connections`.
//!
//! figment's own `Env` provider reads the process environment and has no way to be handed
//! other pairs, so this layer is built from `(name, value)` pairs instead: `Config::load`
//! passes the real environment, tests pass a list, and no test touches global state.
//!
//! Each variable becomes its own figment provider, so an error names the variable that set
//! the bad value. Values stay text (a secret of digits must not turn into a number); the
//! loader extracts with figment's lossy interpretation, which reads numbers and booleans
//! out of text where the field wants one. A value that starts with `[` or `{` is read as a
//! list or table in figment's syntax (`["a","b"]`, `{rate_per_sec=50}`), its leaves again
//! kept as text.

use crate::error::ConfigError;
use figment::error::Actual;
use figment::value::{Dict, Map, Num, Value};
use figment::{Metadata, Profile, Provider};

/// Variables whose name starts with this (in any case) are configuration.
pub const ENV_PREFIX: &str = "THRONG_";

/// Reserved for the command line's `--config` path, so the loader skips it rather than
/// refusing it as an unknown setting.
pub const CONFIG_PATH_ENV: &str = "THRONG_CONFIG";

/// Separates nesting levels in a variable name: `THRONG_ROOMS__DEFAULTS__RATE_PER_SEC`.
const NESTING_SEPARATOR: &str = "__";

/// One configuration variable, as a figment provider.
pub(crate) struct EnvVarLayer {
    name: String,
    path: Vec<String>,
    value: Value,
}

/// Picks the configuration variables out of `pairs`, in name order so that a variable that
/// sets a whole table (`THRONG_LIMITS={...}`) comes before, and is refined by, the ones
/// that set a field inside it.
pub(crate) fn env_layers(
    pairs: impl IntoIterator<Item = (String, String)>,
) -> Result<Vec<EnvVarLayer>, ConfigError> {
    let mut layers = Vec::new();
    for (raw_name, raw_value) in pairs {
        let name = raw_name.trim().to_ascii_uppercase();
        let Some(rest) = name.strip_prefix(ENV_PREFIX) else {
            continue;
        };
        if name == CONFIG_PATH_ENV {
            continue;
        }
        let path: Vec<String> = rest
            .split(NESTING_SEPARATOR)
            .map(|segment| segment.to_ascii_lowercase())
            .collect();
        if path.iter().any(|segment| segment.is_empty()) {
            return Err(ConfigError::invalid(
                format!("environment variable {name}"),
                format!(
                    "is not a setting name: after {ENV_PREFIX}, write the setting's path with \
                     {NESTING_SEPARATOR} between levels, e.g. THRONG_LIMITS__MAX_CONNECTIONS"
                ),
            ));
        }
        layers.push(EnvVarLayer {
            name,
            path,
            value: parse_value(&raw_value),
        });
    }
    layers.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(layers)
}

fn parse_value(raw: &str) -> Value {
    let trimmed = raw.trim();
    if trimmed.starts_with('[') || trimmed.starts_with('{') {
        // figment falls back to the whole text as a string when it cannot parse it.
        let parsed: Value = trimmed.parse().unwrap_or_else(|never| match never {});
        leaves_as_text(parsed)
    } else {
        Value::from(trimmed.to_owned())
    }
}

fn leaves_as_text(value: Value) -> Value {
    match value {
        Value::Num(_, number) => Value::from(number_text(number)),
        Value::Bool(_, flag) => Value::from(flag.to_string()),
        Value::Char(_, character) => Value::from(character.to_string()),
        Value::Array(_, items) => {
            Value::from(items.into_iter().map(leaves_as_text).collect::<Vec<_>>())
        }
        Value::Dict(_, dict) => Value::from(
            dict.into_iter()
                .map(|(key, item)| (key, leaves_as_text(item)))
                .collect::<Dict>(),
        ),
        other => other,
    }
}

fn number_text(number: Num) -> String {
    match number.to_actual() {
        Actual::Unsigned(n) => n.to_string(),
        Actual::Signed(n) => n.to_string(),
        Actual::Float(n) => n.to_string(),
        other => other.to_string(),
    }
}

impl Provider for EnvVarLayer {
    fn metadata(&self) -> Metadata {
        Metadata::named(format!("environment variable {}", self.name))
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        let mut nested = self.value.clone();
        for segment in self.path.iter().rev() {
            let mut dict = Dict::new();
            dict.insert(segment.clone(), nested);
            nested = Value::from(dict);
        }
        let dict = nested
            .into_dict()
            .expect("env_layers refuses an empty path, so the value is nested in a table");
        Ok(Profile::Default.collect(dict))
    }
}
