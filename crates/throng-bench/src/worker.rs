//! A worker: holds up to ~18k subscribers from its own source address, counts what they
//! receive, and reports to the coordinator.
//!
//! It runs on one thread (a current-thread runtime and a `LocalSet`), so its counters are
//! plain `Cell`s and its CPU use says directly whether it kept up: a worker near one full
//! core was the bottleneck. On the hot path a member task only scans frames for payloads,
//! marks them in its own bitset and records one latency per payload.

use crate::accounting::{PublishedStream, SeqTracker, Tally};
use crate::latency::LatencyHistogram;
use crate::plan::{
    ChurnPlan, MemberRole, WorkerCommand, WorkerEvent, WorkerPlan, WorkerResult, WorkerStatus,
};
use crate::procfs;
use crate::target::{BenchPayload, Target};
use std::cell::{Cell, RefCell};
use std::io::{BufRead, Write};
use std::net::IpAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::time::Instant;

/// At most this many error texts are kept and reported.
const MAX_ERRORS: usize = 8;

/// How often a worker reports its counters.
const STATUS_EVERY: Duration = Duration::from_millis(500);

/// After `Finish`, a worker stops waiting once nothing arrived for this long (generous, so
/// that a busy machine's pause is not counted as loss)…
const DRAIN_QUIET: Duration = Duration::from_secs(5);
/// …or at the latest after this long.
const DRAIN_MAX: Duration = Duration::from_secs(20);

/// Microseconds since the Unix epoch: the clock payload timestamps use.
pub fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Connecting,
    Publishing,
    Draining,
}

struct Slot {
    room_idx: u32,
    role: MemberRole,
    tracker: SeqTracker,
    /// The join was acknowledged; members that never joined are counted as failed
    /// connections instead, and nothing is expected for them.
    joined: bool,
    closed: bool,
}

#[derive(Default)]
struct Interval {
    sum_us: u64,
    count: u64,
    max_us: u64,
}

struct Shared {
    phase: watch::Sender<Phase>,
    slots: RefCell<Vec<Slot>>,
    joined: Cell<u64>,
    failed: Cell<u64>,
    deliveries: Cell<u64>,
    /// First copies received by readers, to know when everything expected has arrived.
    fresh_reader_deliveries: Cell<u64>,
    last_delivery_us: Cell<u64>,
    latency: RefCell<LatencyHistogram>,
    interval: RefCell<Interval>,
    churn_joins: Cell<u64>,
    churn_failures: Cell<u64>,
    join_latency: RefCell<LatencyHistogram>,
    errors: RefCell<Vec<String>>,
}

impl Shared {
    fn note_error(&self, error: String) {
        let mut errors = self.errors.borrow_mut();
        if errors.len() < MAX_ERRORS && !errors.contains(&error) {
            errors.push(error);
        }
    }

    /// Accounts one frame's payloads for member `slot` (or a churner, with no slot).
    fn deliver(&self, slot: Option<usize>, payloads: &[BenchPayload]) {
        let now = now_us();
        self.deliveries
            .set(self.deliveries.get() + payloads.len() as u64);
        self.last_delivery_us.set(now);
        let role = match slot {
            Some(idx) => {
                let mut slots = self.slots.borrow_mut();
                let slot = &mut slots[idx];
                let mut fresh = 0;
                for payload in payloads {
                    fresh += u64::from(slot.tracker.record(payload));
                }
                if slot.role == MemberRole::Reader {
                    self.fresh_reader_deliveries
                        .set(self.fresh_reader_deliveries.get() + fresh);
                }
                slot.role
            }
            None => MemberRole::Reader,
        };
        if role == MemberRole::Slow {
            return;
        }
        let mut latency = self.latency.borrow_mut();
        let mut interval = self.interval.borrow_mut();
        for payload in payloads {
            let us = now.saturating_sub(payload.sent_at_us);
            latency.record_us(us);
            interval.sum_us += us;
            interval.count += 1;
            interval.max_us = interval.max_us.max(us);
        }
    }

    fn status(&self) -> WorkerStatus {
        let interval = std::mem::take(&mut *self.interval.borrow_mut());
        WorkerStatus {
            joined: self.joined.get(),
            failed: self.failed.get(),
            deliveries: self.deliveries.get(),
            cpu_s: procfs::own_cpu_s().unwrap_or(0.0),
            latency_sum_us: interval.sum_us,
            latency_count: interval.count,
            latency_max_us: interval.max_us,
        }
    }
}

