//! Recording of accepted room messages for replay beside a recorded video.
//!
//! Publishers hand each accepted message to [`Recorder::record`], which never waits: it
//! puts the message into a bounded channel. One writer task per node takes what arrives
//! and stores it in batches (one store transaction each), and prunes, per room, what is
//! older than the room's `recording.retention_s`.
//!
//! The bound: the channel holds at most [`RecorderLimits::capacity`] messages. When it is
//! full (the store is slower than the rooms), a message is not recorded, and
//! `throng_recording_dropped_total{reason="full"}` counts it: recording is best effort,
//! and it must never slow down or refuse live traffic. A batch the store refuses is lost
//! the same way (`reason="store_error"`), as is a message handed in after the recorder
//! stopped (`reason="stopped"`).

use crate::metrics as m;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use throng_backend::{unix_ms, Store};
use throng_protocol::Message;
use throng_room::RecordingSettings;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

/// How the recorder batches and bounds its work.
#[derive(Debug, Clone)]
pub struct RecorderLimits {
    /// Messages waiting for the writer; past it new ones are dropped and counted.
    pub capacity: usize,
    /// The most messages one store transaction writes.
    pub batch_max: usize,
    /// The longest the first message of a batch waits for others before it is written.
    pub batch_wait: Duration,
    /// How often recorded messages past their room's retention are deleted.
    pub prune_every: Duration,
}

impl Default for RecorderLimits {
    fn default() -> RecorderLimits {
        RecorderLimits {
            capacity: 10_000,
            batch_max: 500,
            batch_wait: Duration::from_millis(200),
            prune_every: Duration::from_secs(600),
        }
    }
}

/// What [`Recorder::record`] did with a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordOutcome {
    /// Recording is off for the room, or the message's kind is not recorded.
    NotRecorded,
    /// Handed to the writer.
    Queued,
    /// Not recorded: the channel was full or the recorder has stopped.
    Dropped,
}

enum Item {
    Record(String, Arc<Message>),
    /// Answered once everything handed in before it is stored.
    Flush(oneshot::Sender<()>),
    /// Stop taking messages; answered once everything handed in before it is stored.
    Stop(oneshot::Sender<()>),
}

/// The publishers' side: cheap to call from any task, shared through the node.
pub struct Recorder {
    sender: mpsc::Sender<Item>,
    dropped: AtomicU64,
}

/// The writer's side: run it as one task ([`RecorderWriter::run`]).
pub struct RecorderWriter {
    receiver: mpsc::Receiver<Item>,
    store: Arc<dyn Store>,
    limits: RecorderLimits,
    /// Batches written, for tests of the batching.
    batches: Arc<AtomicU64>,
}

/// Whether a message of `kind` is recorded under these settings.
pub fn records(settings: &RecordingSettings, kind: &str) -> bool {
    settings.enabled && settings.kinds.iter().any(|k| k == kind)
}

impl Recorder {
    /// A recorder and its writer, not started (tests drive the writer themselves).
    pub fn new(store: Arc<dyn Store>, limits: RecorderLimits) -> (Recorder, RecorderWriter) {
        let (sender, receiver) = mpsc::channel(limits.capacity.max(1));
        let recorder = Recorder {
            sender,
            dropped: AtomicU64::new(0),
        };
        let writer = RecorderWriter {
            receiver,
            store,
            limits,
            batches: Arc::new(AtomicU64::new(0)),
        };
        (recorder, writer)
    }

    /// A recorder whose writer runs as a task on the current runtime.
    pub fn start(store: Arc<dyn Store>, limits: RecorderLimits) -> Recorder {
        let (recorder, writer) = Recorder::new(store, limits);
        tokio::spawn(writer.run());
        recorder
    }

    /// Hands a newly published message to the writer if the room records its kind.
    /// Never waits: at the channel's bound the message is dropped and counted.
    pub fn record(
        &self,
        room: &str,
        message: &Arc<Message>,
        settings: &RecordingSettings,
    ) -> RecordOutcome {
        if !records(settings, &message.kind) {
            return RecordOutcome::NotRecorded;
        }
        match self
            .sender
            .try_send(Item::Record(room.to_owned(), message.clone()))
        {
            Ok(()) => RecordOutcome::Queued,
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.count_dropped("full", 1);
                RecordOutcome::Dropped
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                self.count_dropped("stopped", 1);
                RecordOutcome::Dropped
            }
        }
    }

    /// Messages this recorder dropped at its bound or after it stopped.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    fn count_dropped(&self, reason: &'static str, n: u64) {
        self.dropped.fetch_add(n, Ordering::Relaxed);
        metrics::counter!(m::RECORDING_DROPPED, "reason" => reason).increment(n);
    }

    /// Waits until every message handed in before this call is stored (or lost to a
    /// store error). Returns at once if the writer has stopped.
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.sender.send(Item::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
    }

    /// Stores what the writer holds and ends it; later messages are dropped as `stopped`.
    /// Called when the node drains.
    pub async fn stop(&self) {
        let (done, wait) = oneshot::channel();
        if self.sender.send(Item::Stop(done)).await.is_ok() {
            let _ = wait.await;
        }
    }
}

