//! In-process backends for embedded mode (one node).

use crate::{unix_ms, AttrWrite, BackendError, Draft, HotState, RoomBus, Subscription};
use async_trait::async_trait;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use throng_protocol::Message;
use throng_room::attributes::{
    AttrError, AttributeLimits, Change, RoomAttributes, SetOptions, Since,
};
use throng_room::KeyedLimiter;
use tokio::sync::broadcast;
use tokio::time::Instant;

/// Limits of the in-memory bus.
#[derive(Debug, Clone, Copy)]
pub struct MemoryBusLimits {
    /// Rooms the bus tracks at once; publishing into or subscribing to one more fails
    /// with [`BackendError::LimitReached`].
    pub max_rooms: usize,
    /// Messages a subscriber may fall behind before it loses the oldest.
    pub channel_capacity: usize,
    /// Recent messages kept per room for [`RoomBus::recent`].
    pub history: usize,
    /// Start each room's seq from the clock ([`clock_seq_origin`]) instead of 0, so a
    /// restarted server (or a room forgotten and created again) never hands out a seq
    /// that clients saw before: they resume and dedup by seq.
    pub seq_from_clock: bool,
}

/// 2026-01-01T00:00:00Z in Unix milliseconds.
const SEQ_EPOCH_MS: u64 = 1_767_225_600_000;

/// Where a room's seq starts when it is created at `unix_ms`: the milliseconds since
/// 2026. Above every seq an earlier incarnation of the room reached unless that one
/// averaged more than a thousand messages per second over its whole life; eleven digits
/// for centuries, well inside the 2^53 that JavaScript numbers hold exactly.
pub fn clock_seq_origin(unix_ms: u64) -> u64 {
    unix_ms.saturating_sub(SEQ_EPOCH_MS)
}

impl Default for MemoryBusLimits {
    fn default() -> MemoryBusLimits {
        MemoryBusLimits {
            max_rooms: 100_000,
            channel_capacity: 4096,
            history: 64,
            seq_from_clock: false,
        }
    }
}

struct Topic {
    seq: u64,
    sender: broadcast::Sender<Arc<Message>>,
    history: VecDeque<Arc<Message>>,
}

/// The embedded [`RoomBus`]: one broadcast channel per room, seq assigned under the same
/// lock as the send, so subscribers see messages in seq order.
pub struct MemoryBus {
    limits: MemoryBusLimits,
    // A std mutex: held only for a counter increment and a non-blocking send, never
    // across an await.
    topics: Mutex<HashMap<String, Topic>>,
}

impl MemoryBus {
    pub fn new(limits: MemoryBusLimits) -> MemoryBus {
        MemoryBus {
            limits,
            topics: Mutex::new(HashMap::new()),
        }
    }

    fn with_topic<T>(
        &self,
        room: &str,
        f: impl FnOnce(&mut Topic) -> T,
    ) -> Result<T, BackendError> {
        let mut topics = self.topics.lock().expect("bus lock poisoned");
        if !topics.contains_key(room) {
            if topics.len() >= self.limits.max_rooms {
                // Forget rooms nobody listens to and that have no history worth keeping.
                topics.retain(|_, t| t.sender.receiver_count() > 0);
                if topics.len() >= self.limits.max_rooms {
                    return Err(BackendError::LimitReached(format!(
                        "the bus tracks at most {} rooms",
                        self.limits.max_rooms
                    )));
                }
            }
            let (sender, _) = broadcast::channel(self.limits.channel_capacity);
            let seq = if self.limits.seq_from_clock {
                clock_seq_origin(unix_ms())
            } else {
                0
            };
            topics.insert(
                room.to_owned(),
                Topic {
                    seq,
                    sender,
                    history: VecDeque::new(),
                },
            );
        }
        Ok(f(topics.get_mut(room).expect("inserted above")))
    }
}

impl Default for MemoryBus {
    fn default() -> MemoryBus {
        MemoryBus::new(MemoryBusLimits::default())
    }
}

#[async_trait]
impl RoomBus for MemoryBus {
    async fn publish(&self, room: &str, draft: Draft) -> Result<Arc<Message>, BackendError> {
        let history_len = self.limits.history;
        self.with_topic(room, |topic| {
            topic.seq += 1;
            let message = Arc::new(Message {
                seq: topic.seq,
                ts: unix_ms(),
                from: draft.from,
                kind: draft.kind,
                priority: draft.priority,
                body: draft.body,
                id: draft.id,
            });
            if history_len > 0 {
                if topic.history.len() == history_len {
                    topic.history.pop_front();
                }
                topic.history.push_back(message.clone());
            }
            // No receivers is not an error: nobody on this node is in the room.
            let _ = topic.sender.send(message.clone());
            message
        })
    }