/// Runs a worker on the current thread until it has reported its result (or the
/// coordinator went away).
pub fn run_blocking(
    plan: WorkerPlan,
    commands: mpsc::UnboundedReceiver<WorkerCommand>,
    events: mpsc::UnboundedSender<WorkerEvent>,
) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            let _ = events.send(WorkerEvent::Failed {
                message: format!("cannot start a runtime: {e}"),
            });
            return;
        }
    };
    let local = tokio::task::LocalSet::new();
    local.block_on(&runtime, async move {
        if let Err(e) = run(plan, commands, &events).await {
            let _ = events.send(WorkerEvent::Failed {
                message: format!("{e:#}"),
            });
        }
    });
}

/// `throng bench worker`: the plan is the first line of stdin, commands follow one per
/// line; events go to stdout one JSON object per line.
pub fn run_stdio() -> anyhow::Result<()> {
    let stdin = std::io::stdin();
    let mut first = String::new();
    stdin.lock().read_line(&mut first)?;
    let plan: WorkerPlan = serde_json::from_str(&first)
        .map_err(|e| anyhow::anyhow!("the worker's first input line is not a plan: {e}"))?;
    let (command_tx, command_rx) = mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            match serde_json::from_str::<WorkerCommand>(&line) {
                Ok(command) => {
                    if command_tx.send(command).is_err() {
                        break;
                    }
                }
                Err(e) => eprintln!("worker: ignoring a bad command line: {e}"),
            }
        }
    });
    let (event_tx, mut event_rx) = mpsc::unbounded_channel::<WorkerEvent>();
    let writer = std::thread::spawn(move || -> std::io::Result<()> {
        let stdout = std::io::stdout();
        while let Some(event) = event_rx.blocking_recv() {
            let mut out = stdout.lock();
            serde_json::to_writer(&mut out, &event)?;
            out.write_all(b"\n")?;
            out.flush()?;
        }
        Ok(())
    });
    run_blocking(plan, command_rx, event_tx);
    writer
        .join()
        .map_err(|_| anyhow::anyhow!("the worker's output thread panicked"))??;
    Ok(())
}

