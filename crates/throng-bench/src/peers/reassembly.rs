//! Reassembles a byte-stream protocol (MQTT, NATS) carried over WebSocket frames.
//!
//! A WebSocket frame need not hold whole protocol packets: a server may split one packet
//! over two frames or pack several into one. Frames are parsed in place while they hold
//! whole packets; only an unfinished tail is copied and kept for the next frame.

/// One protocol's packet boundaries.
pub(crate) trait Framing {
    /// A parsed packet, borrowing from the bytes it was read from.
    type Packet<'a>;
    /// Parses the packet at the start of `bytes`: Ok(None) when more bytes are needed,
    /// else the packet and how many bytes it used.
    fn parse(bytes: &[u8]) -> anyhow::Result<Option<(Self::Packet<'_>, usize)>>;
}

/// The unfinished tail of a stream between frames.
#[derive(Debug, Default)]
pub(crate) struct Reassembly {
    pending: Vec<u8>,
}

impl Reassembly {
    /// Feeds one frame, calling `on_packet` for every packet it completes, in order.
    pub(crate) fn feed<F: Framing>(
        &mut self,
        frame: &[u8],
        mut on_packet: impl FnMut(F::Packet<'_>) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        if self.pending.is_empty() {
            let used = parse_all::<F>(frame, &mut on_packet)?;
            self.pending.extend_from_slice(&frame[used..]);
        } else {
            self.pending.extend_from_slice(frame);
            let used = parse_all::<F>(&self.pending, &mut on_packet)?;
            self.pending.drain(..used);
        }
        Ok(())
    }

    /// Bytes waiting for the rest of their packet.
    #[cfg(test)]
    pub(crate) fn pending_len(&self) -> usize {
        self.pending.len()
    }
}

fn parse_all<F: Framing>(
    bytes: &[u8],
    on_packet: &mut impl FnMut(F::Packet<'_>) -> anyhow::Result<()>,
) -> anyhow::Result<usize> {
    let mut used = 0;
    while let Some((packet, length)) = F::parse(&bytes[used..])? {
        used += length;
        on_packet(packet)?;
    }
    Ok(used)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A toy framing for the reassembly alone: packets are newline-terminated lines.
    struct Lines;

    impl Framing for Lines {
        type Packet<'a> = &'a [u8];

        fn parse(bytes: &[u8]) -> anyhow::Result<Option<(&[u8], usize)>> {
            Ok(memchr::memchr(b'\n', bytes).map(|end| (&bytes[..end], end + 1)))
        }
    }

    /// Feeds the frames in order; returns the packets seen and the bytes left pending.
    fn feed_frames(frames: &[&str]) -> (Vec<String>, usize) {
        let mut reassembly = Reassembly::default();
        let mut seen = Vec::new();
        for frame in frames {
            reassembly
                .feed::<Lines>(frame.as_bytes(), |line| {
                    seen.push(String::from_utf8(line.to_vec())?);
                    Ok(())
                })
                .unwrap();
        }
        (seen, reassembly.pending_len())
    }

    #[test]
    fn packets_come_out_whole_whatever_the_frame_boundaries() {
        let cases: &[(&[&str], &[&str], usize)] = &[
            (&[], &[], 0),
            (&["a\n"], &["a"], 0),
            (&["a\nb\n"], &["a", "b"], 0),
            (&["a\nb"], &["a"], 1),
            (&["a\nb", "c\n"], &["a", "bc"], 0),
            (&["ab", "cd", "e\nf"], &["abcde"], 1),
            (&["", "a", "", "\n"], &["a"], 0),
            (&["\n\n"], &["", ""], 0),
            (&["one\ntw", "o\nthr", "ee\n"], &["one", "two", "three"], 0),
        ];
        for (frames, expect_packets, expect_pending) in cases {
            let (packets, pending) = feed_frames(frames);
            assert_eq!(packets, *expect_packets, "frames {frames:?}");
            assert_eq!(pending, *expect_pending, "frames {frames:?}");
        }
    }

    #[test]
    fn an_error_from_the_packet_handler_stops_the_feed() {
        let mut reassembly = Reassembly::default();
        let outcome = reassembly.feed::<Lines>(b"ok\nbad\n", |line| {
            anyhow::ensure!(line != b"bad", "bad packet");
            Ok(())
        });
        assert!(outcome.is_err());
    }
}