    async fn subscribe(&self, room: &str) -> Result<Subscription, BackendError> {
        self.with_topic(room, |topic| {
            Subscription::new(topic.sender.subscribe(), None)
        })
    }

    async fn last_seq(&self, room: &str) -> Result<u64, BackendError> {
        let topics = self.topics.lock().expect("bus lock poisoned");
        Ok(topics.get(room).map_or(0, |t| t.seq))
    }

    async fn recent(&self, room: &str, limit: usize) -> Result<Vec<Arc<Message>>, BackendError> {
        let topics = self.topics.lock().expect("bus lock poisoned");
        Ok(topics.get(room).map_or_else(Vec::new, |t| {
            let skip = t.history.len().saturating_sub(limit);
            t.history.iter().skip(skip).cloned().collect()
        }))
    }

    async fn remove_room(&self, room: &str) -> Result<(), BackendError> {
        // Dropping the sender ends every subscription with Closed.
        self.topics.lock().expect("bus lock poisoned").remove(room);
        Ok(())
    }
}

/// The embedded [`HotState`].
pub struct MemoryHotState {
    started: Instant,
    limiter: Mutex<KeyedLimiter<String>>,
    online: Mutex<HashMap<String, u64>>,
    /// Attributes by room, bounded to `max_attribute_rooms` rooms: a write to one more
    /// room fails with [`BackendError::LimitReached`].
    attributes: Mutex<HashMap<String, RoomAttributes>>,
    max_attribute_rooms: usize,
    /// Running counters by room, bounded like attributes: `max_attribute_rooms` rooms,
    /// [`crate::MAX_ROOM_COUNTERS`] each.
    counters: Mutex<HashMap<String, BTreeMap<String, u64>>>,
}

impl MemoryHotState {
    /// `max_buckets` bounds the rate-limit buckets tracked at once (see
    /// [`KeyedLimiter`] for the policy at the bound).
    pub fn new(max_buckets: usize) -> MemoryHotState {
        MemoryHotState::with_limits(max_buckets, 100_000)
    }

    /// `max_attribute_rooms` bounds how many rooms hold attributes at once.
    pub fn with_limits(max_buckets: usize, max_attribute_rooms: usize) -> MemoryHotState {
        MemoryHotState {
            started: Instant::now(),
            limiter: Mutex::new(KeyedLimiter::new(max_buckets)),
            online: Mutex::new(HashMap::new()),
            attributes: Mutex::new(HashMap::new()),
            max_attribute_rooms,
            counters: Mutex::new(HashMap::new()),
        }
    }

    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }
}

#[async_trait]
impl HotState for MemoryHotState {
    async fn take_token(
        &self,
        key: &str,
        rate_per_sec: u32,
        burst: u32,
    ) -> Result<bool, BackendError> {
        let now = self.now_ms();
        let mut limiter = self.limiter.lock().expect("limiter lock poisoned");
        Ok(limiter.try_take(key, rate_per_sec, burst, now).is_ok())
    }

    async fn add_online(&self, room: &str, delta: i64) -> Result<u64, BackendError> {
        let mut online = self.online.lock().expect("online lock poisoned");
        let count = online.entry(room.to_owned()).or_insert(0);
        *count = count.saturating_add_signed(delta);
        let total = *count;
        if total == 0 {
            online.remove(room);
        }
        Ok(total)
    }

    async fn online(&self, room: &str) -> Result<u64, BackendError> {
        Ok(self
            .online
            .lock()
            .expect("online lock poisoned")
            .get(room)
            .copied()
            .unwrap_or(0))
    }

    async fn attr_write(
        &self,
        room: &str,
        limits: &AttributeLimits,
        write: AttrWrite,
    ) -> Result<Result<Vec<Change>, AttrError>, BackendError> {
        let now = unix_ms();
        let mut rooms = self.attributes.lock().expect("attributes lock poisoned");
        if !rooms.contains_key(room) {
            if matches!(write, AttrWrite::RemoveOwnedBy { .. }) {
                return Ok(Ok(Vec::new()));
            }
            if rooms.len() >= self.max_attribute_rooms {
                return Err(BackendError::LimitReached(format!(
                    "attributes are kept for at most {} rooms",
                    self.max_attribute_rooms
                )));
            }
            rooms.insert(room.to_owned(), RoomAttributes::new(limits.clone()));
        }
        let attributes = rooms.get_mut(room).expect("inserted above");
        if attributes.limits() != limits {
            attributes.set_limits(limits.clone());
        }
        Ok(match write {
            AttrWrite::Set {
                key,
                value,
                by,
                delete_on_leave,
                expect_version,
            } => {
                let options = SetOptions {
                    by: by.as_deref(),
                    delete_on_leave,
                    expect_version,
                };
                attributes.set(&key, value, options, now).map(|c| vec![c])
            }
            AttrWrite::Delete {
                key,
                by,
                expect_version,
            } => attributes
                .delete(&key, by.as_deref(), expect_version, now)
                .map(|c| vec![c]),
            AttrWrite::RemoveOwnedBy { user } => Ok(attributes.remove_owned_by(&user, now)),
        })
    }