impl RecorderWriter {
    /// A counter of the batches this writer has written.
    pub fn batch_counter(&self) -> Arc<AtomicU64> {
        self.batches.clone()
    }

    /// Runs until the recorder is stopped or dropped: batches and writes what arrives,
    /// and prunes on its interval (the first time at once).
    pub async fn run(mut self) {
        let batch_max = self.limits.batch_max.max(1);
        let mut prune = tokio::time::interval(self.limits.prune_every);
        prune.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut items = Vec::with_capacity(batch_max);
        let mut batch = Batch::default();
        loop {
            tokio::select! {
                // Messages first: pruning waits for a moment without them.
                biased;
                received = self.receiver.recv_many(&mut items, batch_max) => {
                    if received == 0 {
                        // Every recorder handle is gone and nothing is left.
                        break;
                    }
                }
                _ = prune.tick() => {
                    self.prune().await;
                    continue;
                }
            }
            let deadline = Instant::now() + self.limits.batch_wait;
            let mut ended = false;
            loop {
                for item in items.drain(..) {
                    if batch.take(item) {
                        // No new messages from here; the buffered ones still come.
                        self.receiver.close();
                    }
                }
                if batch.records.len() >= batch_max || !batch.flushes.is_empty() {
                    break;
                }
                let room = batch_max - batch.records.len();
                match tokio::time::timeout_at(deadline, self.receiver.recv_many(&mut items, room))
                    .await
                {
                    Ok(0) => {
                        ended = true;
                        break;
                    }
                    Ok(_) => {}
                    Err(_elapsed) => break,
                }
            }
            // After a stop the channel is closed; the loop goes on until it is empty, and
            // the stop is answered by the write that leaves nothing behind.
            self.write(&mut batch).await;
            if ended {
                break;
            }
        }
        self.write(&mut batch).await;
    }

    /// Stores the batch's messages and answers its flushes (and, once the channel is
    /// empty and closed, its stops).
    async fn write(&self, batch: &mut Batch) {
        if !batch.records.is_empty() {
            let n = batch.records.len() as u64;
            match self.store.record_messages(&batch.records).await {
                Ok(()) => metrics::counter!(m::RECORDED).increment(n),
                Err(e) => {
                    tracing::warn!(error = %e, messages = n, "recorded messages lost");
                    metrics::counter!(m::RECORDING_DROPPED, "reason" => "store_error").increment(n);
                }
            }
            self.batches.fetch_add(1, Ordering::Relaxed);
            batch.records.clear();
        }
        for flush in batch.flushes.drain(..) {
            let _ = flush.send(());
        }
        if self.receiver.is_closed() && self.receiver.is_empty() {
            for stop in batch.stops.drain(..) {
                let _ = stop.send(());
            }
        }
    }

    /// Deletes, room by room, recorded messages older than the room's retention.
    async fn prune(&self) {
        let now = unix_ms();
        let mut after: Option<String> = None;
        let mut pruned = 0u64;
        loop {
            let rooms = match self.store.list_rooms(after.as_deref(), 1000).await {
                Ok(rooms) => rooms,
                Err(e) => {
                    tracing::warn!(error = %e, "recording prune stopped");
                    return;
                }
            };
            let Some(last) = rooms.last() else { break };
            after = Some(last.id.clone());
            for room in &rooms {
                let retention_ms = u64::from(room.settings.recording.retention_s) * 1000;
                let before = now.saturating_sub(retention_ms);
                match self.store.prune_recorded(&room.id, before).await {
                    Ok(n) => pruned += n,
                    Err(e) => tracing::warn!(error = %e, room = %room.id, "recording not pruned"),
                }
            }
        }
        if pruned > 0 {
            tracing::info!(
                messages = pruned,
                "recorded messages past retention deleted"
            );
        }
    }
}

