//! Which server a run drives, resolved once from the command line and handed to every
//! worker process as data, so they all build the same [`Target`].
//!
//! With no target flags the run drives the `throng serve` of the data directory: its URL
//! and pid from `server.json`, tokens signed with the development secret and rooms created
//! with the development API key, both from `dev-credentials.json`.

use crate::peers::{self, PeerSpec};
use crate::target::Target;
use crate::throng_target::{ThrongAuth, ThrongSpec, ThrongTarget};
use anyhow::{anyhow, Context};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Written by `throng serve` into its data directory while it runs.
pub const SERVER_FILE: &str = "server.json";

/// Target flags shared by every scenario.
#[derive(clap::Args, Debug, Clone)]
pub struct TargetArgs {
    /// System under test: `throng` or a peer's name.
    #[arg(long, default_value = "throng")]
    pub target: String,
    /// Data directory of the local `throng serve` (its server.json and dev credentials).
    #[arg(long, default_value = "throng-data")]
    pub data_dir: PathBuf,
    /// Throng server URL (default: from <data-dir>/server.json).
    #[arg(long)]
    pub url: Option<String>,
    /// HS256 secret to mint one token per connection (default: the dev secret).
    #[arg(long, conflicts_with = "token")]
    pub token_secret: Option<String>,
    /// One token for every connection (all publishers then share one user's rate limit).
    #[arg(long)]
    pub token: Option<String>,
    /// Server API key, to create rooms and publish system messages (default: the dev key).
    #[arg(long)]
    pub api_key: Option<String>,
    /// Process id of the server, for CPU and memory figures (default: from server.json
    /// when the URL is too).
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Speak MessagePack (binary frames) to Throng instead of JSON.
    #[arg(long)]
    pub msgpack: bool,
    /// WebSocket read buffer of each Throng subscriber, in bytes.
    #[arg(long, default_value_t = crate::throng_target::DEFAULT_READ_BUFFER_BYTES)]
    pub read_buffer_bytes: usize,
    /// Peer host.
    #[arg(long, default_value = "127.0.0.1")]
    pub peer_host: String,
    /// Peer port (each peer has a default).
    #[arg(long)]
    pub peer_port: Option<u16>,
    /// Peer server process id, for CPU and memory figures.
    #[arg(long)]
    pub peer_pid: Option<u32>,
}

/// A resolved target, serialisable for worker processes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum TargetSpec {
    Throng(ThrongSpec),
    Peer {
        name: String,
        host: String,
        port: Option<u16>,
        pid: Option<u32>,
    },
}

/// A built target, with Throng's extra abilities (rooms through the API) kept reachable.
pub enum BuiltTarget {
    Throng(Arc<ThrongTarget>),
    Peer(Arc<dyn Target>),
}

impl BuiltTarget {
    pub fn as_target(&self) -> Arc<dyn Target> {
        match self {
            BuiltTarget::Throng(t) => t.clone(),
            BuiltTarget::Peer(t) => t.clone(),
        }
    }
}

#[derive(Deserialize)]
struct ServerFile {
    pid: u32,
    url: String,
}

fn read_server_file(data_dir: &Path) -> anyhow::Result<ServerFile> {
    let path = data_dir.join(SERVER_FILE);
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "no running server found ({} is missing): start `throng serve` in this directory, \
             or give --url (and --token-secret/--api-key) or --data-dir",
            path.display()
        )
    })?;
    serde_json::from_str(&text).with_context(|| format!("{} is not valid", path.display()))
}

impl TargetSpec {
    pub fn resolve(args: &TargetArgs, run_tag: &str) -> anyhow::Result<TargetSpec> {
        if args.target != "throng" {
            return Ok(TargetSpec::Peer {
                name: args.target.clone(),
                host: args.peer_host.clone(),
                port: args.peer_port,
                pid: args.peer_pid,
            });
        }
        let (url, file_pid) = match &args.url {
            Some(url) => (url.trim_end_matches('/').to_owned(), None),
            None => {
                let file = read_server_file(&args.data_dir)?;
                (file.url, Some(file.pid))
            }
        };
        let needs_dev =
            (args.token_secret.is_none() && args.token.is_none()) || args.api_key.is_none();
        let dev = if needs_dev {
            throng_auth::DevCredentials::load(&args.data_dir).map_err(|e| anyhow!("{e}"))?
        } else {
            None
        };
        let auth = match (&args.token_secret, &args.token, &dev) {
            (Some(secret), _, _) => ThrongAuth::Secret(secret.clone()),
            (None, Some(token), _) => ThrongAuth::Token(token.clone()),
            (None, None, Some(dev)) => ThrongAuth::Secret(dev.jwt_secret.clone()),
            (None, None, None) => {
                return Err(anyhow!(
                "no credentials: {} has no development credentials; give --token-secret or --token",
                args.data_dir.display()
            ))
            }
        };
        let api_key = args.api_key.clone().or_else(|| dev.map(|d| d.api_key));
        Ok(TargetSpec::Throng(ThrongSpec {
            url,
            auth,
            api_key,
            server_pid: args.server_pid.or(file_pid),
            msgpack: args.msgpack,
            read_buffer_bytes: args.read_buffer_bytes,
            run_tag: run_tag.to_owned(),
        }))
    }

    pub fn name(&self) -> &str {
        match self {
            TargetSpec::Throng(_) => "throng",
            TargetSpec::Peer { name, .. } => name,
        }
    }

    pub fn server_pid_known(&self) -> bool {
        match self {
            TargetSpec::Throng(spec) => spec.server_pid.is_some(),
            TargetSpec::Peer { pid, .. } => pid.is_some(),
        }
    }

    /// Whether the target has Throng's priority lanes (peers carry everything as lane 1).
    pub fn has_lanes(&self) -> bool {
        matches!(self, TargetSpec::Throng(_))
    }

    pub async fn build(&self) -> anyhow::Result<BuiltTarget> {
        match self {
            TargetSpec::Throng(spec) => Ok(BuiltTarget::Throng(Arc::new(
                ThrongTarget::new(spec.clone()).await?,
            ))),
            TargetSpec::Peer {
                name,
                host,
                port,
                pid,
            } => {
                let spec = PeerSpec {
                    host: host.clone(),
                    port: *port,
                    pid: *pid,
                };
                Ok(BuiltTarget::Peer(peers::target(name, &spec)?))
            }
        }
    }
}