    async fn attr_since(&self, room: &str, version: u64) -> Result<Since, BackendError> {
        let rooms = self.attributes.lock().expect("attributes lock poisoned");
        Ok(match rooms.get(room) {
            Some(attributes) => attributes.changes_since(version),
            None => RoomAttributes::new(AttributeLimits::default()).changes_since(version),
        })
    }

    async fn counter_add(&self, room: &str, name: &str, n: u64) -> Result<u64, BackendError> {
        let mut rooms = self.counters.lock().expect("counters lock poisoned");
        if !rooms.contains_key(room) && rooms.len() >= self.max_attribute_rooms {
            return Err(BackendError::LimitReached(format!(
                "counters are kept for at most {} rooms",
                self.max_attribute_rooms
            )));
        }
        let counters = rooms.entry(room.to_owned()).or_default();
        if !counters.contains_key(name) && counters.len() >= crate::MAX_ROOM_COUNTERS {
            return Err(BackendError::LimitReached(format!(
                "a room keeps at most {} counters",
                crate::MAX_ROOM_COUNTERS
            )));
        }
        let total = counters.entry(name.to_owned()).or_insert(0);
        *total = total.saturating_add(n);
        Ok(*total)
    }

    async fn counters(&self, room: &str) -> Result<BTreeMap<String, u64>, BackendError> {
        Ok(self
            .counters
            .lock()
            .expect("counters lock poisoned")
            .get(room)
            .cloned()
            .unwrap_or_default())
    }

    async fn drop_room(&self, room: &str) -> Result<(), BackendError> {
        self.attributes
            .lock()
            .expect("attributes lock poisoned")
            .remove(room);
        self.counters
            .lock()
            .expect("counters lock poisoned")
            .remove(room);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract;

    #[tokio::test]
    async fn memory_bus_passes_the_contract() {
        contract::bus(Arc::new(MemoryBus::default())).await;
    }

    #[tokio::test(start_paused = true)]
    async fn memory_hot_state_passes_the_contract() {
        contract::hot_state(Arc::new(MemoryHotState::new(1000))).await;
    }

    #[tokio::test]
    async fn clock_seqs_start_above_an_earlier_incarnation_of_the_room() {
        // A room that lived from 2026-03-01 and published a million messages ends below
        // where it starts again a day later.
        let march = 1_772_323_200_000;
        let earlier_end = clock_seq_origin(march) + 1_000_000;
        assert!(clock_seq_origin(march + 86_400_000) > earlier_end);
        // Year 2300 still fits a JavaScript number exactly.
        assert!(clock_seq_origin(10_413_792_000_000) < 1 << 53);
        let bus = MemoryBus::new(MemoryBusLimits {
            seq_from_clock: true,
            ..MemoryBusLimits::default()
        });
        let first = bus.publish("r", contract_draft()).await.unwrap();
        assert!(first.seq > clock_seq_origin(1_767_225_600_000 + 86_400_000));
        let second = bus.publish("r", contract_draft()).await.unwrap();
        assert_eq!(second.seq, first.seq + 1);
    }

    fn contract_draft() -> crate::Draft {
        crate::Draft {
            from: "a".into(),
            kind: "text".into(),
            priority: throng_protocol::Priority::High,
            body: serde_json::json!(1),
            id: None,
        }
    }

    #[tokio::test]
    async fn the_bus_refuses_rooms_beyond_its_bound_but_reclaims_idle_ones() {
        let bus = MemoryBus::new(MemoryBusLimits {
            max_rooms: 2,
            channel_capacity: 8,
            history: 4,
            ..MemoryBusLimits::default()
        });
        let _a = bus.subscribe("a").await.unwrap();
        let _b = bus.subscribe("b").await.unwrap();
        assert!(matches!(
            bus.subscribe("c").await,
            Err(BackendError::LimitReached(_))
        ));
        drop(_b);
        assert!(
            bus.subscribe("c").await.is_ok(),
            "room b had no subscriber and was reclaimed"
        );
    }
}
