//! The `throng` command: `serve` runs a node, `token` mints a development token,
//! `config example` prints a commented configuration file.

use anyhow::Context;
use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use throng_auth::DevCredentials;
use throng_config::{Config, LogFormat};

#[derive(Parser)]
#[command(
    name = "throng",
    version,
    about = "A real-time messaging server for live rooms, groups and communities"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Where the configuration comes from; shared by every command that reads it.
#[derive(clap::Args, Clone)]
struct ConfigArgs {
    /// TOML config file (default: none; every setting has a default).
    #[arg(long, env = "THRONG_CONFIG")]
    config: Option<PathBuf>,
    /// Data directory (overrides `data_dir` of the config).
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

impl ConfigArgs {
    fn load(&self) -> anyhow::Result<Config> {
        let mut config = Config::load(self.config.as_deref())?;
        if let Some(dir) = &self.data_dir {
            config.data_dir = dir.clone();
        }
        Ok(config)
    }
}

#[derive(Subcommand)]
enum Command {
    /// Run a server node. With no flags: 127.0.0.1:7700, data in ./throng-data,
    /// development credentials generated there and printed.
    Serve {
        #[command(flatten)]
        config: ConfigArgs,
        /// Address to listen on (overrides `listen` of the config).
        #[arg(long)]
        listen: Option<SocketAddr>,
    },
    /// Mint a development token (HS256, signed with the secret of the config or of the
    /// data directory's development credentials).
    Token {
        #[command(flatten)]
        config: ConfigArgs,
        /// The user id (`sub`).
        #[arg(long)]
        user: String,
        /// Lifetime, e.g. 90s, 15m, 24h, 7d.
        #[arg(long, default_value = "24h", value_parser = humantime::parse_duration)]
        ttl: Duration,
        /// Roles to grant (repeatable), e.g. `system` to send system-priority messages.
        #[arg(long = "role")]
        roles: Vec<String>,
    },
    /// Join a room from the terminal: lines you type are sent, messages are printed.
    /// Finds the server and mints a token from the data directory of `throng serve`.
    Chat {
        #[command(flatten)]
        config: ConfigArgs,
        /// Your user id.
        #[arg(long)]
        user: String,
        /// The room to join.
        #[arg(long, default_value = "lobby")]
        room: String,
        /// Server URL (default: the server running from this data directory).
        #[arg(long)]
        url: Option<String>,
        /// Token to use instead of minting one from the development secret.
        #[arg(long)]
        token: Option<String>,
    },
    /// Run a load scenario against this machine's server (or another, with flags) and
    /// peer servers; see `throng bench --help`.
    Bench(Box<throng_bench::BenchArgs>),
    /// Configuration helpers.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Print a commented example config file with every default.
    Example,
    /// Load and validate the configuration, then print it as TOML.
    Check {
        #[command(flatten)]
        config: ConfigArgs,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve { config, listen } => {
            let mut config = config.load()?;
            if let Some(listen) = listen {
                config.listen = listen;
            }
            init_logs(&config)?;
            tokio::runtime::Runtime::new()?.block_on(serve(config))
        }
        Command::Token {
            config,
            user,
            ttl,
            roles,
        } => {
            let config = config.load()?;
            println!("{}", mint(&config, &user, ttl, &roles)?);
            Ok(())
        }
        Command::Chat {
            config,
            user,
            room,
            url,
            token,
        } => {
            let config = config.load()?;
            let url = match url {
                Some(url) => url,
                None => running_server_url(&config)?,
            };
            let token = match token {
                Some(token) => token,
                None => mint(&config, &user, Duration::from_secs(24 * 3600), &[])?,
            };
            tokio::runtime::Runtime::new()?.block_on(chat(url, token, room))
        }
        Command::Bench(args) => throng_bench::run(*args),
        Command::Config {
            command: ConfigCommand::Example,
        } => {
            print!("{}", Config::example_toml());
            Ok(())
        }
        Command::Config {
            command: ConfigCommand::Check { config },
        } => {
            let config = config.load()?;
            print!("{}", toml_text(&config)?);
            eprintln!("configuration is valid");
            Ok(())
        }
    }
}

fn toml_text(config: &Config) -> anyhow::Result<String> {
    toml::to_string_pretty(config).context("cannot print the configuration")
}

fn init_logs(config: &Config) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log.level)
        .with_context(|| format!("log.level {:?} is not a valid filter", config.log.level))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match config.log.format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
    Ok(())
}

/// The HS256 secret tokens are signed with: the configured one, else the development one.
fn signing_secret(config: &Config) -> anyhow::Result<String> {
    if let Some(secret) = &config.auth.jwt_secret {
        return Ok(secret.clone());
    }
    anyhow::ensure!(
        !config.auth.jwt_algorithm.uses_public_key(),
        "tokens for {} must be signed by your own backend's private key; `throng token` only mints HS256 tokens",
        config.auth.jwt_algorithm.as_str()
    );
    let dev = DevCredentials::load(&config.data_dir)?.with_context(|| {
        format!(
            "no development credentials in {}: run `throng serve` there first, or set auth.jwt_secret",
            config.data_dir.display()
        )
    })?;
    Ok(dev.jwt_secret)
}

fn mint(config: &Config, user: &str, ttl: Duration, roles: &[String]) -> anyhow::Result<String> {
    let secret = signing_secret(config)?;
    Ok(throng_auth::mint_hs256(&secret, user, ttl, roles)?)
}

/// Prints a banner line; a closed stdout (piped into `head`, a parent that stopped
/// reading) must not take the server down, so write errors are ignored.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

/// Written into the data directory while `throng serve` runs: `{"pid": .., "url": ..}`,
/// so other commands in the same directory (`throng bench`) find the server.
const RUNTIME_FILE: &str = "server.json";

