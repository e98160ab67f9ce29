//! Throng's server configuration: defaults, an optional TOML file, environment overrides,
//! and validation at start.
//!
//! Layout:
//! - `config` — the [`Config`] tree, its defaults and [`Config::public_url`].
//! - `load` — layering: defaults ← TOML file ← `THRONG_*` environment, through figment.
//! - `env` — the environment layer, built from `(name, value)` pairs so tests never touch
//!   the process environment.
//! - `validate` — range and consistency checks; each error names one field.
//! - `error` — [`ConfigError`], whose `Display` is one line naming the file or field.
//! - `example.toml` — the commented example returned by [`Config::example_toml`].
//!
//! Every setting has a default, so `throng serve` runs with no file and no environment.

mod config;
mod env;
mod error;
mod load;
mod validate;

pub use config::{
    AuthConfig, Config, GatewayConfig, JwtAlgorithm, LimitsConfig, LogConfig, LogFormat,
    RoomsConfig, DEFAULT_PORT,
};
pub use env::{CONFIG_PATH_ENV, ENV_PREFIX};
pub use error::ConfigError;
pub use throng_room::RoomSettings;
pub use validate::{MAX_API_KEY_CHARS, MIN_API_KEY_CHARS, MIN_JWT_SECRET_BYTES};
