//! The coordinator: prepares the target, starts the workers, publishes, samples the
//! server from `/proc`, and turns everything into a [`Report`].
//!
//! Phases: connect (workers open and join every member; a member counts once its join is
//! acknowledged) → publish for the run's duration (publishers run here, paced to their
//! rate, each message numbered per sender and lane) → finish (workers get the accepted
//! counts, drain, and report loss, duplicates and latency).

use crate::accounting::{LaneCounts, PublishedStream, Tally, LANES};
use crate::latency::LatencyHistogram;
use crate::plan::{
    self, PublisherPlan, RunPlan, WorkerCommand, WorkerEvent, WorkerPlan, WorkerResult,
};
use crate::procfs::{self, CpuTimes, ProcessSample, TcpSockstat};
use crate::progress::Progress;
use crate::report::{Churn, LoadGenerator, Report, SlowConsumers, SCHEMA};
use crate::target::{BenchPayload, Publisher};
use crate::target_spec::{BuiltTarget, TargetSpec};
use crate::worker::{self, now_us};
use anyhow::{anyhow, bail, Context};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Sockets one worker process may hold: the process limit is 20000 open files, and a
/// worker needs a few for itself.
pub const MAX_SOCKETS_PER_WORKER: u64 = 18_000;

/// Options that shape how a run is carried out rather than what it measures.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Worker processes; 0 picks one per `sockets_per_worker` sockets.
    pub workers: usize,
    /// Target sockets per worker when choosing the number of workers.
    pub sockets_per_worker: u64,
    pub connect_concurrency: usize,
    pub connect_timeout: Duration,
    /// Run workers as threads of this process instead of child processes.
    pub in_process: bool,
    /// Show a progress bar (only drawn when stderr is a terminal).
    pub progress: bool,
    /// Cores the load generator may run on (its CPU affinity, e.g. one under taskset).
    pub loadgen_core_budget: usize,
}

/// How long one publish may wait for the server's acknowledgement, so that a stuck
/// server cannot keep a run from ending.
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(30);

/// A worker's CPU share at or above this (in cores) means the load generator was the
/// bottleneck.
const SATURATED_CORES: f64 = 0.9;

/// Talks to one worker, whichever way it runs.
enum WorkerLink {
    Process {
        child: Child,
        stdin: ChildStdin,
    },
    Thread {
        commands: mpsc::UnboundedSender<WorkerCommand>,
        thread: std::thread::JoinHandle<()>,
    },
}

impl WorkerLink {
    fn send(&mut self, command: &WorkerCommand) -> anyhow::Result<()> {
        match self {
            WorkerLink::Process { stdin, .. } => {
                serde_json::to_writer(&mut *stdin, command)?;
                stdin.write_all(b"\n")?;
                stdin.flush()?;
            }
            WorkerLink::Thread { commands, .. } => {
                commands
                    .send(command.clone())
                    .map_err(|_| anyhow!("the worker thread has stopped"))?;
            }
        }
        Ok(())
    }

