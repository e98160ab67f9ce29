//! How many frames a room writes for a given load: rooms of several sizes receive
//! 200 messages a second for 10 s of simulated time, every member always ready. Frames,
//! not messages, are what costs the server CPU, so this shows what a batching setting
//! changes, exactly and without a noisy machine:
//!
//!     cargo run --release -p throng-room --example frame_count
use std::sync::Arc;
use throng_protocol::{Codec, DeliveryMode, EncodedMessage, Message, Priority};
use throng_room::{ConnId, Deliver, Room, RoomSettings};
struct Ready;
impl Deliver for Ready {
    fn is_ready(&mut self, _: ConnId) -> bool {
        true
    }
    fn deliver(&mut self, _: ConnId, _: &bytes::Bytes) -> bool {
        true
    }
    fn dropped(&mut self, _: ConnId, _: &bytes::Bytes) {}
}
fn main() {
    println!("room settings: defaults; 200 msg/s for 10 s");
    for members in [100u64, 1000, 5000, 18000] {
        let mut room = Room::new("r", RoomSettings::default());
        for c in 0..members {
            room.join(c, Codec::Json, DeliveryMode::Push, None, false)
                .unwrap();
        }
        let (mut seq, mut out) = (0u64, Ready);
        for now in 0..10_000u64 {
            if now % 5 == 0 {
                // 200 msg/s
                seq += 1;
                room.insert(
                    Arc::new(EncodedMessage::new(Message {
                        seq,
                        ts: now,
                        from: "a".into(),
                        kind: "text".into(),
                        priority: Priority::High,
                        body: serde_json::json!("x"),
                        id: None,
                    })),
                    now,
                );
            }
            if room.next_flush_at().is_some_and(|t| t <= now) {
                room.flush(now, &mut out);
            }
        }
        let c = room.counters();
        println!(
            "members {members:>5}: frames {:>9}  deliveries {:>9}  messages/frame {:.1}",
            c.frames,
            c.deliveries,
            c.deliveries as f64 / c.frames as f64
        );
    }
}
