//! What a run does, as data: the members, publishers and churn a scenario asks for, how
//! they are split over worker processes, and the messages between the coordinator and its
//! workers (JSON lines over the workers' stdin and stdout).

use crate::accounting::{PublishedStream, Tally};
use crate::target_spec::TargetSpec;
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

/// How a member behaves once publishing starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MemberRole {
    /// Reads everything; its losses are the run's losses.
    Reader,
    /// Stops reading when publishing starts and reads again when it stops.
    Slow,
}

/// Consecutive members of one room with one role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberGroup {
    pub room_idx: u32,
    /// Index of the group's first member across the whole run (for user names).
    pub first_member: u32,
    pub count: u32,
    pub role: MemberRole,
}

/// One publisher, run by the coordinator.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PublisherPlan {
    pub sender: u32,
    pub room_idx: u32,
    pub rate_per_sec: f64,
    /// Share of messages sent in the system lane (gifts) and in the low lane.
    pub system_share: f64,
    pub low_share: f64,
}

/// Members joining and leaving: each opens a connection, joins, stays `hold`, leaves.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ChurnPlan {
    pub room_idx: u32,
    pub joins_per_sec: f64,
    pub hold: Duration,
    /// First member index used for churners' user names.
    pub first_member: u32,
}

/// A whole run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunPlan {
    pub rooms: Vec<String>,
    pub groups: Vec<MemberGroup>,
    pub publishers: Vec<PublisherPlan>,
    pub churn: Option<ChurnPlan>,
    pub payload_bytes: usize,
    /// How long publishers publish (or, with none, how long connections are held).
    pub duration: Duration,
    /// The room rate limit to create rooms with.
    pub room_rate_per_sec: u32,
}

impl RunPlan {
    pub fn members(&self) -> u64 {
        self.groups.iter().map(|g| u64::from(g.count)).sum()
    }

    /// Sockets churn holds open at once (joins per second × hold), rounded up.
    pub fn churn_sockets(&self) -> u64 {
        self.churn.map_or(0, |c| {
            (c.joins_per_sec * c.hold.as_secs_f64()).ceil() as u64 + 1
        })
    }
}

/// What one worker process is given.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorkerPlan {
    pub worker_idx: usize,
    pub source_ip: IpAddr,
    pub target: TargetSpec,
    pub rooms: Vec<String>,
    pub groups: Vec<MemberGroup>,
    pub churn: Option<ChurnPlan>,
    /// Connections opened at once while connecting.
    pub connect_concurrency: usize,
    pub connect_timeout: Duration,
}

/// The source address of worker `k`: 127.0.0.(10 + k), then on into the next octets, so
/// each worker has its own range of source ports towards the server.
pub fn source_ip(worker_idx: usize) -> IpAddr {
    let n = 10 + worker_idx as u32;
    IpAddr::V4(Ipv4Addr::new(127, 0, (n >> 8) as u8, (n & 0xff) as u8))
}

/// Splits the members (and churn) of `plan` over `workers` workers as evenly as possible,
/// keeping each group's members consecutive.
pub fn split_members(plan: &RunPlan, workers: usize) -> Vec<(Vec<MemberGroup>, Option<ChurnPlan>)> {
    let workers = workers.max(1);
    let total = plan.members();
    let mut shares: Vec<Vec<MemberGroup>> = vec![Vec::new(); workers];
    let mut worker = 0;
    // Members given to `worker` so far, and how many it should get in all.
    let mut filled = 0u64;
    let quota = |w: usize| total / workers as u64 + u64::from((w as u64) < total % workers as u64);
    for group in &plan.groups {
        let mut group = *group;
        while group.count > 0 {
            while worker < workers - 1 && filled >= quota(worker) {
                worker += 1;
                filled = 0;
            }
            let room = if worker == workers - 1 {
                u64::from(group.count)
            } else {
                quota(worker) - filled
            };
            let take = u64::from(group.count).min(room) as u32;
            shares[worker].push(MemberGroup {
                count: take,
                ..group
            });
            filled += u64::from(take);
            group.first_member += take;
            group.count -= take;
        }
    }
    shares
        .into_iter()
        .enumerate()
        .map(|(w, groups)| {
            let churn = plan.churn.map(|c| ChurnPlan {
                joins_per_sec: c.joins_per_sec / workers as f64,
                first_member: c.first_member + (w as u32) * 1_000_000,
                ..c
            });
            (groups, churn)
        })
        .collect()
}