/// What the writer holds between two writes.
#[derive(Default)]
struct Batch {
    records: Vec<(String, Message)>,
    flushes: Vec<oneshot::Sender<()>>,
    stops: Vec<oneshot::Sender<()>>,
    stopping: bool,
}

impl Batch {
    /// Takes one item; true if it is the first stop.
    fn take(&mut self, item: Item) -> bool {
        match item {
            Item::Record(room, message) => {
                self.records.push((room, Message::clone(&message)));
                false
            }
            Item::Flush(done) => {
                self.flushes.push(done);
                false
            }
            Item::Stop(done) => {
                self.stops.push(done);
                !std::mem::replace(&mut self.stopping, true)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use throng_backend::sqlite::SqliteStore;
    use throng_backend::RoomRecord;
    use throng_protocol::Priority;
    use throng_room::RoomSettings;

    const PATIENCE: Duration = Duration::from_secs(30);

    fn recording(enabled: bool, kinds: &[&str]) -> RecordingSettings {
        RecordingSettings {
            enabled,
            kinds: kinds.iter().map(|k| k.to_string()).collect(),
            ..RecordingSettings::default()
        }
    }

    fn message(seq: u64, kind: &str, ts: u64) -> Arc<Message> {
        Arc::new(Message {
            seq,
            ts,
            from: "alice".into(),
            kind: kind.into(),
            priority: Priority::High,
            body: serde_json::json!({"n": seq}),
            id: None,
        })
    }

    async fn store_with_rooms(rooms: &[(&str, u32)]) -> Arc<dyn Store> {
        let store = Arc::new(SqliteStore::in_memory().await.unwrap());
        for &(id, retention_s) in rooms {
            let settings = RoomSettings {
                recording: RecordingSettings {
                    enabled: true,
                    retention_s,
                    ..RecordingSettings::default()
                },
                ..RoomSettings::default()
            };
            let record = RoomRecord {
                id: id.into(),
                settings,
                created_at: 1,
            };
            store.create_room(&record).await.unwrap();
        }
        store
    }

    async fn recorded_seqs(store: &Arc<dyn Store>, room: &str) -> Vec<u64> {
        let messages = store.recorded(room, 0, u64::MAX, None, 1000).await.unwrap();
        messages.iter().map(|m| m.seq).collect()
    }

    fn limits(capacity: usize, batch_max: usize) -> RecorderLimits {
        RecorderLimits {
            capacity,
            batch_max,
            batch_wait: Duration::from_millis(10),
            prune_every: Duration::from_secs(3600),
        }
    }

    #[test]
    fn only_listed_kinds_of_rooms_that_record_are_recorded() {
        let cases = [
            // (enabled, kinds, kind, recorded)
            (true, &["text", "gift"][..], "text", true),
            (true, &["text", "gift"][..], "gift", true),
            (true, &["text", "gift"][..], "like", false),
            (true, &["text", "gift"][..], "Text", false),
            (true, &[][..], "text", false),
            (false, &["text", "gift"][..], "text", false),
            (true, &["like"][..], "like", true),
        ];
        for (enabled, kinds, kind, expected) in cases {
            assert_eq!(
                records(&recording(enabled, kinds), kind),
                expected,
                "enabled {enabled}, kinds {kinds:?}, kind {kind}"
            );
        }
    }

    #[tokio::test]
    async fn at_the_bound_messages_are_dropped_and_counted_without_waiting() {
        let cases = [
            // (capacity, recorded kinds sent, unrecorded kinds sent, queued, dropped)
            (1, 1, 0, 1, 0),
            (1, 3, 5, 1, 2),
            (4, 4, 0, 4, 0),
            (4, 10, 10, 4, 6),
        ];
        for (capacity, sent, unrecorded, queued, dropped) in cases {
            // The writer never runs: nothing leaves the channel.
            let (recorder, _writer) =
                Recorder::new(store_with_rooms(&[]).await, limits(capacity, 500));
            let settings = recording(true, &["text"]);
            let mut outcomes = Vec::new();
            for seq in 1..=sent {
                outcomes.push(recorder.record("r", &message(seq, "text", 1), &settings));
                // Kinds not recorded take no room in the channel.
                if seq <= unrecorded {
                    let other = recorder.record("r", &message(seq, "like", 1), &settings);
                    assert_eq!(other, RecordOutcome::NotRecorded);
                }
            }
            let count = |outcome| outcomes.iter().filter(|o| **o == outcome).count() as u64;
            let case = format!("capacity {capacity}, sent {sent}");
            assert_eq!(count(RecordOutcome::Queued), queued, "{case}");
            assert_eq!(count(RecordOutcome::Dropped), dropped, "{case}");
            assert_eq!(recorder.dropped(), dropped, "{case}");
            assert_eq!(
                outcomes.iter().position(|o| *o == RecordOutcome::Dropped),
                (dropped > 0).then_some(queued as usize),
                "{case}: the first ones are kept, the ones past the bound dropped"
            );
        }
    }

    #[tokio::test]
    async fn queued_messages_are_written_in_batches_of_at_most_batch_max() {
        let cases = [
            // (messages, batch_max, batches)
            (0, 3, 0),
            (1, 3, 1),
            (3, 3, 1),
            (7, 3, 3),
            (9, 3, 3),
            (10, 1, 10),
            (25, 500, 1),
        ];
        for (n, batch_max, batches) in cases {
            let store = store_with_rooms(&[("r", 3600)]).await;
            let (recorder, writer) = Recorder::new(store.clone(), limits(100, batch_max));
            let settings = recording(true, &["text"]);
            let now = unix_ms();
            for seq in 1..=n {
                recorder.record("r", &message(seq, "text", now), &settings);
            }
            // Everything is queued before the writer starts, so the batches are exact.
            let written = writer.batch_counter();
            let task = tokio::spawn(writer.run());
            tokio::time::timeout(PATIENCE, recorder.flush())
                .await
                .expect("flushed");
            let case = format!("{n} messages, batch_max {batch_max}");
            assert_eq!(written.load(Ordering::Relaxed), batches, "{case}");
            assert_eq!(
                recorded_seqs(&store, "r").await,
                (1..=n).collect::<Vec<_>>(),
                "{case}"
            );
            task.abort();
        }
    }

    #[tokio::test]
    async fn a_lone_message_is_written_without_a_flush() {
        let store = store_with_rooms(&[("r", 3600)]).await;
        let recorder = Recorder::start(store.clone(), limits(100, 500));
        recorder.record(
            "r",
            &message(1, "text", unix_ms()),
            &recording(true, &["text"]),
        );
        tokio::time::timeout(PATIENCE, async {
            while recorded_seqs(&store, "r").await.is_empty() {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .expect("the message is written once its batch has waited batch_wait");
    }

    #[tokio::test]
    async fn stop_writes_everything_queued_then_drops_what_comes_later() {
        let store = store_with_rooms(&[("r", 3600)]).await;
        let (recorder, writer) = Recorder::new(store.clone(), limits(100, 4));
        let settings = recording(true, &["text"]);
        let now = unix_ms();
        for seq in 1..=10 {
            recorder.record("r", &message(seq, "text", now), &settings);
        }
        let task = tokio::spawn(writer.run());
        tokio::time::timeout(PATIENCE, recorder.stop())
            .await
            .expect("stopped");
        assert_eq!(
            recorded_seqs(&store, "r").await,
            (1..=10).collect::<Vec<_>>()
        );
        tokio::time::timeout(PATIENCE, task)
            .await
            .expect("the writer ends")
            .unwrap();
        assert_eq!(
            recorder.record("r", &message(11, "text", now), &settings),
            RecordOutcome::Dropped
        );
        assert_eq!(recorder.dropped(), 1);
        // Flushing or stopping again does not wait for a writer that is gone.
        tokio::time::timeout(PATIENCE, recorder.flush())
            .await
            .expect("returns");
        tokio::time::timeout(PATIENCE, recorder.stop())
            .await
            .expect("returns");
    }

    #[tokio::test]
    async fn pruning_applies_each_rooms_retention() {
        // Rooms are pruned in id order: once "b-short" is pruned, "a-long" has been too.
        let store = store_with_rooms(&[("a-long", 3600), ("b-short", 60)]).await;
        let now = unix_ms();
        let old = now - 120_000;
        let entries = [
            ("a-long", 1, old),
            ("a-long", 2, now),
            ("b-short", 1, old),
            ("b-short", 2, now),
        ];
        let batch: Vec<(String, Message)> = entries
            .iter()
            .map(|&(room, seq, ts)| (room.to_owned(), Message::clone(&message(seq, "text", ts))))
            .collect();
        store.record_messages(&batch).await.unwrap();
        // The writer prunes when it starts, then every prune_every.
        let _recorder = Recorder::start(store.clone(), limits(100, 500));
        tokio::time::timeout(PATIENCE, async {
            while recorded_seqs(&store, "b-short").await != [2] {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .expect("b-short loses the message older than its 60 s");
        assert_eq!(recorded_seqs(&store, "a-long").await, [1, 2]);
    }
}
