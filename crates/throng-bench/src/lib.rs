//! `throng bench`: load scenarios against Throng and peer servers, with reports and charts.
//!
//! Layout:
//! - [`target`]: the [`target::Target`] contract every system under test implements, and
//!   [`target::BenchPayload`], the text every message carries; [`payload`] encodes it and
//!   finds it in raw frames.
//! - [`throng_target`]: Throng as a target (raw WebSocket clients, HTTP API for rooms and
//!   gifts); [`peers`]: the peer servers; [`target_spec`]: which one a run drives, resolved
//!   from the flags (by default the `throng serve` of `./throng-data`).
//! - [`scenarios`]: `live-room`, `connections`, `join-storm`, `rooms` and their flags,
//!   each turned into a [`plan::RunPlan`].
//! - [`runner`]: the coordinator (workers, publishers, `/proc` sampling, the report);
//!   [`worker`]: one worker process holding up to ~18k subscribers.
//! - [`accounting`], [`latency`], [`procfs`]: loss/duplicate bookkeeping, the latency
//!   histogram, and `/proc` parsing, all without IO in their logic.
//! - [`report`]: the JSON written per run; [`compare`] and [`charts`]: `throng bench report`,
//!   a Markdown comparison and PNG charts from several runs.
//!
//! **Invariant:** subscribers never decode a frame after their join: they scan raw bytes
//! for the payload marker, so the load generator stays cheaper than the servers it loads.

pub mod accounting;
pub mod charts;
pub mod compare;
pub mod latency;
pub mod payload;
pub mod peers;
pub mod plan;
pub mod procfs;
mod progress;
pub mod report;
pub mod runner;
pub mod scenarios;
pub mod target;
pub mod target_spec;
pub mod throng_target;
pub mod worker;

use scenarios::CommonArgs;
use target_spec::TargetSpec;

/// Arguments of `throng bench`.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "With no target flags, runs against the `throng serve` started in this directory \
                  (./throng-data). Example:\n  throng bench live-room --members 18000 --rate 200 --duration 30 --json out.json"
)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub command: BenchCommand,
}

#[derive(clap::Subcommand, Debug)]
pub enum BenchCommand {
    /// One room, N members, a publish rate split over publishers, optional gifts and slow
    /// consumers.
    LiveRoom(scenarios::LiveRoomArgs),
    /// N idle connections with heartbeats: memory per connection and connect rate.
    Connections(scenarios::ConnectionsArgs),
    /// Members joining and leaving at a rate into a room that already holds N.
    JoinStorm(scenarios::JoinStormArgs),
    /// Many small rooms at once, each with its own publisher.
    Rooms(scenarios::RoomsArgs),
    /// Compare run reports: a Markdown table and PNG charts.
    Report(compare::ReportArgs),
    /// Internal: a worker process holding subscribers (plan on stdin).
    #[command(hide = true)]
    Worker,
}

/// Runs `throng bench …`.
pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    match args.command {
        BenchCommand::LiveRoom(a) => {
            let tag = run_tag();
            let room = room_prefix(&a.common, &tag);
            let (plan, params) = scenarios::live_room(&a, &room);
            run_scenario("live-room", &a.common, &tag, plan, params)
        }
        BenchCommand::Connections(a) => {
            let tag = run_tag();
            let room = room_prefix(&a.common, &tag);
            let (plan, params) = scenarios::connections(&a, &room);
            run_scenario("connections", &a.common, &tag, plan, params)
        }
        BenchCommand::JoinStorm(a) => {
            let tag = run_tag();
            let room = room_prefix(&a.common, &tag);
            let (plan, params) = scenarios::join_storm(&a, &room);
            run_scenario("join-storm", &a.common, &tag, plan, params)
        }
        BenchCommand::Rooms(a) => {
            let tag = run_tag();
            let room = room_prefix(&a.common, &tag);
            let (plan, params) = scenarios::rooms(&a, &room);
            run_scenario("rooms", &a.common, &tag, plan, params)
        }
        BenchCommand::Report(a) => compare::run(&a),
        BenchCommand::Worker => worker::run_stdio(),
    }
}

/// Runs a scenario, prints its summary and writes its JSON; the report is returned for
/// callers that want to check it (tests).
pub fn run_scenario(
    scenario: &str,
    common: &CommonArgs,
    tag: &str,
    plan: plan::RunPlan,
    params: serde_json::Map<String, serde_json::Value>,
) -> anyhow::Result<()> {
    let report = run_scenario_report(scenario, common, tag, plan, params)?;
    print!("{}", report.summary_text());
    if let Some(path) = &common.json {
        report.write_json(path)?;
        println!("  report written to {}", path.display());
    }
    Ok(())
}

/// Like [`run_scenario`] but returns the report instead of printing it.
pub fn run_scenario_report(
    scenario: &str,
    common: &CommonArgs,
    tag: &str,
    plan: plan::RunPlan,
    params: serde_json::Map<String, serde_json::Value>,
) -> anyhow::Result<report::Report> {
    let spec = TargetSpec::resolve(&common.target, tag)?;
    if !spec.server_pid_known() {
        eprintln!(
            "note: no server pid (give --server-pid / --peer-pid): CPU and memory are not sampled"
        );
    }
    runner::run(scenario, params, plan, spec, common.options())
}

/// A short tag that tells this run's users and rooms apart from other runs'.
pub fn run_tag() -> String {
    format!("{:x}", worker::now_us() / 1000)
}

fn room_prefix(common: &CommonArgs, tag: &str) -> String {
    common
        .room
        .clone()
        .unwrap_or_else(|| format!("bench-{tag}"))
}
