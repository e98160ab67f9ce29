//! The scenarios: their flags, defaults, and the [`RunPlan`] each one turns into.

use crate::plan::{ChurnPlan, MemberGroup, MemberRole, PublisherPlan, RunPlan};
use crate::runner::RunOptions;
use crate::target_spec::TargetArgs;
use serde_json::{json, Map, Value};
use std::path::PathBuf;
use std::time::Duration;

/// Flags every load scenario has.
#[derive(clap::Args, Debug, Clone)]
pub struct CommonArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Seconds to publish (or, for `connections`, to hold the connections open).
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Write the run's report as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Messages per second the server allows one user (`limits.user_rate_per_sec`, 20 by
    /// default); publishers are added so that each stays at half of it, which leaves
    /// room for catching up after the server acknowledged late.
    #[arg(long, default_value_t = 20.0)]
    pub user_rate_limit: f64,
    /// Worker processes holding the subscribers (0: one per --sockets-per-worker).
    #[arg(long, default_value_t = 0)]
    pub workers: usize,
    /// Sockets per worker when the number of workers is chosen automatically (at most
    /// 18000: a process may open 20000 files).
    #[arg(long, default_value_t = 10_000)]
    pub sockets_per_worker: u64,
    /// Connections each worker opens at once.
    #[arg(long, default_value_t = 256)]
    pub connect_concurrency: usize,
    /// Seconds one connection may take to connect and join before it counts as failed.
    #[arg(long, default_value_t = 60.0)]
    pub connect_timeout: f64,
    /// Run the workers as threads of this process (small runs and tests; CPU figures of
    /// the load generator are then for the whole process).
    #[arg(long)]
    pub in_process: bool,
    /// Room id prefix (default: bench-<run tag>).
    #[arg(long)]
    pub room: Option<String>,
    /// Draw no progress bar.
    #[arg(long)]
    pub no_progress: bool,
}

impl CommonArgs {
    pub fn options(&self) -> RunOptions {
        RunOptions {
            workers: self.workers,
            sockets_per_worker: self
                .sockets_per_worker
                .clamp(1, crate::runner::MAX_SOCKETS_PER_WORKER),
            connect_concurrency: self.connect_concurrency.max(1),
            connect_timeout: Duration::from_secs_f64(self.connect_timeout.max(0.1)),
            in_process: self.in_process,
            progress: !self.no_progress,
            // Respects the affinity mask, so a load generator under `taskset -c 1` has 1.
            loadgen_core_budget: std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }

    fn duration(&self) -> Duration {
        Duration::from_secs_f64(self.duration.max(0.0))
    }

    /// Publishers needed so that none exceeds half the per-user rate limit.
    fn senders_for(&self, rate: f64, asked: u32) -> u32 {
        let per_sender_cap = (self.user_rate_limit * 0.5).max(0.1);
        let needed = (rate / per_sender_cap).ceil() as u32;
        asked.max(needed).max(1)
    }
}

/// `live-room`: one room, many members, a steady publish rate.
#[derive(clap::Args, Debug, Clone)]
pub struct LiveRoomArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Members in the room.
    #[arg(long, default_value_t = 1000)]
    pub members: u32,
    /// Messages per second published into the room, all publishers together.
    #[arg(long, default_value_t = 200.0)]
    pub rate: f64,
    /// Publishers sharing the rate (0: as few as the per-user limit allows).
    #[arg(long, default_value_t = 0)]
    pub senders: u32,
    /// Payload size in bytes.
    #[arg(long, default_value_t = 100)]
    pub payload: usize,
    /// Share of messages sent as gifts (system priority, reliable lane).
    #[arg(long, default_value_t = 0.0)]
    pub gift_share: f64,
    /// Share of messages sent with low priority.
    #[arg(long, default_value_t = 0.0)]
    pub low_share: f64,
    /// Share of members that stop reading while messages are published.
    #[arg(long, default_value_t = 0.0)]
    pub slow_share: f64,
}

/// `connections`: idle members that only send heartbeats.
#[derive(clap::Args, Debug, Clone)]
pub struct ConnectionsArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Connections to open (each joins the scenario's room).
    #[arg(long, default_value_t = 10_000)]
    pub members: u32,
}

/// `join-storm`: members joining and leaving a room that already holds many.
#[derive(clap::Args, Debug, Clone)]
pub struct JoinStormArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Members that stay in the room throughout.
    #[arg(long, default_value_t = 1000)]
    pub members: u32,
    /// New members per second (each connects, joins, stays --hold seconds, leaves).
    #[arg(long, default_value_t = 100.0)]
    pub join_rate: f64,
    /// Seconds each joining member stays.
    #[arg(long, default_value_t = 2.0)]
    pub hold: f64,
    /// Messages per second published meanwhile.
    #[arg(long, default_value_t = 20.0)]
    pub rate: f64,
    #[arg(long, default_value_t = 0)]
    pub senders: u32,
    #[arg(long, default_value_t = 100)]
    pub payload: usize,
}

