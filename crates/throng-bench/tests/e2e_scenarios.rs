//! Small end-to-end runs of the bench scenarios against a real Throng server started in
//! this process on port 0. They check counts and loss, never timings.

use clap::Parser;
use std::time::Duration;
use throng_bench::report::Report;
use throng_bench::scenarios::{self, ConnectionsArgs, LiveRoomArgs, RoomsArgs};
use throng_server::throng_config::Config;

const SECRET: &str = "bench-test-secret-bench-test-secret-0123";
const API_KEY: &str = "bench-test-api-key-0123456789";

/// A server on its own runtime thread; stopped (drained) when dropped.
struct Server {
    url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl Server {
    fn start() -> Server {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            data_dir: dir.path().to_owned(),
            ..Config::default()
        };
        config.auth.jwt_secret = Some(SECRET.into());
        config.auth.api_keys = vec![API_KEY.into()];
        config.auth.dev_credentials = false;
        let (url_tx, url_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Runtime::new().unwrap();
            runtime.block_on(async move {
                let server = throng_server::start(config).await.expect("server starts");
                url_tx.send(server.url()).unwrap();
                let _ = stopped.await;
                server.drain().await;
            });
        });
        let url = url_rx
            .recv_timeout(Duration::from_secs(30))
            .expect("server URL");
        Server {
            url,
            stop: Some(stop),
            thread: Some(thread),
            _dir: dir,
        }
    }

    /// Flags that point a scenario at this server, run small, and keep it in process.
    fn flags(&self, scenario: &str, extra: &[&str]) -> Vec<String> {
        let pid = std::process::id().to_string();
        let mut flags: Vec<String> = [
            scenario,
            "--url",
            &self.url,
            "--token-secret",
            SECRET,
            "--api-key",
            API_KEY,
            "--server-pid",
            &pid,
            "--in-process",
            "--no-progress",
            "--connect-concurrency",
            "64",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        flags.extend(extra.iter().map(|s| s.to_string()));
        flags
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[derive(Parser)]
struct LiveRoomCli {
    #[command(flatten)]
    args: LiveRoomArgs,
}

#[derive(Parser)]
struct RoomsCli {
    #[command(flatten)]
    args: RoomsArgs,
}

#[derive(Parser)]
struct ConnectionsCli {
    #[command(flatten)]
    args: ConnectionsArgs,
}

fn run(
    scenario: &str,
    common: &scenarios::CommonArgs,
    (plan, params): (
        throng_bench::plan::RunPlan,
        serde_json::Map<String, serde_json::Value>,
    ),
) -> Report {
    let tag = throng_bench::run_tag();
    let report = throng_bench::run_scenario_report(scenario, common, &tag, plan, params)
        .expect("the scenario runs");
    eprintln!("{}", report.summary_text());
    report
}

/// Checks what every run with publishing must show: all members joined, nothing refused,
/// lost, duplicated or unexpected, and each published message delivered to each member.
fn assert_complete_delivery(report: &Report, members: u64) {
    assert_eq!(report.connections, members, "{:?}", report.errors);
    assert_eq!(report.connections_failed, 0);
    assert!(report.published.total > 0);
    assert_eq!(report.publish_refused, 0, "{:?}", report.errors);
    assert_eq!(report.lost.total, 0, "{:?}", report.lost);
    assert_eq!(report.duplicates, 0);
    assert_eq!(report.unexpected, 0);
    assert_eq!(report.closed_by_server, 0);
    assert_eq!(report.expected_deliveries, report.deliveries);
    assert_eq!(report.latency_ms.count, report.deliveries);
    assert!(
        report.server_cpu_s.is_some(),
        "the server pid was given, so it is sampled"
    );
}

#[test]
fn live_room_delivers_every_message_in_every_lane() {
    let server = Server::start();
    let cli = LiveRoomCli::parse_from(server.flags(
        "live-room",
        &[
            "--members",
            "300",
            "--rate",
            "40",
            "--duration",
            "3",
            "--gift-share",
            "0.25",
            "--low-share",
            "0.25",
        ],
    ));
    let report = run(
        "live-room",
        &cli.args.common,
        scenarios::live_room(&cli.args, "e2e-live"),
    );
    assert_complete_delivery(&report, 300);
    // Gifts (system, over the HTTP API), high and low all went out and all arrived.
    assert!(report.published.system > 0 && report.published.high > 0 && report.published.low > 0);
    assert_eq!(report.deliveries, report.published.total * 300);
    assert_eq!(report.target, "throng");
    assert_eq!(report.params["members"], serde_json::json!(300));
    // 40 msg/s with the default per-user limit of 20: four publishers at 10 msg/s each.
    assert_eq!(report.params["senders"], serde_json::json!(4));
}

#[test]
fn rooms_deliver_each_rooms_messages_to_its_members_only() {
    let server = Server::start();
    let cli = RoomsCli::parse_from(server.flags(
        "rooms",
        &[
            "--rooms",
            "20",
            "--members-per-room",
            "5",
            "--rate-per-room",
            "4",
            "--duration",
            "2",
        ],
    ));
    let report = run(
        "rooms",
        &cli.args.common,
        scenarios::rooms(&cli.args, "e2e-rooms"),
    );
    assert_complete_delivery(&report, 100);
    // Each message reaches the five members of its own room, nobody else.
    assert_eq!(report.deliveries, report.published.total * 5);
}

#[test]
fn slow_members_are_counted_apart_from_readers() {
    let server = Server::start();
    let cli = LiveRoomCli::parse_from(server.flags(
        "live-room",
        &[
            "--members",
            "100",
            "--rate",
            "20",
            "--duration",
            "2",
            "--slow-share",
            "0.2",
        ],
    ));
    let report = run(
        "live-room",
        &cli.args.common,
        scenarios::live_room(&cli.args, "e2e-slow"),
    );
    assert_eq!(report.connections, 100);
    let slow = report.slow.expect("slow members reported");
    assert_eq!(slow.members, 20);
    // Readers are unaffected by the members that stopped reading.
    assert_eq!(report.lost.total, 0);
    assert_eq!(report.expected_deliveries, report.published.total * 80);
}

#[test]
fn connections_are_counted_once_joined_and_memory_is_sampled() {
    let server = Server::start();
    let cli = ConnectionsCli::parse_from(
        server.flags("connections", &["--members", "200", "--duration", "1"]),
    );
    let report = run(
        "connections",
        &cli.args.common,
        scenarios::connections(&cli.args, "e2e-idle"),
    );
    assert_eq!(report.connections, 200);
    assert_eq!(report.connections_failed, 0);
    assert_eq!(report.published.total, 0);
    assert_eq!(report.deliveries, 0);
    assert!(report.server_rss_per_connection_bytes.is_some());
    assert!(report.connect_rate_per_sec > 0.0);
}
