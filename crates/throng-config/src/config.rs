//! The configuration tree and its defaults.
//!
//! Every struct is `#[serde(default)]`, so a file or an environment variable sets only what
//! it names, and `deny_unknown_fields`, so a misspelt setting is an error rather than a
//! silently ignored line.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use throng_room::RoomSettings;

/// The whole server configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The address the HTTP and WebSocket listener binds.
    pub listen: SocketAddr,
    /// Where embedded state and the development credentials live, relative to the working
    /// directory unless absolute.
    pub data_dir: PathBuf,
    /// The URL printed at start and advertised to clients; derived from `listen` when unset.
    pub public_url: Option<String>,
    pub auth: AuthConfig,
    pub limits: LimitsConfig,
    pub rooms: RoomsConfig,
    pub gateway: GatewayConfig,
    pub log: LogConfig,
    /// The sensitive-word filter applied to client messages. Replaced at runtime through
    /// the server API (`PUT /v1/filter`), whose version then takes precedence.
    pub filter: throng_filter::FilterConfig,
}

/// How client tokens and server API keys are checked.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// The only algorithm tokens may be signed with; a token's own header never chooses.
    pub jwt_algorithm: JwtAlgorithm,
    /// HS256 shared secret (its UTF-8 bytes are the HMAC key). When unset, the server uses
    /// the development secret kept in `data_dir`.
    pub jwt_secret: Option<String>,
    /// PEM public key file, required for RS256 and ES256.
    pub jwt_public_key_file: Option<PathBuf>,
    /// When set, tokens must carry this `iss`.
    pub jwt_issuer: Option<String>,
    /// When set, tokens must carry this `aud`.
    pub jwt_audience: Option<String>,
    /// Clock skew, in seconds, tolerated when checking `exp` and `nbf`.
    pub leeway_s: u32,
    /// Keys accepted by the HTTP server API. When empty, the development key is used.
    pub api_keys: Vec<String>,
    /// Generate (once) and keep a development secret and API key in `data_dir` when none is
    /// configured, so a fresh machine works with no setup.
    pub dev_credentials: bool,
}

/// JWT signature algorithms the server accepts (one at a time).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum JwtAlgorithm {
    /// HMAC with SHA-256 and a shared secret.
    #[default]
    #[serde(rename = "HS256")]
    Hs256,
    /// RSA PKCS#1 v1.5 with SHA-256; needs the issuer's public key.
    #[serde(rename = "RS256")]
    Rs256,
    /// ECDSA on P-256 with SHA-256; needs the issuer's public key.
    #[serde(rename = "ES256")]
    Es256,
}

/// Per-connection and per-user limits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Open WebSocket connections beyond which new ones are refused with `over_capacity`.
    pub max_connections: u32,
    /// Largest WebSocket frame the server reads; a larger one closes with 4005.
    pub max_frame_bytes: u32,
    /// Largest message body, measured as its encoded JSON.
    pub max_message_bytes: u32,
    /// Rooms one connection may have joined at once.
    pub max_rooms_per_connection: u32,
    /// Messages per second one user may send, across all its connections.
    pub user_rate_per_sec: u32,
    /// Token-bucket capacity for the per-user rate.
    pub user_burst: u32,
    /// Moderation entries (mutes, bans, list entries) active at once; past it, new ones
    /// are refused until some expire or are lifted.
    pub max_moderation_entries: u32,
}

/// Live-room policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RoomsConfig {
    /// Create a room on its first join instead of answering `unknown_room`.
    pub auto_create: bool,
    /// Settings a new room starts with; the HTTP API can change them per room.
    pub defaults: RoomSettings,
    /// Rooms the server holds at once; creating one more is refused.
    pub max_rooms: u32,
}

/// Connection handling at the WebSocket edge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GatewayConfig {
    /// Interval the client must send within; silence for twice this closes with 4001.
    pub heartbeat_ms: u32,
    /// On shutdown, how long connections get to reconnect elsewhere before being closed.
    pub drain_deadline_ms: u32,
    /// WebSocket read buffer per connection, allocated for its whole life (1 KiB: client
    /// frames are small, and each KiB here is a KiB per connection).
    pub ws_read_buffer_bytes: u32,
    /// WebSocket write buffer per connection; 0 writes every frame through at once.
    pub ws_write_buffer_bytes: u32,
    /// Room frames (batches, notifies) queued per connection. Each room has at most one
    /// batch queued per connection; when the queue is full, rooms skip the connection
    /// until it drains.
    pub outbound_queue: u32,
    /// Kernel send buffer (SO_SNDBUF) of each accepted socket, in bytes; 0 keeps the
    /// kernel's autotuning. A fixed size bounds the kernel memory a slow reader can pin
    /// and makes the server notice it sooner (then it skips messages for it instead of
    /// queueing them).
    pub socket_send_buffer_bytes: u32,
}