/// `rooms`: many small rooms at once, each with its own publisher.
#[derive(clap::Args, Debug, Clone)]
pub struct RoomsArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Rooms. The default keeps members plus one publisher per room (16500 connections)
    /// under what one server process can hold on a machine limited to 20000 open files.
    #[arg(long, default_value_t = 1500)]
    pub rooms: u32,
    #[arg(long, default_value_t = 10)]
    pub members_per_room: u32,
    /// Messages per second published into each room.
    #[arg(long, default_value_t = 1.0)]
    pub rate_per_room: f64,
    #[arg(long, default_value_t = 100)]
    pub payload: usize,
}

/// The room rate limit that lets `rate` through with room to spare.
fn room_rate_for(rate: f64) -> u32 {
    ((rate * 2.0).ceil() as u32).clamp(200, 100_000)
}

fn share(value: f64) -> f64 {
    if value.is_finite() {
        value.clamp(0.0, 1.0)
    } else {
        0.0
    }
}

fn params(pairs: &[(&str, Value)]) -> Map<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

/// Publishers of one room splitting `rate` evenly.
fn room_publishers(
    first_sender: u32,
    room_idx: u32,
    senders: u32,
    rate: f64,
    system_share: f64,
    low_share: f64,
) -> Vec<PublisherPlan> {
    (0..senders)
        .map(|i| PublisherPlan {
            sender: first_sender + i,
            room_idx,
            rate_per_sec: rate / f64::from(senders),
            system_share,
            low_share,
        })
        .collect()
}

pub fn live_room(args: &LiveRoomArgs, room_prefix: &str) -> (RunPlan, Map<String, Value>) {
    let common = &args.common;
    let senders = common.senders_for(args.rate, args.senders);
    let slow = (f64::from(args.members) * share(args.slow_share)).round() as u32;
    let mut groups = vec![MemberGroup {
        room_idx: 0,
        first_member: 0,
        count: args.members - slow,
        role: MemberRole::Reader,
    }];
    if slow > 0 {
        groups.push(MemberGroup {
            room_idx: 0,
            first_member: args.members - slow,
            count: slow,
            role: MemberRole::Slow,
        });
    }
    let plan = RunPlan {
        rooms: vec![room_prefix.to_owned()],
        groups,
        publishers: room_publishers(
            0,
            0,
            senders,
            args.rate,
            share(args.gift_share),
            share(args.low_share),
        ),
        churn: None,
        payload_bytes: args.payload,
        duration: common.duration(),
        room_rate_per_sec: room_rate_for(args.rate),
    };
    let params = params(&[
        ("members", json!(args.members)),
        ("rate", json!(args.rate)),
        ("senders", json!(senders)),
        ("payload", json!(args.payload)),
        ("gift_share", json!(share(args.gift_share))),
        ("low_share", json!(share(args.low_share))),
        ("slow_share", json!(share(args.slow_share))),
        ("duration_s", json!(common.duration)),
    ]);
    (plan, params)
}

pub fn connections(args: &ConnectionsArgs, room_prefix: &str) -> (RunPlan, Map<String, Value>) {
    let plan = RunPlan {
        rooms: vec![room_prefix.to_owned()],
        groups: vec![MemberGroup {
            room_idx: 0,
            first_member: 0,
            count: args.members,
            role: MemberRole::Reader,
        }],
        publishers: vec![],
        churn: None,
        payload_bytes: 0,
        duration: args.common.duration(),
        room_rate_per_sec: 200,
    };
    let params = params(&[
        ("members", json!(args.members)),
        ("duration_s", json!(args.common.duration)),
    ]);
    (plan, params)
}

pub fn join_storm(args: &JoinStormArgs, room_prefix: &str) -> (RunPlan, Map<String, Value>) {
    let common = &args.common;
    let senders = common.senders_for(args.rate, args.senders);
    let plan = RunPlan {
        rooms: vec![room_prefix.to_owned()],
        groups: vec![MemberGroup {
            room_idx: 0,
            first_member: 0,
            count: args.members,
            role: MemberRole::Reader,
        }],
        publishers: room_publishers(0, 0, senders, args.rate, 0.0, 0.0),
        churn: Some(ChurnPlan {
            room_idx: 0,
            joins_per_sec: args.join_rate.max(0.0),
            hold: Duration::from_secs_f64(args.hold.max(0.0)),
            first_member: 10_000_000,
        }),
        payload_bytes: args.payload,
        duration: common.duration(),
        room_rate_per_sec: room_rate_for(args.rate),
    };
    let params = params(&[
        ("members", json!(args.members)),
        ("join_rate", json!(args.join_rate)),
        ("hold_s", json!(args.hold)),
        ("rate", json!(args.rate)),
        ("senders", json!(senders)),
        ("payload", json!(args.payload)),
        ("duration_s", json!(common.duration)),
    ]);
    (plan, params)
}