    /// Waits for the worker to end (it ends after sending its result); a process that
    /// does not is killed.
    fn finish(self) {
        match self {
            WorkerLink::Process { mut child, stdin } => {
                drop(stdin);
                let deadline = std::time::Instant::now() + Duration::from_secs(10);
                while std::time::Instant::now() < deadline {
                    if let Ok(Some(_)) = child.try_wait() {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
                let _ = child.kill();
                let _ = child.wait();
            }
            WorkerLink::Thread { commands, thread } => {
                drop(commands);
                let _ = thread.join();
            }
        }
    }
}

fn spawn_worker(
    plan: WorkerPlan,
    in_process: bool,
    events: mpsc::UnboundedSender<(usize, WorkerEvent)>,
) -> anyhow::Result<WorkerLink> {
    let idx = plan.worker_idx;
    if in_process {
        let (command_tx, command_rx) = mpsc::unbounded_channel();
        let (event_tx, mut event_rx) = mpsc::unbounded_channel();
        let thread = std::thread::Builder::new()
            .name(format!("bench-worker-{idx}"))
            .spawn(move || worker::run_blocking(plan, command_rx, event_tx))?;
        tokio::spawn(async move {
            while let Some(event) = event_rx.recv().await {
                if events.send((idx, event)).is_err() {
                    break;
                }
            }
        });
        return Ok(WorkerLink::Thread {
            commands: command_tx,
            thread,
        });
    }
    let exe = std::env::current_exe().context("cannot find this program to start workers")?;
    let mut child = Command::new(exe)
        .args(["bench", "worker"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("cannot start a worker process")?;
    let mut stdin = child.stdin.take().expect("piped stdin");
    let stdout = child.stdout.take().expect("piped stdout");
    serde_json::to_writer(&mut stdin, &plan)?;
    stdin.write_all(b"\n")?;
    stdin.flush()?;
    std::thread::Builder::new()
        .name(format!("bench-worker-{idx}-reader"))
        .spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let event = serde_json::from_str::<WorkerEvent>(&line).unwrap_or_else(|e| {
                    WorkerEvent::Failed {
                        message: format!("unreadable worker output ({e}): {line}"),
                    }
                });
                if events.send((idx, event)).is_err() {
                    break;
                }
            }
        })?;
    Ok(WorkerLink::Process { child, stdin })
}

/// Chooses the lane of each message so that the shares hold over any stretch of messages,
/// without randomness (runs are repeatable): each message goes to the lane furthest
/// behind its share so far.
#[derive(Debug, Clone, Default)]
pub struct LaneMixer {
    shares: [f64; LANES],
    sent: [u64; LANES],
}

impl LaneMixer {
    pub fn new(system_share: f64, low_share: f64) -> LaneMixer {
        let high_share = (1.0 - system_share - low_share).max(0.0);
        LaneMixer {
            shares: [system_share, high_share, low_share],
            sent: [0; LANES],
        }
    }

    /// 0 system, 1 high, 2 low.
    pub fn next_lane(&mut self) -> u8 {
        let n = (self.sent.iter().sum::<u64>() + 1) as f64;
        let mut best = 1;
        let mut best_deficit = f64::NEG_INFINITY;
        for lane in 0..LANES {
            let deficit = n * self.shares[lane] - self.sent[lane] as f64;
            if deficit > best_deficit + 1e-9 {
                best = lane;
                best_deficit = deficit;
            }
        }
        self.sent[best] += 1;
        best as u8
    }
}

#[derive(Debug, Default)]
struct PublisherOutcome {
    sender: u32,
    room_idx: u32,
    accepted: LaneCounts,
    refused: u64,
    errors: Vec<String>,
}

async fn run_publisher(
    mut publisher: Box<dyn Publisher>,
    plan: PublisherPlan,
    payload_bytes: usize,
    has_lanes: bool,
    start: Instant,
    end: Instant,
) -> PublisherOutcome {
    let mut outcome = PublisherOutcome {
        sender: plan.sender,
        room_idx: plan.room_idx,
        ..PublisherOutcome::default()
    };
    if plan.rate_per_sec <= 0.0 {
        return outcome;
    }
    let every = Duration::from_secs_f64(1.0 / plan.rate_per_sec);
    // Spread publishers over the interval so they do not all fire at once.
    let offset = every.mul_f64((f64::from(plan.sender) * 0.618_033_988_75).fract());
    let mut mixer = LaneMixer::new(plan.system_share, plan.low_share);
    for k in 0u64.. {
        let due = start + offset + every.mul_f64(k as f64);
        if due >= end {
            break;
        }
        tokio::time::sleep_until(due).await;
        if Instant::now() >= end {
            break;
        }
        let lane = if has_lanes { mixer.next_lane() } else { 1 };
        let payload = BenchPayload {
            sender: plan.sender,
            seq: outcome.accepted.0[usize::from(lane)],
            sent_at_us: now_us(),
            lane,
        };
        let published = tokio::time::timeout(
            PUBLISH_TIMEOUT,
            publisher.publish(&payload.encode(payload_bytes)),
        )
        .await
        .unwrap_or_else(|_| {
            Err(anyhow!(
                "no acknowledgement within {PUBLISH_TIMEOUT:?} (counted as refused; if the \
                         server took it after all, members count it as unexpected)"
            ))
        });
        match published {
            // Only accepted messages consume a seq, so a refusal is never counted as loss.
            Ok(()) => outcome.accepted.0[usize::from(lane)] += 1,
            Err(e) => {
                outcome.refused += 1;
                let text = format!("publish: {e:#}");
                if outcome.errors.len() < 3 && !outcome.errors.contains(&text) {
                    outcome.errors.push(text);
                }
            }
        }
    }
    outcome
}

/// Samples of the server and the machine at one moment.
#[derive(Debug, Clone, Copy)]
struct Snapshot {
    at: Instant,
    server: Option<ProcessSample>,
    sockstat: Option<TcpSockstat>,
    machine: Option<CpuTimes>,
    own_cpu_s: f64,
    load_average: Option<f64>,
    softirq_cpu_s: Option<f64>,
}

fn snapshot(pid: Option<u32>) -> Snapshot {
    Snapshot {
        at: Instant::now(),
        server: pid.and_then(|pid| procfs::sample_process(pid).ok()),
        sockstat: procfs::sample_sockstat().ok(),
        machine: procfs::sample_cpu_times().ok(),
        own_cpu_s: procfs::own_cpu_s().unwrap_or(0.0),
        load_average: procfs::load_average().ok(),
        softirq_cpu_s: procfs::softirq_threads_cpu_s().ok(),
    }
}

/// Runs a scenario to its end and returns the report.
pub fn run(
    scenario: &str,
    params: serde_json::Map<String, serde_json::Value>,
    plan: RunPlan,
    spec: TargetSpec,
    options: RunOptions,
) -> anyhow::Result<Report> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(coordinate(scenario, params, plan, spec, options))
}

