//! Layering: defaults ← TOML file ← environment, then validation.
//!
//! The file is first parsed strictly on its own with `toml`, which knows line and column
//! numbers, so a typo or a wrong type in the file is reported as `file: line N, column M:
//! …`. Once the file is known good, figment merges it with the environment layers and the
//! result is extracted leniently (environment values are text; see `env`). Defaults come
//! from `#[serde(default)]` on every struct, so an absent layer costs nothing.

use crate::config::Config;
use crate::env::env_layers;
use crate::error::ConfigError;
use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider};
use std::path::{Path, PathBuf};

impl Config {
    /// Loads defaults ← `file` (when given) ← the process environment (`THRONG_` prefix,
    /// `__` between nesting levels), then validates.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        let process_env = std::env::vars_os().map(|(name, value)| {
            (
                name.to_string_lossy().into_owned(),
                value.to_string_lossy().into_owned(),
            )
        });
        Config::load_from_env_and(file, process_env)
    }

    /// [`Config::load`] with the environment given as `(name, value)` pairs instead of
    /// read from the process, e.g. `("THRONG_LISTEN", "127.0.0.1:9000")`,
    /// `("THRONG_ROOMS__DEFAULTS__RATE_PER_SEC", "50")`, `("THRONG_AUTH__API_KEYS",
    /// r#"["a","b"]"#)`. Names without the `THRONG_` prefix are ignored.
    pub fn load_from_env_and(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let mut figment = Figment::new();
        if let Some(path) = file {
            figment = figment.merge(FileLayer::read(path)?);
        }
        for layer in env_layers(env)? {
            figment = figment.merge(layer);
        }
        let config: Config = figment.extract_lossy().map_err(error_from_figment)?;
        config.validate()?;
        Ok(config)
    }
}

/// A config file that parsed as a [`Config`] on its own, as a figment provider.
struct FileLayer {
    path: PathBuf,
    table: Dict,
}

impl FileLayer {
    fn read(path: &Path) -> Result<FileLayer, ConfigError> {
        let file_error = |message: String| ConfigError::File {
            path: path.to_owned(),
            message,
        };
        let text = std::fs::read_to_string(path)
            .map_err(|error| file_error(format!("cannot be read: {error}")))?;
        toml::from_str::<Config>(&text)
            .map_err(|error| file_error(located_message(&text, &error)))?;
        let table: toml::Table =
            toml::from_str(&text).map_err(|error| file_error(located_message(&text, &error)))?;
        let table = Value::serialize(&table)
            .ok()
            .and_then(Value::into_dict)
            .ok_or_else(|| file_error("cannot be read as a table of settings".to_owned()))?;
        Ok(FileLayer {
            path: path.to_owned(),
            table,
        })
    }
}

impl Provider for FileLayer {
    fn metadata(&self) -> Metadata {
        Metadata::named(format!("config file {}", self.path.display()))
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Ok(Profile::Default.collect(self.table.clone()))
    }
}

/// `toml`'s message on one line, preceded by the line and column it points at and, when
/// that line sets a key, the key's dotted path. The value is never echoed: it may be a
/// secret.
fn located_message(text: &str, error: &toml::de::Error) -> String {
    let message = error.message().trim().replace('\n', " ");
    let Some(span) = error.span() else {
        return message;
    };
    let before = &text[..span.start.min(text.len())];
    let line_number = before.matches('\n').count() + 1;
    let column = before
        .rsplit('\n')
        .next()
        .map_or(0, |line_start| line_start.chars().count())
        + 1;
    match key_path_on_line(text, line_number) {
        Some(key) => format!("line {line_number}, column {column} ({key}): {message}"),
        None => format!("line {line_number}, column {column}: {message}"),
    }
}

/// The dotted path a `key = value` line sets, under the nearest `[table]` header above it.
fn key_path_on_line(text: &str, line_number: usize) -> Option<String> {
    let lines: Vec<&str> = text.lines().collect();
    let line = lines.get(line_number - 1)?.trim();
    let key = line.split_once('=')?.0.trim();
    let is_plain_key = |key: &str| {
        !key.is_empty()
            && key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    };
    if !is_plain_key(key) {
        return None;
    }
    let table = lines[..line_number - 1]
        .iter()
        .rev()
        .map(|line| line.trim())
        .find(|line| line.starts_with('['))
        .map(|header| header.trim_matches(|c| c == '[' || c == ']').trim());
    match table {
        Some(table) if is_plain_key(table) => Some(format!("{table}.{key}")),
        Some(_) => None,
        None => Some(key.to_owned()),
    }
}

/// figment's first error as one line naming the field and the layer that set it.
fn error_from_figment(error: figment::Error) -> ConfigError {
    use figment::error::{Kind, OneOf};

    let source = error
        .metadata
        .as_ref()
        .map(|metadata| format!(" (set by {})", metadata.name))
        .unwrap_or_default();
    let field = if error.path.is_empty() {
        "(top level)".to_owned()
    } else {
        error.path.join(".")
    };
    let message = match &error.kind {
        Kind::UnknownField(_, expected) => {
            format!("is not a known setting; expected {}", OneOf(expected))
        }
        // Secrets are not echoed: error messages end up in logs.
        Kind::InvalidType(_, expected) | Kind::InvalidValue(_, expected)
            if holds_secret(&field) =>
        {
            format!("must be {}", plain_type_name(expected))
        }
        Kind::InvalidType(found, expected) | Kind::InvalidValue(found, expected) => {
            format!("must be {}, found {found}", plain_type_name(expected))
        }
        Kind::UnknownVariant(found, expected) => {
            format!("must be {}, found `{found}`", OneOf(expected))
        }
        Kind::Message(text) => format!("is invalid: {text}"),
        other => other.to_string(),
    };
    ConfigError::invalid(field, format!("{message}{source}"))
}

fn holds_secret(field: &str) -> bool {
    field.starts_with("auth.jwt_secret") || field.starts_with("auth.api_keys")
}

/// serde names integer types the Rust way; say what they mean in a config.
fn plain_type_name(expected: &str) -> String {
    match expected {
        "u32" => format!("a whole number from 0 to {}", u32::MAX),
        "a sequence" => r#"a list, written ["first","second"]"#.to_owned(),
        other => other.to_owned(),
    }
}