async fn serve(config: Config) -> anyhow::Result<()> {
    let data_dir = config.data_dir.clone();
    let server = throng_server::start(config).await?;
    let url = server.url();
    let public = server
        .node
        .config
        .public_url
        .clone()
        .unwrap_or_else(|| url.clone());
    say!("Throng {} listening on {public}", env!("CARGO_PKG_VERSION"));
    say!("  data directory:  {}", data_dir.display());
    say!("  web page:        {public}/");
    say!(
        "  WebSocket:       {}{}?token=<JWT>",
        public.replacen("http", "ws", 1),
        throng_protocol::WS_PATH
    );
    say!("  server API:      {public}/v1/rooms  (OpenAPI: {public}/v1/openapi.json)");
    if let Some(dev) = &server.dev_credentials {
        print_dev_credentials(&server.node.config, dev, &data_dir, &public)?;
    }
    let runtime_file = data_dir.join(RUNTIME_FILE);
    let runtime = serde_json::json!({ "pid": std::process::id(), "url": url });
    std::fs::write(&runtime_file, format!("{runtime}\n"))
        .with_context(|| format!("cannot write {}", runtime_file.display()))?;
    wait_for_signal().await;
    let _ = std::fs::remove_file(&runtime_file);
    eprintln!("draining: telling clients to reconnect…");
    let report = server.drain().await;
    eprintln!(
        "stopped ({} connections drained, {} closed at the deadline)",
        report.connections - report.forced,
        report.forced
    );
    Ok(())
}

fn print_dev_credentials(
    config: &Config,
    dev: &DevCredentials,
    data_dir: &Path,
    public: &str,
) -> anyhow::Result<()> {
    say!();
    say!(
        "Development credentials (kept in {}):",
        throng_auth::DevCredentials::path(data_dir).display()
    );
    if config.auth.api_keys.is_empty() {
        say!("  API key:    {}", dev.api_key);
    }
    if config.auth.jwt_secret.is_none() && !config.auth.jwt_algorithm.uses_public_key() {
        let token = mint(config, "dev", Duration::from_secs(24 * 3600), &[])?;
        say!("  dev token:  {token}");
        say!("              (user \"dev\", valid 24 h; mint more with `throng token --user NAME`)");
    }
    say!();
    say!(
        "Try:  curl -H 'Authorization: Bearer {}' {public}/v1/rooms",
        dev.api_key
    );
    Ok(())
}

/// The URL of the `throng serve` running from this data directory, else the config's.
fn running_server_url(config: &Config) -> anyhow::Result<String> {
    let path = config.data_dir.join(RUNTIME_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let runtime: serde_json::Value = serde_json::from_str(&text)
                .with_context(|| format!("{} is not valid JSON", path.display()))?;
            runtime["url"]
                .as_str()
                .map(str::to_owned)
                .with_context(|| format!("{} has no url", path.display()))
        }
        Err(_) => Ok(config.public_url()),
    }
}

async fn chat(url: String, token: String, room: String) -> anyhow::Result<()> {
    use throng_client::{Client, ClientConfig, Event};
    use tokio::io::AsyncBufReadExt;

    let (client, mut events) = Client::connect(ClientConfig::new(url.clone(), token))
        .await
        .with_context(|| format!("cannot connect to {url}"))?;
    let joined = client
        .join(&room, throng_protocol::DeliveryMode::Push)
        .await?;
    say!(
        "joined {room} as {} ({} online); type a line and press enter to send, ctrl-d to quit",
        client.hello().user,
        joined.online
    );
    for message in &joined.msgs {
        print_message(message);
    }
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    loop {
        tokio::select! {
            line = lines.next_line() => match line? {
                Some(line) if line.trim().is_empty() => {}
                Some(line) => {
                    if let Err(e) = client.send(&room, "text", serde_json::json!({ "text": line })).await {
                        say!("! not sent: {e}");
                    }
                }
                None => break,
            },
            event = events.next() => match event {
                Some(Event::Messages { msgs, skipped, .. }) => {
                    msgs.iter().for_each(print_message);
                    if !skipped.is_empty() {
                        say!("! {} messages skipped (you fell behind)", skipped.total());
                    }
                }
                Some(Event::Disconnected { reason, will_reconnect, .. }) => {
                    say!("! disconnected ({reason}){}", if will_reconnect { "; reconnecting" } else { "" });
                }
                Some(Event::Reconnected { .. }) => say!("! reconnected"),
                Some(Event::Left { reason, .. }) => {
                    say!("! left the room: {reason:?}");
                    break;
                }
                Some(Event::ServerError { code, message, .. }) => say!("! {code}: {message}"),
                Some(Event::Moderation { action, until, reason, by, .. }) => {
                    let until = until.map(|ms| format!(" until {ms} (Unix ms)")).unwrap_or_default();
                    let reason = reason.map(|r| format!(": {r}")).unwrap_or_default();
                    say!("! {by}: {action:?}{until}{reason}");
                }
                Some(Event::AttrNotify { version, .. }) => say!("! room attributes changed (version {version})"),
                Some(Event::LikesLost { taps, reason, .. }) => say!("! {taps} likes did not count: {reason}"),
                Some(Event::Notify { .. } | Event::Attributes { .. } | Event::Stats(_)) => {}
                Some(Event::Closed) | None => break,
            },
        }
    }
    client.close().await;
    Ok(())
}

fn print_message(message: &throng_protocol::Message) {
    let text = message
        .body
        .get("text")
        .and_then(|t| t.as_str())
        .map(str::to_owned)
        .unwrap_or_else(|| message.body.to_string());
    say!("[{}] {}: {}", message.seq, message.from, text);
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}
