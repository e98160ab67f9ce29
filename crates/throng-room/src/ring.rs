//! A bounded ring of messages for one priority lane.
//!
//! Positions are absolute: the first message ever pushed has index 0, and an index keeps
//! naming the same message until it is evicted. A member's cursor is such an index, so
//! eviction never shifts what a cursor points at; a cursor below [`Ring::base`] has
//! missed `base - cursor` messages.

use std::collections::VecDeque;
use std::sync::Arc;
use throng_protocol::EncodedMessage;

#[derive(Debug)]
pub struct Ring {
    messages: VecDeque<Arc<EncodedMessage>>,
    /// Absolute index of `messages[0]`.
    base: u64,
    capacity: usize,
    /// Seqs of the most recently evicted messages (at most `capacity` of them), so that a
    /// pull by seq can count exactly what it missed. Past that history the count is a
    /// lower bound.
    evicted_seqs: VecDeque<u64>,
}

impl Ring {
    pub fn new(capacity: usize) -> Ring {
        assert!(capacity > 0, "ring capacity must be positive");
        Ring {
            messages: VecDeque::with_capacity(capacity.min(1024)),
            base: 0,
            capacity,
            evicted_seqs: VecDeque::new(),
        }
    }

    /// Appends a message, evicting the oldest when full. Returns whether one was evicted.
    pub fn push(&mut self, message: Arc<EncodedMessage>) -> bool {
        let evicted = self.messages.len() == self.capacity;
        if evicted {
            self.evict_oldest();
        }
        self.messages.push_back(message);
        evicted
    }

    fn evict_oldest(&mut self) {
        if let Some(old) = self.messages.pop_front() {
            self.base += 1;
            if self.evicted_seqs.len() == self.capacity {
                self.evicted_seqs.pop_front();
            }
            self.evicted_seqs.push_back(old.message.seq);
        }
    }

    /// Changes the capacity, evicting the oldest messages if it shrinks.
    pub fn set_capacity(&mut self, capacity: usize) {
        assert!(capacity > 0, "ring capacity must be positive");
        self.capacity = capacity;
        while self.messages.len() > capacity {
            self.evict_oldest();
        }
        while self.evicted_seqs.len() > capacity {
            self.evicted_seqs.pop_front();
        }
    }

    /// Absolute index of the oldest retained message.
    pub fn base(&self) -> u64 {
        self.base
    }

    /// Absolute index the next pushed message will get.
    pub fn head(&self) -> u64 {
        self.base + self.messages.len() as u64
    }

    pub fn len(&self) -> usize {
        self.messages.len()
    }

    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }

    /// Retained messages from absolute index `from` (clamped to the base) up to the head.
    pub fn range_from(
        &self,
        from: u64,
    ) -> impl DoubleEndedIterator<Item = &Arc<EncodedMessage>> + ExactSizeIterator {
        let start = from
            .saturating_sub(self.base)
            .min(self.messages.len() as u64) as usize;
        self.messages.range(start..)
    }

    /// Absolute index of the first retained message with `seq > since` (the head if none).
    pub fn index_after_seq(&self, since: u64) -> u64 {
        self.base + self.messages.partition_point(|m| m.message.seq <= since) as u64
    }

    /// How many evicted messages had `seq > since` (exact within the eviction history).
    pub fn evicted_after_seq(&self, since: u64) -> u64 {
        (self.evicted_seqs.len() - self.evicted_seqs.partition_point(|&s| s <= since)) as u64
    }

    /// Whether a message with this seq was evicted (within the eviction history).
    pub fn was_evicted(&self, seq: u64) -> bool {
        self.evicted_seqs.binary_search(&seq).is_ok()
    }

    /// Puts `message` in place of the retained message at absolute `index` (the message
    /// keeps its position). Returns false if that message was evicted or never pushed.
    pub fn replace(&mut self, index: u64, message: Arc<EncodedMessage>) -> bool {
        match index
            .checked_sub(self.base)
            .and_then(|i| self.messages.get_mut(i as usize))
        {
            Some(slot) => {
                *slot = message;
                true
            }
            None => false,
        }
    }

    pub fn newest(&self) -> Option<&Arc<EncodedMessage>> {
        self.messages.back()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use throng_protocol::{Message, Priority};

    fn msg(seq: u64) -> Arc<EncodedMessage> {
        Arc::new(EncodedMessage::new(Message {
            seq,
            ts: seq,
            from: "u".into(),
            kind: "text".into(),
            priority: Priority::High,
            body: serde_json::Value::Null,
            id: None,
        }))
    }

    fn seqs<'a>(it: impl Iterator<Item = &'a Arc<EncodedMessage>>) -> Vec<u64> {
        it.map(|m| m.message.seq).collect()
    }

    #[test]
    fn absolute_indices_survive_eviction() {
        let mut ring = Ring::new(3);
        for seq in [2, 4, 6, 8, 10] {
            ring.push(msg(seq));
        }
        assert_eq!((ring.base(), ring.head(), ring.len()), (2, 5, 3));
        assert_eq!(seqs(ring.range_from(0)), [6, 8, 10]);
        assert_eq!(seqs(ring.range_from(3)), [8, 10]);
        assert_eq!(seqs(ring.range_from(5)), Vec::<u64>::new());
        assert_eq!(seqs(ring.range_from(99)), Vec::<u64>::new());
    }

    #[test]
    fn seq_lookups() {
        let mut ring = Ring::new(3);
        for seq in [2, 4, 6, 8, 10] {
            ring.push(msg(seq));
        }
        // (since, first index after, evicted after)
        let cases = [
            (0, 2, 2),
            (2, 2, 1),
            (3, 2, 1),
            (4, 2, 0),
            (6, 3, 0),
            (7, 3, 0),
            (10, 5, 0),
            (11, 5, 0),
        ];
        for (since, index, evicted) in cases {
            assert_eq!(ring.index_after_seq(since), index, "since {since}");
            assert_eq!(ring.evicted_after_seq(since), evicted, "since {since}");
        }
    }

    #[test]
    fn shrinking_evicts_oldest() {
        let mut ring = Ring::new(4);
        for seq in 1..=4 {
            ring.push(msg(seq));
        }
        ring.set_capacity(2);
        assert_eq!(seqs(ring.range_from(0)), [3, 4]);
        assert_eq!(ring.base(), 2);
        assert_eq!(ring.evicted_after_seq(0), 2);
    }
}