async fn coordinate(
    scenario: &str,
    params: serde_json::Map<String, serde_json::Value>,
    plan: RunPlan,
    spec: TargetSpec,
    options: RunOptions,
) -> anyhow::Result<Report> {
    let started_at = now_us() / 1_000_000;
    let built = spec.build().await?;
    let target = built.as_target();
    if let BuiltTarget::Throng(throng) = &built {
        throng
            .create_rooms(&plan.rooms, plan.room_rate_per_sec)
            .await
            .context("cannot create the benchmark rooms")?;
    }
    let pid = target.server_pid();
    let before = snapshot(pid);

    let sockets = plan.members() + plan.churn_sockets();
    let workers = if options.workers > 0 {
        options.workers
    } else {
        sockets.div_ceil(options.sockets_per_worker.max(1)).max(1) as usize
    };
    let per_worker = sockets.div_ceil(workers as u64);
    if per_worker > MAX_SOCKETS_PER_WORKER {
        bail!(
            "{sockets} sockets over {workers} workers is {per_worker} per worker; at most \
             {MAX_SOCKETS_PER_WORKER} fit in one process (20000 open files): use more --workers"
        );
    }

    let (event_tx, mut event_rx) = mpsc::unbounded_channel();
    let mut links = Vec::new();
    for (worker_idx, (groups, churn)) in plan::split_members(&plan, workers).into_iter().enumerate()
    {
        let worker_plan = WorkerPlan {
            worker_idx,
            source_ip: plan::source_ip(worker_idx),
            target: spec.clone(),
            rooms: plan.rooms.clone(),
            groups,
            churn,
            connect_concurrency: options.connect_concurrency,
            connect_timeout: options.connect_timeout,
        };
        links.push(spawn_worker(
            worker_plan,
            options.in_process,
            event_tx.clone(),
        )?);
    }
    drop(event_tx);

    let mut progress = Progress::new(options.progress);
    progress.connecting(plan.members());
    let mut statuses = vec![plan::WorkerStatus::default(); workers];
    let mut ready = vec![None; workers];
    while ready.iter().any(Option::is_none) {
        let (idx, event) = event_rx
            .recv()
            .await
            .ok_or_else(|| anyhow!("the workers stopped while connecting"))?;
        match event {
            WorkerEvent::Status(status) => {
                statuses[idx] = status;
                progress.set_connected(
                    statuses.iter().map(|s| s.joined).sum(),
                    statuses.iter().map(|s| s.failed).sum(),
                );
            }
            WorkerEvent::Ready {
                joined,
                failed,
                connect_s,
            } => ready[idx] = Some((joined, failed, connect_s)),
            WorkerEvent::Failed { message } => bail!("worker {idx} failed: {message}"),
            WorkerEvent::Result(_) => bail!("worker {idx} reported a result before the run"),
        }
    }
    let joined: u64 = ready.iter().flatten().map(|r| r.0).sum();
    let failed: u64 = ready.iter().flatten().map(|r| r.1).sum();
    let connect_s = ready.iter().flatten().map(|r| r.2).fold(0.0, f64::max);
    // Let the server settle its bookkeeping (and the kernel its buffers) before measuring
    // memory per connection.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let connected = snapshot(pid);

    let mut publishers = Vec::new();
    for publisher_plan in &plan.publishers {
        let room = &plan.rooms[publisher_plan.room_idx as usize];
        let publisher = target
            .publisher(room, publisher_plan.sender as usize)
            .await
            .with_context(|| format!("cannot open publisher {}", publisher_plan.sender))?;
        publishers.push((publisher, *publisher_plan));
    }

    progress.publishing(plan.duration);
    for link in &mut links {
        link.send(&WorkerCommand::Go)?;
    }
    let go = snapshot(pid);
    let go_us = now_us();
    let start = Instant::now() + Duration::from_millis(20);
    let end = start + plan.duration;
    let mut publisher_tasks = Vec::new();
    for (publisher, publisher_plan) in publishers {
        publisher_tasks.push(tokio::spawn(run_publisher(
            publisher,
            publisher_plan,
            plan.payload_bytes,
            spec.has_lanes(),
            start,
            end,
        )));
    }

    // While publishing: follow worker statuses, sample server memory every second.
    let mut peak_rss = connected.server.map(|s| s.rss_bytes);
    let mut latency_ticks: Vec<(u64, u64)> = Vec::new();
    let mut sample_tick = tokio::time::interval(Duration::from_secs(1));
    let mut interval_latency = (0u64, 0u64);
    let mut last_status_at = Instant::now();
    while Instant::now() < end {
        tokio::select! {
            _ = tokio::time::sleep_until(end) => {}
            _ = sample_tick.tick() => {
                if let Some(sample) = pid.and_then(|pid| procfs::sample_process(pid).ok()) {
                    peak_rss = peak_rss.max(Some(sample.rss_bytes));
                }
            }
            event = event_rx.recv() => match event {
                Some((idx, WorkerEvent::Status(status))) => {
                    interval_latency.0 += status.latency_sum_us;
                    interval_latency.1 += status.latency_count;
                    statuses[idx] = status;
                    if last_status_at.elapsed() >= Duration::from_millis(450) {
                        last_status_at = Instant::now();
                        latency_ticks.push(interval_latency);
                        let mean_ms = if interval_latency.1 > 0 {
                            interval_latency.0 as f64 / interval_latency.1 as f64 / 1000.0
                        } else {
                            0.0
                        };
                        interval_latency = (0, 0);
                        progress.set_publishing(
                            start.elapsed(),
                            statuses.iter().map(|s| s.deliveries).sum(),
                            mean_ms,
                        );
                    }
                }
                Some((idx, WorkerEvent::Failed { message })) => bail!("worker {idx} failed: {message}"),
                Some(_) => {}
                None => bail!("the workers stopped while publishing"),
            }
        }
    }
    let mut outcomes = Vec::new();
    for task in publisher_tasks {
        outcomes.push(
            task.await
                .map_err(|e| anyhow!("a publisher panicked: {e}"))?,
        );
    }
    let published_streams: Vec<PublishedStream> = outcomes
        .iter()
        .flat_map(|o| {
            (0..LANES).map(move |lane| PublishedStream {
                sender: o.sender,
                room_idx: o.room_idx,
                lane: lane as u8,
                count: o.accepted.0[lane],
            })
        })
        .collect();
    let publish_end = snapshot(pid);

    progress.finishing();
    for link in &mut links {
        link.send(&WorkerCommand::Finish {
            published: published_streams.clone(),
        })?;
    }
    let mut results: Vec<Option<WorkerResult>> = vec![None; workers];
    let finish_deadline = Instant::now() + Duration::from_secs(60);
    while results.iter().any(Option::is_none) {
        let next = tokio::time::timeout_at(finish_deadline, event_rx.recv())
            .await
            .map_err(|_| anyhow!("workers did not report within 60 s of the end"))?;
        match next {
            Some((idx, WorkerEvent::Result(result))) => results[idx] = Some(*result),
            Some((idx, WorkerEvent::Failed { message })) => bail!("worker {idx} failed: {message}"),
            Some((_, WorkerEvent::Status(status))) => {
                if let Some(sample) = pid.and_then(|pid| procfs::sample_process(pid).ok()) {
                    peak_rss = peak_rss.max(Some(sample.rss_bytes));
                }
                let _ = status;
            }
            Some(_) => {}
            None => bail!("the workers stopped before reporting"),
        }
    }
    let end_snapshot = snapshot(pid);
    progress.done();
    for link in links {
        link.finish();
    }
    if let BuiltTarget::Throng(throng) = &built {
        throng.delete_rooms(&plan.rooms).await;
    }

    let results: Vec<WorkerResult> = results.into_iter().flatten().collect();
    let inputs = ReportInputs {
        scenario,
        params,
        plan: &plan,
        spec: &spec,
        options: &options,
        started_at,
        workers,
        joined,
        failed,
        connect_s,
        outcomes: &outcomes,
        published: &published_streams,
        results: &results,
        before,
        connected,
        go,
        go_us,
        publish_end,
        end: end_snapshot,
        peak_rss,
        latency_ticks: &latency_ticks,
    };
    Ok(build_report(inputs))
}