/// Logging.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    pub format: LogFormat,
    /// A `tracing_subscriber::EnvFilter` directive, such as `info` or
    /// `info,throng_server=debug`.
    pub level: String,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// The port `throng serve` listens on when nothing says otherwise.
pub const DEFAULT_PORT: u16 = 7700;

impl Default for Config {
    fn default() -> Config {
        Config {
            listen: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), DEFAULT_PORT),
            data_dir: PathBuf::from("throng-data"),
            public_url: None,
            auth: AuthConfig::default(),
            limits: LimitsConfig::default(),
            rooms: RoomsConfig::default(),
            gateway: GatewayConfig::default(),
            log: LogConfig::default(),
            filter: throng_filter::FilterConfig::default(),
        }
    }
}

impl Default for AuthConfig {
    fn default() -> AuthConfig {
        AuthConfig {
            jwt_algorithm: JwtAlgorithm::Hs256,
            jwt_secret: None,
            jwt_public_key_file: None,
            jwt_issuer: None,
            jwt_audience: None,
            leeway_s: 5,
            api_keys: Vec::new(),
            dev_credentials: true,
        }
    }
}

/// Written by hand so that logging a config never prints the secret or the API keys.
impl fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthConfig")
            .field("jwt_algorithm", &self.jwt_algorithm)
            .field(
                "jwt_secret",
                &self.jwt_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("jwt_public_key_file", &self.jwt_public_key_file)
            .field("jwt_issuer", &self.jwt_issuer)
            .field("jwt_audience", &self.jwt_audience)
            .field("leeway_s", &self.leeway_s)
            .field(
                "api_keys",
                &format_args!("<{} redacted>", self.api_keys.len()),
            )
            .field("dev_credentials", &self.dev_credentials)
            .finish()
    }
}

impl Default for LimitsConfig {
    fn default() -> LimitsConfig {
        LimitsConfig {
            max_connections: 19_000,
            max_frame_bytes: 65_536,
            max_message_bytes: 4_096,
            max_rooms_per_connection: 16,
            user_rate_per_sec: 20,
            user_burst: 40,
            max_moderation_entries: 1_000_000,
        }
    }
}

impl Default for RoomsConfig {
    fn default() -> RoomsConfig {
        RoomsConfig {
            auto_create: true,
            defaults: RoomSettings::default(),
            max_rooms: 100_000,
        }
    }
}

impl Default for GatewayConfig {
    fn default() -> GatewayConfig {
        GatewayConfig {
            heartbeat_ms: 25_000,
            drain_deadline_ms: 10_000,
            ws_read_buffer_bytes: 1_024,
            ws_write_buffer_bytes: 0,
            outbound_queue: 64,
            socket_send_buffer_bytes: 0,
        }
    }
}

impl Default for LogConfig {
    fn default() -> LogConfig {
        LogConfig {
            format: LogFormat::Text,
            level: "info".to_owned(),
        }
    }
}

impl JwtAlgorithm {
    /// The name used in config files and in a token's `alg` header.
    pub fn as_str(self) -> &'static str {
        match self {
            JwtAlgorithm::Hs256 => "HS256",
            JwtAlgorithm::Rs256 => "RS256",
            JwtAlgorithm::Es256 => "ES256",
        }
    }

    /// Whether tokens are verified with a public key file rather than a shared secret.
    pub fn uses_public_key(self) -> bool {
        matches!(self, JwtAlgorithm::Rs256 | JwtAlgorithm::Es256)
    }
}

impl fmt::Display for JwtAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Config {
    /// The URL to print and advertise: `public_url` without a trailing slash, or one built
    /// from `listen`. An unspecified listen address (`0.0.0.0`, `::`) is shown as loopback,
    /// because a browser cannot open the unspecified address.
    pub fn public_url(&self) -> String {
        if let Some(url) = &self.public_url {
            return url.trim_end_matches('/').to_owned();
        }
        let mut shown = self.listen;
        if shown.ip().is_unspecified() {
            shown.set_ip(match shown.ip() {
                IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
            });
        }
        format!("http://{shown}")
    }

    /// A commented example configuration showing every section with its defaults.
    pub fn example_toml() -> &'static str {
        include_str!("example.toml")
    }
}
