//! Range and consistency checks, run once at start. The first bad setting is reported with
//! its dotted path; ranges are wide enough for any real deployment and exist so that no
//! setting can make a buffer unbounded or a timer useless.

use crate::config::{Config, JwtAlgorithm};
use crate::error::ConfigError;

/// HS256 secrets shorter than this are refused: the HMAC key should be as long as the hash.
pub const MIN_JWT_SECRET_BYTES: usize = 32;
/// API keys shorter than this are refused as guessable.
pub const MIN_API_KEY_CHARS: usize = 16;
/// API keys travel in an HTTP header; this bounds what the server compares against.
pub const MAX_API_KEY_CHARS: usize = 256;

const LOG_LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];

fn check_range(field: &str, value: u32, min: u32, max: u32) -> Result<(), ConfigError> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(ConfigError::invalid(
            field,
            format!("must be between {min} and {max}, got {value}"),
        ))
    }
}

fn check_not_blank(field: &str, value: &Option<String>) -> Result<(), ConfigError> {
    match value {
        Some(text) if text.trim().is_empty() => Err(ConfigError::invalid(
            field,
            "must not be empty (leave it out instead)",
        )),
        _ => Ok(()),
    }
}

impl Config {
    /// Checks every setting; the error names the first bad one.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.validate_top_level()?;
        self.validate_auth()?;
        self.validate_limits()?;
        self.validate_rooms()?;
        self.validate_gateway()?;
        self.validate_log()
    }

    fn validate_top_level(&self) -> Result<(), ConfigError> {
        if self.data_dir.as_os_str().is_empty() {
            return Err(ConfigError::invalid("data_dir", "must not be empty"));
        }
        check_not_blank("public_url", &self.public_url)?;
        if let Some(url) = &self.public_url {
            let rest = url
                .strip_prefix("http://")
                .or_else(|| url.strip_prefix("https://"));
            if rest.is_none_or(|host| host.is_empty() || host.starts_with('/')) {
                return Err(ConfigError::invalid(
                    "public_url",
                    format!("must start with http:// or https:// followed by a host, got {url:?}"),
                ));
            }
        }
        Ok(())
    }

    fn validate_auth(&self) -> Result<(), ConfigError> {
        let auth = &self.auth;
        match auth.jwt_algorithm {
            JwtAlgorithm::Hs256 => {
                if auth.jwt_public_key_file.is_some() {
                    return Err(ConfigError::invalid(
                        "auth.jwt_public_key_file",
                        "is only used with RS256 or ES256, but auth.jwt_algorithm is HS256",
                    ));
                }
                match &auth.jwt_secret {
                    Some(secret) if secret.len() < MIN_JWT_SECRET_BYTES => {
                        return Err(ConfigError::invalid(
                            "auth.jwt_secret",
                            format!(
                                "must be at least {MIN_JWT_SECRET_BYTES} bytes, got {}",
                                secret.len()
                            ),
                        ));
                    }
                    None if !auth.dev_credentials => {
                        return Err(ConfigError::invalid(
                            "auth.jwt_secret",
                            "is required for HS256 when auth.dev_credentials is false",
                        ));
                    }
                    _ => {}
                }
            }
            algorithm @ (JwtAlgorithm::Rs256 | JwtAlgorithm::Es256) => {
                if auth.jwt_public_key_file.is_none() {
                    return Err(ConfigError::invalid(
                        "auth.jwt_public_key_file",
                        format!(
                            "is required when auth.jwt_algorithm is {algorithm} (a PEM public key)"
                        ),
                    ));
                }
                if auth.jwt_secret.is_some() {
                    return Err(ConfigError::invalid(
                        "auth.jwt_secret",
                        format!("is only used with HS256, but auth.jwt_algorithm is {algorithm}"),
                    ));
                }
            }
        }
        if auth
            .jwt_public_key_file
            .as_ref()
            .is_some_and(|path| path.as_os_str().is_empty())
        {
            return Err(ConfigError::invalid(
                "auth.jwt_public_key_file",
                "must not be empty (leave it out instead)",
            ));
        }
        check_not_blank("auth.jwt_issuer", &auth.jwt_issuer)?;
        check_not_blank("auth.jwt_audience", &auth.jwt_audience)?;
        check_range("auth.leeway_s", auth.leeway_s, 0, 300)?;
        for (index, key) in auth.api_keys.iter().enumerate() {
            let field = format!("auth.api_keys[{index}]");
            // The key itself is never echoed: error messages end up in logs.
            let chars = key.chars().count();
            if !(MIN_API_KEY_CHARS..=MAX_API_KEY_CHARS).contains(&chars) {
                return Err(ConfigError::invalid(
                    field,
                    format!(
                        "must be between {MIN_API_KEY_CHARS} and {MAX_API_KEY_CHARS} characters, got {chars}"
                    ),
                ));
            }
            if !key.chars().all(|c| c.is_ascii_graphic()) {
                return Err(ConfigError::invalid(
                    field,
                    "must be printable ASCII without spaces (it is sent in an HTTP header)",
                ));
            }
        }
        if auth.api_keys.is_empty() && !auth.dev_credentials {
            return Err(ConfigError::invalid(
                "auth.api_keys",
                "must list at least one key when auth.dev_credentials is false",
            ));
        }
        Ok(())
    }

    fn validate_limits(&self) -> Result<(), ConfigError> {
        let limits = &self.limits;
        check_range(
            "limits.max_connections",
            limits.max_connections,
            1,
            10_000_000,
        )?;
        check_range(
            "limits.max_frame_bytes",
            limits.max_frame_bytes,
            1_024,
            16_777_216,
        )?;
        check_range(
            "limits.max_message_bytes",
            limits.max_message_bytes,
            16,
            16_777_216,
        )?;
        if limits.max_message_bytes > limits.max_frame_bytes {
            return Err(ConfigError::invalid(
                "limits.max_message_bytes",
                format!(
                    "must not exceed limits.max_frame_bytes ({}), got {}",
                    limits.max_frame_bytes, limits.max_message_bytes
                ),
            ));
        }
        check_range(
            "limits.max_rooms_per_connection",
            limits.max_rooms_per_connection,
            1,
            10_000,
        )?;
        check_range(
            "limits.user_rate_per_sec",
            limits.user_rate_per_sec,
            1,
            100_000,
        )?;
        check_range("limits.user_burst", limits.user_burst, 1, 1_000_000)?;
        check_range(
            "limits.max_moderation_entries",
            limits.max_moderation_entries,
            1,
            100_000_000,
        )
    }

    fn validate_rooms(&self) -> Result<(), ConfigError> {
        check_range("rooms.max_rooms", self.rooms.max_rooms, 1, 100_000_000)?;
        self.rooms.defaults.validate().map_err(|error| {
            ConfigError::invalid(
                format!("rooms.defaults.{}", error.field),
                format!(
                    "must be between {} and {}, got {}",
                    error.min, error.max, error.value
                ),
            )
        })
    }

    fn validate_gateway(&self) -> Result<(), ConfigError> {
        let gateway = &self.gateway;
        check_range("gateway.heartbeat_ms", gateway.heartbeat_ms, 1_000, 300_000)?;
        check_range(
            "gateway.drain_deadline_ms",
            gateway.drain_deadline_ms,
            0,
            600_000,
        )?;
        check_range(
            "gateway.ws_read_buffer_bytes",
            gateway.ws_read_buffer_bytes,
            256,
            16_777_216,
        )?;
        check_range(
            "gateway.ws_write_buffer_bytes",
            gateway.ws_write_buffer_bytes,
            0,
            16_777_216,
        )?;
        check_range("gateway.outbound_queue", gateway.outbound_queue, 1, 65_536)?;
        if gateway.socket_send_buffer_bytes != 0 {
            check_range(
                "gateway.socket_send_buffer_bytes",
                gateway.socket_send_buffer_bytes,
                4_096,
                67_108_864,
            )?;
        }
        Ok(())
    }

    /// A light syntax check of the `EnvFilter` directive. It also refuses a bare word that
    /// is not a level: `EnvFilter` would read `debg` as a target name and log almost nothing.
    fn validate_log(&self) -> Result<(), ConfigError> {
        let level = self.log.level.trim();
        if level.is_empty() {
            return Err(ConfigError::invalid(
                "log.level",
                "must not be empty (e.g. \"info\" or \"info,throng_server=debug\")",
            ));
        }
        for directive in level.split(',').map(str::trim) {
            let level_part = match directive.rsplit_once('=') {
                Some((target, level_part)) if !target.trim().is_empty() => level_part,
                Some(_) => {
                    return Err(ConfigError::invalid(
                        "log.level",
                        format!("directive {directive:?} has no target before '='"),
                    ));
                }
                // A bare directive is a target name unless it is a level; a target-only
                // directive must be written with brackets or a path to be taken as one.
                None if directive.contains("::") || directive.contains('[') => continue,
                None => directive,
            };
            if !LOG_LEVELS
                .iter()
                .any(|known| known.eq_ignore_ascii_case(level_part.trim()))
            {
                return Err(ConfigError::invalid(
                    "log.level",
                    format!(
                        "has {level_part:?} where a level belongs; use one of {} (or target=level)",
                        LOG_LEVELS.join(", ")
                    ),
                ));
            }
        }
        Ok(())
    }
}