/// Coordinator → worker.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum WorkerCommand {
    /// Publishing starts now: slow members stop reading, churn begins, counting begins.
    Go,
    /// Publishing ended with these accepted counts: drain, tally and report.
    Finish { published: Vec<PublishedStream> },
}

/// Worker → coordinator.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum WorkerEvent {
    Status(WorkerStatus),
    /// Every member tried to connect (joined or failed).
    Ready {
        joined: u64,
        failed: u64,
        connect_s: f64,
    },
    Result(Box<WorkerResult>),
    /// The worker could not run at all.
    Failed {
        message: String,
    },
}

/// A worker's counters, sent every half second.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct WorkerStatus {
    pub joined: u64,
    pub failed: u64,
    pub deliveries: u64,
    /// The worker process's CPU seconds so far.
    pub cpu_s: f64,
    /// Latency of deliveries since the previous status: sum, count and max, in µs.
    pub latency_sum_us: u64,
    pub latency_count: u64,
    pub latency_max_us: u64,
}

/// A worker's final figures.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct WorkerResult {
    pub joined: u64,
    pub failed: u64,
    /// Payloads received by every member, duplicates included, since `Go`.
    pub deliveries: u64,
    /// Microseconds since the epoch of the last delivery.
    pub last_delivery_us: u64,
    pub readers: Tally,
    pub reader_count: u64,
    pub slow: Tally,
    pub slow_count: u64,
    pub readers_closed: u64,
    pub slow_closed: u64,
    /// Latency buckets (µs, count) of deliveries to readers and churners.
    pub latency: Vec<(u64, u64)>,
    /// CPU seconds of the worker process and wall seconds, from `Go` to `Finish`.
    pub cpu_s: f64,
    pub wall_s: f64,
    pub churn_joins: u64,
    pub churn_failures: u64,
    pub join_latency: Vec<(u64, u64)>,
    pub errors: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(groups: &[(u32, u32, MemberRole)]) -> RunPlan {
        let mut first = 0;
        RunPlan {
            rooms: vec!["r".into()],
            groups: groups
                .iter()
                .map(|&(room_idx, count, role)| {
                    let g = MemberGroup {
                        room_idx,
                        first_member: first,
                        count,
                        role,
                    };
                    first += count;
                    g
                })
                .collect(),
            publishers: vec![],
            churn: None,
            payload_bytes: 100,
            duration: Duration::from_secs(1),
            room_rate_per_sec: 200,
        }
    }

    #[test]
    fn members_are_split_evenly_and_completely() {
        use MemberRole::*;
        type Groups<'a> = &'a [(u32, u32, MemberRole)];
        let cases: &[(Groups, usize, &[u64])] = &[
            (&[(0, 10, Reader)], 1, &[10]),
            (&[(0, 10, Reader)], 3, &[4, 3, 3]),
            (&[(0, 18_000, Reader)], 2, &[9000, 9000]),
            (&[(0, 90, Reader), (0, 10, Slow)], 2, &[50, 50]),
            (
                &[(0, 10, Reader), (1, 10, Reader), (2, 10, Reader)],
                2,
                &[15, 15],
            ),
            (&[(0, 2, Reader)], 4, &[1, 1, 0, 0]),
            (&[], 2, &[0, 0]),
        ];
        for (groups, workers, expect) in cases {
            let plan = plan(groups);
            let shares = split_members(&plan, *workers);
            let sizes: Vec<u64> = shares
                .iter()
                .map(|(g, _)| g.iter().map(|g| u64::from(g.count)).sum())
                .collect();
            assert_eq!(&sizes, expect, "{groups:?} over {workers}");
            // Every member index appears exactly once, with its room and role.
            let mut seen: Vec<(u32, u32, MemberRole)> = shares
                .iter()
                .flat_map(|(g, _)| g.iter())
                .flat_map(|g| (0..g.count).map(move |i| (g.first_member + i, g.room_idx, g.role)))
                .collect();
            seen.sort_by_key(|s| s.0);
            let want: Vec<(u32, u32, MemberRole)> = plan
                .groups
                .iter()
                .flat_map(|g| (0..g.count).map(move |i| (g.first_member + i, g.room_idx, g.role)))
                .collect();
            assert_eq!(seen, want);
        }
    }

    #[test]
    fn workers_get_their_own_source_addresses() {
        assert_eq!(source_ip(0).to_string(), "127.0.0.10");
        assert_eq!(source_ip(3).to_string(), "127.0.0.13");
        assert_eq!(source_ip(246).to_string(), "127.0.1.0");
    }
}
