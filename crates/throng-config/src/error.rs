//! Configuration errors. Each `Display`s as one line that names the file or the field, so
//! `throng serve` can print it and exit.

use std::path::PathBuf;

/// Why a configuration could not be loaded or is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The config file could not be read or is not valid TOML for a [`crate::Config`];
    /// `message` starts with the line and column when the parser knows them.
    #[error("config file {}: {message}", path.display())]
    File { path: PathBuf, message: String },
    /// A setting has a bad value or cannot be combined with another; `field` is its dotted
    /// path (`limits.max_frame_bytes`, `auth.api_keys[1]`).
    #[error("config: {field} {message}")]
    Invalid { field: String, message: String },
}

impl ConfigError {
    pub(crate) fn invalid(field: impl Into<String>, message: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The dotted path of the offending setting, when the error is about one.
    pub fn field(&self) -> Option<&str> {
        match self {
            ConfigError::Invalid { field, .. } => Some(field),
            ConfigError::File { .. } => None,
        }
    }
}
