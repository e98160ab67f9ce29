//! Wire types for every frame between a Throng client and server, and their codecs.
//!
//! Layout:
//! - [`frames`]: the client→server ([`ClientFrame`]) and server→client ([`ServerFrame`])
//!   frames and the [`Message`] they carry. One schema for every encoding.
//! - [`attrs`]: room attribute changes, snapshots and how a client applies them.
//! - [`codes`]: stable error codes sent in `error` frames and WebSocket close codes, each
//!   close code saying whether the client should reconnect.
//! - [`codec`]: JSON (the default) and MessagePack (negotiated by WebSocket subprotocol),
//!   plus [`codec::BatchWriter`], which assembles a `batch` frame from messages that were
//!   encoded once, so a room encodes each message once, not once per viewer.
//!
//! This crate does no IO; it turns values into bytes and back.

pub mod attrs;
pub mod codec;
pub mod codes;
pub mod frames;

pub use codec::{Codec, DecodeError, EncodedMessage};
pub use codes::{CloseCode, ErrorCode};
pub use frames::{
    valid_msg_id, ClientFrame, DeliveryMode, LeaveReason, Message, ModerateAction, PerLane,
    Priority, RoomStats, ServerFrame, Skipped, MAX_ACK_SEQS, MAX_MSG_ID_BYTES,
};

/// The WebSocket path clients connect to.
pub const WS_PATH: &str = "/v1/ws";