pub fn rooms(args: &RoomsArgs, room_prefix: &str) -> (RunPlan, Map<String, Value>) {
    let rooms: Vec<String> = (0..args.rooms)
        .map(|i| format!("{room_prefix}-{i}"))
        .collect();
    let groups = (0..args.rooms)
        .map(|room_idx| MemberGroup {
            room_idx,
            first_member: room_idx * args.members_per_room,
            count: args.members_per_room,
            role: MemberRole::Reader,
        })
        .collect();
    let publishers = (0..args.rooms)
        .flat_map(|room_idx| room_publishers(room_idx, room_idx, 1, args.rate_per_room, 0.0, 0.0))
        .collect();
    let plan = RunPlan {
        rooms,
        groups,
        publishers,
        churn: None,
        payload_bytes: args.payload,
        duration: args.common.duration(),
        room_rate_per_sec: room_rate_for(args.rate_per_room),
    };
    let params = params(&[
        ("rooms", json!(args.rooms)),
        ("members_per_room", json!(args.members_per_room)),
        (
            "members",
            json!(u64::from(args.rooms) * u64::from(args.members_per_room)),
        ),
        ("rate_per_room", json!(args.rate_per_room)),
        ("payload", json!(args.payload)),
        ("duration_s", json!(args.common.duration)),
    ]);
    (plan, params)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        live: LiveRoomArgs,
    }

    fn live(args: &[&str]) -> (RunPlan, Map<String, Value>) {
        let cli = Cli::parse_from(std::iter::once("live-room").chain(args.iter().copied()));
        live_room(&cli.live, "room")
    }

    #[test]
    fn live_room_spreads_the_rate_over_enough_publishers() {
        // (flags, publishers, rate per publisher)
        let cases: &[(&[&str], usize, f64)] = &[
            (&[], 20, 10.0),
            (&["--rate", "10"], 1, 10.0),
            (&["--rate", "200", "--senders", "40"], 40, 5.0),
            (&["--rate", "200", "--senders", "2"], 20, 10.0),
            (&["--rate", "150", "--user-rate-limit", "100"], 3, 50.0),
            (&["--rate", "200", "--user-rate-limit", "1000"], 1, 200.0),
        ];
        for (flags, publishers, per) in cases {
            let (plan, params) = live(flags);
            assert_eq!(plan.publishers.len(), *publishers, "{flags:?}");
            assert!(plan
                .publishers
                .iter()
                .all(|p| (p.rate_per_sec - per).abs() < 1e-9));
            assert_eq!(params["senders"], json!(publishers));
            let total: f64 = plan.publishers.iter().map(|p| p.rate_per_sec).sum();
            assert!((total - plan.publishers[0].rate_per_sec * *publishers as f64).abs() < 1e-9);
        }
    }

    #[test]
    fn live_room_members_and_slow_share() {
        let (plan, _) = live(&[
            "--members",
            "1000",
            "--slow-share",
            "0.1",
            "--gift-share",
            "0.2",
        ]);
        assert_eq!(plan.members(), 1000);
        let slow: u32 = plan
            .groups
            .iter()
            .filter(|g| g.role == MemberRole::Slow)
            .map(|g| g.count)
            .sum();
        assert_eq!(slow, 100);
        assert!(plan.publishers.iter().all(|p| p.system_share == 0.2));
        assert_eq!(plan.room_rate_per_sec, 400);
    }

    #[test]
    fn rooms_give_each_room_its_members_and_publisher() {
        let args = RoomsArgs {
            common: Cli::parse_from(["x"]).live.common,
            rooms: 3,
            members_per_room: 4,
            rate_per_room: 2.0,
            payload: 50,
        };
        let (plan, params) = rooms(&args, "r");
        assert_eq!(plan.rooms, vec!["r-0", "r-1", "r-2"]);
        assert_eq!(plan.members(), 12);
        assert_eq!(plan.publishers.len(), 3);
        assert!(plan
            .publishers
            .iter()
            .all(|p| p.sender == p.room_idx && p.rate_per_sec == 2.0));
        assert_eq!(params["members"], json!(12));
    }
}