struct ReportInputs<'a> {
    scenario: &'a str,
    params: serde_json::Map<String, serde_json::Value>,
    plan: &'a RunPlan,
    spec: &'a TargetSpec,
    options: &'a RunOptions,
    started_at: u64,
    workers: usize,
    joined: u64,
    failed: u64,
    connect_s: f64,
    outcomes: &'a [PublisherOutcome],
    published: &'a [PublishedStream],
    results: &'a [WorkerResult],
    before: Snapshot,
    connected: Snapshot,
    go: Snapshot,
    go_us: u64,
    publish_end: Snapshot,
    end: Snapshot,
    peak_rss: Option<u64>,
    latency_ticks: &'a [(u64, u64)],
}

fn build_report(inputs: ReportInputs<'_>) -> Report {
    let ReportInputs {
        scenario,
        params,
        plan,
        spec,
        options,
        started_at,
        workers,
        joined,
        failed,
        connect_s,
        outcomes,
        published,
        results,
        before,
        connected,
        go,
        go_us,
        publish_end,
        end,
        peak_rss,
        latency_ticks,
    } = inputs;
    let mut accepted = LaneCounts::default();
    for outcome in outcomes {
        accepted.add(&outcome.accepted);
    }
    let mut readers = Tally::default();
    let mut slow = Tally::default();
    let mut latency = LatencyHistogram::new();
    let mut join_latency = LatencyHistogram::new();
    let mut errors: Vec<String> = Vec::new();
    for result in results {
        readers.add(&result.readers);
        slow.add(&result.slow);
        latency.add_buckets(&result.latency);
        join_latency.add_buckets(&result.join_latency);
        errors.extend(result.errors.iter().cloned());
    }
    for outcome in outcomes {
        errors.extend(outcome.errors.iter().cloned());
    }
    errors.sort();
    errors.dedup();
    errors.truncate(12);
    let deliveries: u64 = results.iter().map(|r| r.deliveries).sum();
    let slow_count: u64 = results.iter().map(|r| r.slow_count).sum();
    // Every reader should get what its room's publishers had accepted: what arrived
    // (first copies of published seqs) plus what was lost.
    let _ = published;
    let expected_deliveries =
        readers.received - readers.duplicates - readers.unexpected + readers.lost.total();

    let last_delivery_us = results
        .iter()
        .map(|r| r.last_delivery_us)
        .max()
        .unwrap_or(0);
    let delivery_window_s = if last_delivery_us > go_us {
        (last_delivery_us - go_us) as f64 / 1e6
    } else {
        plan.duration.as_secs_f64()
    };
    let deliveries_per_sec = if deliveries > 0 {
        deliveries as f64 / delivery_window_s.max(1e-3)
    } else {
        0.0
    };

    let server_cpu_s = match (go.server, end.server) {
        (Some(a), Some(b)) => Some((b.cpu_s - a.cpu_s).max(0.0)),
        _ => None,
    };
    let server_cpu_s_per_million = server_cpu_s
        .filter(|_| deliveries > 0)
        .map(|cpu| cpu / (deliveries as f64 / 1e6));
    let rss_per_connection = match (before.server, connected.server) {
        (Some(a), Some(b)) if joined > 0 => {
            Some((b.rss_bytes as f64 - a.rss_bytes as f64) / joined as f64)
        }
        _ => None,
    };
    let page = procfs::page_size();
    let kernel_per_connection = match (before.sockstat, connected.sockstat) {
        (Some(a), Some(b)) if joined > 0 => {
            Some((b.mem_pages as f64 - a.mem_pages as f64) * page as f64 / joined as f64)
        }
        _ => None,
    };

    // How hard the load generator worked while publishing.
    let max_worker_cores = results
        .iter()
        .filter(|r| r.wall_s > 0.0)
        .map(|r| r.cpu_s / r.wall_s)
        .fold(0.0, f64::max);
    let publish_wall = publish_end.at.duration_since(go.at).as_secs_f64().max(1e-3);
    let coordinator_cores = (publish_end.own_cpu_s - go.own_cpu_s).max(0.0) / publish_wall;
    let machine_busy = match (go.machine, publish_end.machine) {
        (Some(a), Some(b)) if b.total > a.total => {
            (b.busy - a.busy) as f64 / (b.total - a.total) as f64
        }
        _ => 0.0,
    };
    let server_cores = match (go.server, publish_end.server) {
        (Some(a), Some(b)) => (b.cpu_s - a.cpu_s).max(0.0) / publish_wall,
        _ => 0.0,
    };
    let latency_growth = latency_growth(latency_ticks);
    let mut reasons = Vec::new();
    if options.in_process {
        if coordinator_cores >= SATURATED_CORES {
            reasons.push(format!(
                "the load generator (in process) used {coordinator_cores:.2} cores"
            ));
        }
    } else {
        if max_worker_cores >= SATURATED_CORES {
            reasons.push(format!(
                "the busiest worker used {max_worker_cores:.2} cores (one thread: at most 1.0)"
            ));
        }
        if coordinator_cores >= SATURATED_CORES {
            reasons.push(format!(
                "the coordinator (publishers) used {coordinator_cores:.2} cores"
            ));
        }
    }
    let loadgen_cores = if options.in_process {
        coordinator_cores
    } else {
        coordinator_cores
            + results
                .iter()
                .filter(|r| r.wall_s > 0.0)
                .map(|r| r.cpu_s / r.wall_s)
                .sum::<f64>()
    };
    // The cores the load generator may run on (fewer than the machine's under taskset):
    // workers that share them are saturated together even if none is alone.
    let budget = options.loadgen_core_budget.max(1) as f64;
    if !options.in_process && loadgen_cores >= SATURATED_CORES * budget {
        reasons.push(format!(
            "the load generator used {loadgen_cores:.2} of the {budget} cores it may run on"
        ));
    }
    // Kernel threads that process loopback traffic (softirq), and what the rest of the
    // machine used meanwhile: on a shared machine other processes take CPU from both the
    // server and the load generator.
    let softirq_cores = match (go.softirq_cpu_s, publish_end.softirq_cpu_s) {
        (Some(a), Some(b)) => (b - a).max(0.0) / publish_wall,
        _ => 0.0,
    };
    let machine = procfs::machine();
    let cores = machine.cores.max(1) as f64;
    let other_cores =
        (machine_busy * cores - server_cores - loadgen_cores - softirq_cores).max(0.0);
    if let Some(growth) = latency_growth.filter(|g| *g > 3.0) {
        if max_worker_cores >= 0.75 || loadgen_cores >= 0.75 * budget {
            reasons.push(format!(
                "receive latency grew {growth:.1}x during the run while workers were busy"
            ));
        }
    }

    let slow_section = (slow_count > 0).then(|| SlowConsumers {
        members: slow_count,
        lost: slow.lost.into(),
        closed_by_server: results.iter().map(|r| r.slow_closed).sum(),
    });
    let churn_section = plan.churn.map(|_| {
        let joins: u64 = results.iter().map(|r| r.churn_joins).sum();
        Churn {
            joins,
            join_failures: results.iter().map(|r| r.churn_failures).sum(),
            joins_per_sec: joins as f64 / plan.duration.as_secs_f64().max(1e-3),
            join_latency_ms: join_latency.summary(),
        }
    });

    Report {
        schema: SCHEMA.to_owned(),
        scenario: scenario.to_owned(),
        target: spec.name().to_owned(),
        started_at,
        params,
        connections: joined,
        connections_failed: failed,
        connect_rate_per_sec: if connect_s > 0.0 {
            joined as f64 / connect_s
        } else {
            0.0
        },
        published: accepted.into(),
        publish_refused: outcomes.iter().map(|o| o.refused).sum(),
        deliveries,
        deliveries_per_sec,
        expected_deliveries,
        latency_ms: latency.summary(),
        lost: readers.lost.into(),
        duplicates: readers.duplicates + slow.duplicates,
        unexpected: readers.unexpected + slow.unexpected,
        slow: slow_section,
        churn: churn_section,
        closed_by_server: results.iter().map(|r| r.readers_closed).sum(),
        server_cpu_s,
        server_cpu_s_per_million,
        server_rss_bytes: peak_rss,
        server_rss_before_bytes: before.server.map(|s| s.rss_bytes),
        server_rss_connected_bytes: connected.server.map(|s| s.rss_bytes),
        server_rss_per_connection_bytes: rss_per_connection,
        kernel_tcp_mem_per_connection_bytes: kernel_per_connection,
        kernel_tcp_mem_connected_bytes: connected.sockstat.map_or(0, |s| s.mem_pages * page),
        load_generator: LoadGenerator {
            workers,
            in_process: options.in_process,
            max_worker_cpu_cores: max_worker_cores,
            coordinator_cpu_cores: coordinator_cores,
            machine_cpu_busy_share: machine_busy,
            server_cpu_cores: server_cores,
            cpu_cores: loadgen_cores,
            core_budget: options.loadgen_core_budget,
            kernel_softirq_cpu_cores: softirq_cores,
            other_cpu_cores: other_cores,
            latency_growth,
            saturated_reasons: reasons.clone(),
        },
        loadgen_saturated: !reasons.is_empty(),
        machine,
        load_average_before: before.load_average,
        errors,
    }
}