async fn run(
    plan: WorkerPlan,
    mut commands: mpsc::UnboundedReceiver<WorkerCommand>,
    events: &mpsc::UnboundedSender<WorkerEvent>,
) -> anyhow::Result<()> {
    let target = plan.target.build().await?.as_target();
    let (phase, _) = watch::channel(Phase::Connecting);
    let shared = Rc::new(Shared {
        phase,
        slots: RefCell::new(Vec::new()),
        joined: Cell::new(0),
        failed: Cell::new(0),
        deliveries: Cell::new(0),
        fresh_reader_deliveries: Cell::new(0),
        last_delivery_us: Cell::new(0),
        latency: RefCell::new(LatencyHistogram::new()),
        interval: RefCell::new(Interval::default()),
        churn_joins: Cell::new(0),
        churn_failures: Cell::new(0),
        join_latency: RefCell::new(LatencyHistogram::new()),
        errors: RefCell::new(Vec::new()),
    });
    let permits = Rc::new(Semaphore::new(plan.connect_concurrency.max(1)));
    let connect_started = Instant::now();
    for group in &plan.groups {
        let room = plan.rooms[group.room_idx as usize].clone();
        for i in 0..group.count {
            let slot = {
                let mut slots = shared.slots.borrow_mut();
                slots.push(Slot {
                    room_idx: group.room_idx,
                    role: group.role,
                    tracker: SeqTracker::new(),
                    joined: false,
                    closed: false,
                });
                slots.len() - 1
            };
            tokio::task::spawn_local(member(
                shared.clone(),
                target.clone(),
                plan.source_ip,
                room.clone(),
                slot,
                (group.first_member + i) as usize,
                permits.clone(),
                plan.connect_timeout,
            ));
        }
    }
    let members = shared.slots.borrow().len() as u64;

    let status_shared = shared.clone();
    let status_events = events.clone();
    let status_task = tokio::task::spawn_local(async move {
        let mut tick = tokio::time::interval(STATUS_EVERY);
        loop {
            tick.tick().await;
            if status_events
                .send(WorkerEvent::Status(status_shared.status()))
                .is_err()
            {
                break;
            }
        }
    });

    while shared.joined.get() + shared.failed.get() < members {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = events.send(WorkerEvent::Ready {
        joined: shared.joined.get(),
        failed: shared.failed.get(),
        connect_s: connect_started.elapsed().as_secs_f64(),
    });

    // A `Finish` before any `Go` (a run with nothing to publish) starts and ends at once.
    let early_finish = match commands.recv().await {
        Some(WorkerCommand::Go) => None,
        Some(WorkerCommand::Finish { published }) => Some(published),
        None => return Ok(()),
    };
    let go_at = Instant::now();
    let go_cpu = procfs::own_cpu_s().unwrap_or(0.0);
    let _ = shared.phase.send(Phase::Publishing);
    let churn_task = plan.churn.map(|churn| {
        tokio::task::spawn_local(run_churn(
            shared.clone(),
            target.clone(),
            plan.source_ip,
            plan.rooms[churn.room_idx as usize].clone(),
            churn,
            plan.connect_timeout,
        ))
    });
    let published = match early_finish {
        Some(published) => published,
        None => loop {
            match commands.recv().await {
                Some(WorkerCommand::Finish { published }) => break published,
                Some(WorkerCommand::Go) => continue,
                None => return Ok(()),
            }
        },
    };
    let cpu_s = procfs::own_cpu_s().unwrap_or(0.0) - go_cpu;
    let wall_s = go_at.elapsed().as_secs_f64();
    let _ = shared.phase.send(Phase::Draining);
    if let Some(task) = churn_task {
        task.abort();
    }
    drain(&shared, &published).await;
    status_task.abort();

    let result = tally(&shared, &published, cpu_s, wall_s);
    let _ = events.send(WorkerEvent::Result(Box::new(result)));
    Ok(())
}

/// Waits until readers have everything that was published, or nothing arrives for a
/// while, or the drain deadline passes.
async fn drain(shared: &Shared, published: &[PublishedStream]) {
    let expected: u64 = shared
        .slots
        .borrow()
        .iter()
        .filter(|s| s.role == MemberRole::Reader && s.joined && !s.closed)
        .map(|s| {
            published
                .iter()
                .filter(|p| p.room_idx == s.room_idx)
                .map(|p| p.count)
                .sum::<u64>()
        })
        .sum();
    let started = Instant::now();
    let mut last_count = shared.deliveries.get();
    let mut last_change = Instant::now();
    while started.elapsed() < DRAIN_MAX {
        if shared.fresh_reader_deliveries.get() >= expected
            && started.elapsed() > Duration::from_millis(500)
        {
            // Slow members get a moment to read what is left for them too.
            if last_change.elapsed() > Duration::from_millis(500) {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        let count = shared.deliveries.get();
        if count != last_count {
            last_count = count;
            last_change = Instant::now();
        } else if last_change.elapsed() > DRAIN_QUIET {
            break;
        }
    }
}

fn tally(shared: &Shared, published: &[PublishedStream], cpu_s: f64, wall_s: f64) -> WorkerResult {
    let slots = shared.slots.borrow();
    let mut result = WorkerResult {
        joined: shared.joined.get(),
        failed: shared.failed.get(),
        deliveries: shared.deliveries.get(),
        last_delivery_us: shared.last_delivery_us.get(),
        latency: shared.latency.borrow().to_buckets(),
        cpu_s,
        wall_s,
        churn_joins: shared.churn_joins.get(),
        churn_failures: shared.churn_failures.get(),
        join_latency: shared.join_latency.borrow().to_buckets(),
        errors: shared.errors.borrow().clone(),
        ..WorkerResult::default()
    };
    let mut readers = Tally::default();
    let mut slow = Tally::default();
    for slot in slots.iter().filter(|s| s.joined) {
        let member = slot.tracker.tally(slot.room_idx, published);
        match slot.role {
            MemberRole::Reader => {
                readers.add(&member);
                result.reader_count += 1;
                result.readers_closed += u64::from(slot.closed);
            }
            MemberRole::Slow => {
                slow.add(&member);
                result.slow_count += 1;
                result.slow_closed += u64::from(slot.closed);
            }
        }
    }
    result.readers = readers;
    result.slow = slow;
    result
}

#[allow(clippy::too_many_arguments)]
async fn member(
    shared: Rc<Shared>,
    target: Arc<dyn Target>,
    source_ip: IpAddr,
    room: String,
    slot: usize,
    member_idx: usize,
    permits: Rc<Semaphore>,
    connect_timeout: Duration,
) {
    let permit = permits.acquire().await;
    let subscribed = tokio::time::timeout(
        connect_timeout,
        target.subscribe(source_ip, &room, member_idx),
    )
    .await;
    drop(permit);
    let mut subscriber = match subscribed {
        Ok(Ok(subscriber)) => {
            shared.joined.set(shared.joined.get() + 1);
            shared.slots.borrow_mut()[slot].joined = true;
            subscriber
        }
        Ok(Err(e)) => {
            shared.failed.set(shared.failed.get() + 1);
            shared.note_error(format!("connect/join: {e:#}"));
            return;
        }
        Err(_) => {
            shared.failed.set(shared.failed.get() + 1);
            shared.note_error(format!(
                "connect/join: no answer within {connect_timeout:?}"
            ));
            return;
        }
    };
    let role = shared.slots.borrow()[slot].role;
    let mut phase = shared.phase.subscribe();
    let mut payloads = Vec::with_capacity(64);
    loop {
        if role == MemberRole::Slow && *phase.borrow() == Phase::Publishing {
            let _ = phase.wait_for(|p| *p != Phase::Publishing).await;
        }
        match subscriber.next(&mut payloads).await {
            Ok(true) => {
                if !payloads.is_empty() {
                    shared.deliver(Some(slot), &payloads);
                    payloads.clear();
                }
            }
            Ok(false) => {
                if *phase.borrow() != Phase::Draining {
                    shared.note_error("the server closed a member's connection".to_owned());
                }
                shared.slots.borrow_mut()[slot].closed = true;
                break;
            }
            Err(e) => {
                shared.note_error(format!("member read: {e:#}"));
                shared.slots.borrow_mut()[slot].closed = true;
                break;
            }
        }
    }
}

/// Opens a connection at `joins_per_sec`, joins, stays `hold`, and leaves by closing.
async fn run_churn(
    shared: Rc<Shared>,
    target: Arc<dyn Target>,
    source_ip: IpAddr,
    room: String,
    churn: ChurnPlan,
    connect_timeout: Duration,
) {
    if churn.joins_per_sec <= 0.0 {
        return;
    }
    let every = Duration::from_secs_f64(1.0 / churn.joins_per_sec);
    let started = Instant::now();
    for k in 0u64.. {
        tokio::time::sleep_until(started + every.mul_f64(k as f64)).await;
        let shared = shared.clone();
        let target = target.clone();
        let room = room.clone();
        let member_idx = churn.first_member as usize + k as usize;
        tokio::task::spawn_local(async move {
            let opened = Instant::now();
            let subscribed = tokio::time::timeout(
                connect_timeout,
                target.subscribe(source_ip, &room, member_idx),
            )
            .await;
            let mut subscriber = match subscribed {
                Ok(Ok(subscriber)) => subscriber,
                Ok(Err(e)) => {
                    shared.churn_failures.set(shared.churn_failures.get() + 1);
                    shared.note_error(format!("churn join: {e:#}"));
                    return;
                }
                Err(_) => {
                    shared.churn_failures.set(shared.churn_failures.get() + 1);
                    return;
                }
            };
            shared
                .join_latency
                .borrow_mut()
                .record_us(opened.elapsed().as_micros() as u64);
            shared.churn_joins.set(shared.churn_joins.get() + 1);
            let leave_at = Instant::now() + churn.hold;
            let mut payloads = Vec::new();
            loop {
                tokio::select! {
                    _ = tokio::time::sleep_until(leave_at) => break,
                    next = subscriber.next(&mut payloads) => match next {
                        Ok(true) => {
                            shared.deliver(None, &payloads);
                            payloads.clear();
                        }
                        _ => break,
                    },
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_is_in_microseconds_since_the_epoch() {
        let now = now_us();
        // Later than 2020-01-01 and earlier than 2100-01-01.
        assert!(
            now > 1_577_836_800_000_000 && now < 4_102_444_800_000_000,
            "{now}"
        );
    }
}
