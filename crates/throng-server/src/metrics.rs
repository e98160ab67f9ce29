//! Metric names, described once at start so `/metrics` explains each of them.

use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};

pub const CONNECTIONS: &str = "throng_connections";
pub const CONNECTIONS_OPENED: &str = "throng_connections_opened_total";
pub const REFUSED_CONNECTIONS: &str = "throng_connections_refused_total";
pub const CLOSED: &str = "throng_connections_closed_total";
pub const ROOMS: &str = "throng_rooms";
pub const JOINS: &str = "throng_joins_total";
pub const MESSAGES_IN: &str = "throng_messages_in_total";
pub const ROOM_RATE_LIMITED: &str = "throng_messages_room_rate_limited_total";
pub const REQUEST_ERRORS: &str = "throng_request_errors_total";
pub const FRAMES_OUT: &str = "throng_frames_out_total";
pub const ENCODINGS: &str = "throng_batch_encodings_total";
pub const DELIVERIES: &str = "throng_messages_out_total";
pub const SKIPPED: &str = "throng_messages_dropped_total";
pub const NOTIFY_DROPS: &str = "throng_notify_members_dropped_total";
pub const BUS_LAGGED: &str = "throng_bus_lagged_messages_total";
pub const FLUSH_SECONDS: &str = "throng_flush_seconds";
pub const MODERATION_ACTIONS: &str = "throng_moderation_actions_total";
pub const FILTERED: &str = "throng_messages_filtered_total";
pub const ATTRIBUTE_WRITES: &str = "throng_attribute_changes_total";
pub const POLICY_DROPPED: &str = "throng_messages_policy_dropped_total";
pub const RELIABLE_IN: &str = "throng_reliable_messages_total";
pub const RELIABLE_RETRIES: &str = "throng_reliable_retries_total";
pub const RELIABLE_GAVE_UP: &str = "throng_reliable_gave_up_total";
pub const RECORDED: &str = "throng_recorded_messages_total";
pub const RECORDING_DROPPED: &str = "throng_recording_dropped_total";

pub fn describe() {
    describe_gauge!(CONNECTIONS, "Open WebSocket connections");
    describe_counter!(CONNECTIONS_OPENED, "WebSocket connections accepted");
    describe_counter!(
        REFUSED_CONNECTIONS,
        "Handshakes refused, by reason (token error code, over_capacity)"
    );
    describe_counter!(CLOSED, "Connections closed by the server, by close reason");
    describe_gauge!(ROOMS, "Rooms hosted on this node");
    describe_counter!(JOINS, "Room joins accepted");
    describe_counter!(MESSAGES_IN, "Messages accepted from clients, by priority");
    describe_counter!(ROOM_RATE_LIMITED, "Messages refused by a room's rate limit");
    describe_counter!(
        POLICY_DROPPED,
        "Messages not published by policy: drop_over_rate types over the room rate, reliable sends at the backlog bound"
    );
    describe_counter!(RELIABLE_IN, "Reliable messages stored and published");
    describe_counter!(
        RELIABLE_RETRIES,
        "Frames carrying unacknowledged reliable messages again"
    );
    describe_counter!(
        RELIABLE_GAVE_UP,
        "Reliable messages a member never acknowledged within max_tries deliveries"
    );
    describe_counter!(RECORDED, "Room messages stored for replay");
    describe_counter!(
        RECORDING_DROPPED,
        "Room messages not recorded, by reason (full: the recorder's queue was at its bound; store_error; stopped)"
    );
    describe_counter!(REQUEST_ERRORS, "Client requests refused, by error code");
    describe_counter!(FRAMES_OUT, "Batch and notify frames handed to connections");
    describe_counter!(
        ENCODINGS,
        "Distinct batch frames encoded (shared by members at the same position)"
    );
    describe_counter!(
        DELIVERIES,
        "Messages delivered in batches, summed over connections"
    );
    describe_counter!(
        SKIPPED,
        "Messages a connection missed because they fell off a ring first, by priority"
    );
    describe_counter!(NOTIFY_DROPS, "Notify-mode members removed for not pulling");
    describe_counter!(
        BUS_LAGGED,
        "Messages a room host lost because it fell behind the bus"
    );
    describe_histogram!(FLUSH_SECONDS, Unit::Seconds, "Time one room flush takes");
    describe_counter!(
        MODERATION_ACTIONS,
        "Moderation actions carried out, by action"
    );
    describe_counter!(
        FILTERED,
        "Client messages refused by the word filter, by list"
    );
    describe_counter!(
        ATTRIBUTE_WRITES,
        "Room attribute changes (sets and deletes)"
    );
}

/// The process-wide Prometheus recorder. Installed once; every server in the process
/// (tests run several) shares it.
pub fn prometheus() -> metrics_exporter_prometheus::PrometheusHandle {
    static HANDLE: std::sync::OnceLock<metrics_exporter_prometheus::PrometheusHandle> =
        std::sync::OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let handle = metrics_exporter_prometheus::PrometheusBuilder::new()
                .install_recorder()
                .expect("no other metrics recorder is installed");
            describe();
            handle
        })
        .clone()
}