/// Mean latency over the last third of the status ticks divided by the first third's.
pub fn latency_growth(ticks: &[(u64, u64)]) -> Option<f64> {
    let ticks: Vec<(u64, u64)> = ticks.iter().copied().filter(|t| t.1 > 0).collect();
    if ticks.len() < 3 {
        return None;
    }
    let third = ticks.len() / 3;
    let mean = |part: &[(u64, u64)]| {
        let (sum, count) = part
            .iter()
            .fold((0u64, 0u64), |acc, t| (acc.0 + t.0, acc.1 + t.1));
        sum as f64 / count as f64
    };
    let first = mean(&ticks[..third]);
    let last = mean(&ticks[ticks.len() - third..]);
    (first > 0.0).then(|| last / first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lane_mixer_keeps_shares_exactly() {
        // (system share, low share, messages, expected system, high, low)
        let cases = [
            (0.0, 0.0, 100, 0, 100, 0),
            (0.1, 0.0, 100, 10, 90, 0),
            (0.25, 0.25, 100, 25, 50, 25),
            (1.0, 0.0, 7, 7, 0, 0),
            (0.0, 1.0, 7, 0, 0, 7),
            (0.5, 0.0, 10, 5, 5, 0),
            (0.1, 0.3, 1000, 100, 600, 300),
        ];
        for (system, low, n, e_system, e_high, e_low) in cases {
            let mut mixer = LaneMixer::new(system, low);
            let mut counts = [0u64; 3];
            for _ in 0..n {
                counts[usize::from(mixer.next_lane())] += 1;
            }
            assert_eq!(
                counts,
                [e_system, e_high, e_low],
                "system {system}, low {low}"
            );
        }
    }

    #[test]
    fn latency_growth_compares_the_last_third_with_the_first() {
        let steady = [(1000, 10); 9];
        assert_eq!(latency_growth(&steady), Some(1.0));
        let growing = [
            (100, 1),
            (100, 1),
            (100, 1),
            (200, 1),
            (200, 1),
            (200, 1),
            (900, 1),
            (900, 1),
            (900, 1),
        ];
        assert_eq!(latency_growth(&growing), Some(9.0));
        // Too few ticks, or ticks with no deliveries, give no figure.
        assert_eq!(latency_growth(&[(1, 1), (1, 1)]), None);
        assert_eq!(latency_growth(&[(0, 0); 9]), None);
    }
}
