//! HTTP server API v1, for the app's backend. Every route needs an API key
//! (`Authorization: Bearer <key>`). The OpenAPI document is generated from these handlers
//! and served at `/v1/openapi.json`, so it cannot drift from them.

use crate::error::{ApiError, ErrorBody};
use crate::gateway::SERVER_SENDER;
use crate::moderation::ModerationError;
use crate::node::Node;
use crate::rooms::Command;
use crate::validate;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, Path, Query, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use throng_backend::RoomRecord;
use throng_filter::{FilterConfig, FilterSet};
use throng_protocol::{ErrorCode, ModerateAction, Priority, RoomStats};
use throng_room::moderation::{ListKind, Sanction};
use throng_room::RoomSettings;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

#[derive(OpenApi)]
#[openapi(
    info(title = "Throng server API", description = "Manage live rooms and publish into them from the app's backend."),
    modifiers(&ApiKeyScheme),
    security(("api_key" = [])),
    components(schemas(ErrorBody, throng_room::BatchSettings, throng_room::NotifySettings, ListKind, Sanction))
)]
struct ApiDoc;

struct ApiKeyScheme;

impl Modify for ApiKeyScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// The API's routes (without state) and the OpenAPI document describing exactly them.
pub fn router() -> (axum::Router<Arc<Node>>, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(create_room, list_rooms))
        .routes(routes!(get_room, update_room, delete_room))
        .routes(routes!(publish))
        .routes(routes!(room_stats))
        .routes(routes!(put_room_entry, delete_room_entry))
        .routes(routes!(list_room_entries, put_room_list, delete_room_list))
        .routes(routes!(kick))
        .routes(routes!(put_global_entry, delete_global_entry))
        .routes(routes!(list_global_entries))
        .routes(routes!(get_filter, put_filter, delete_filter))
        .routes(routes!(get_attributes))
        .routes(routes!(put_attribute, delete_attribute))
        .routes(routes!(recording))
        .split_for_parts()
}

/// Refuses requests without a valid API key.
pub async fn require_api_key(
    State(node): State<Arc<Node>>,
    request: Request,
    next: Next,
) -> Response {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match presented {
        Some(key) if node.api_keys.check(key) => next.run(request).await,
        Some(_) => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "bad_api_key",
            "the API key is not valid",
        )
        .into_response(),
        None => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "missing_api_key",
            "send the API key as Authorization: Bearer <key>",
        )
        .into_response(),
    }
}

/// A JSON body whose rejections use our error format.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(value)) => Ok(ApiJson(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    let code = match rejection {
        JsonRejection::MissingJsonContentType(_) => "unsupported_media_type",
        JsonRejection::JsonDataError(_) => "invalid_body",
        _ => "bad_json",
    };
    ApiError::bad_request(code, rejection.body_text())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRoom {
    /// 1-128 characters of `A-Z a-z 0-9 _ - . :`.
    id: String,
    /// Settings for this room; fields left out take the server's defaults.
    #[serde(default)]
    settings: Option<serde_json::Value>,
}

#[derive(Serialize, ToSchema)]
pub struct RoomInfo {
    id: String,
    settings: RoomSettings,
    /// Milliseconds since the Unix epoch.
    created_at: u64,
    /// Connections in the room across all nodes.
    online: u64,
    /// The room's latest seq.
    seq: u64,
}

#[derive(Serialize, ToSchema)]
pub struct RoomList {
    rooms: Vec<RoomInfo>,
    /// Pass as `after` to get the next page; absent on the last page.
    next: Option<String>,
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct ListQuery {
    /// Return rooms whose id sorts after this one.
    after: Option<String>,
    /// Page size, 1-1000 (default 100).
    limit: Option<u32>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateRoom {
    /// Fields to change, as a JSON merge patch: fields left out keep their current values,
    /// `null` puts a setting back to its default or removes a kind from `types`, and a
    /// kind's policy is replaced whole.
    settings: serde_json::Value,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PublishMessage {
    /// Message type, 1-32 characters of `A-Z a-z 0-9 _ - . :` (default `notice`).
    #[serde(default = "default_notice")]
    kind: String,
    /// Any JSON value, at most `limits.max_message_bytes` when encoded.
    body: serde_json::Value,
    /// Default `system`: never dropped under load and exempt from the room's rate.
    /// Aggregated and merged types (likes, join notices) always travel in the low lane.
    #[serde(default)]
    #[schema(value_type = Option<String>, example = "system")]
    priority: Option<Priority>,
    /// A reliable message (gifts, red packets): system lane, stored before this reply,
    /// carried again to members until they acknowledge it, kept `reliable.ttl_s`.
    #[serde(default)]
    reliable: bool,
    /// The reliable message's id, 1-64 characters of `A-Z a-z 0-9 _ . : -`: publishing
    /// again with the same id while the first is retained returns the first one's seq
    /// (safe retries). Without it the server picks one.
    #[serde(default)]
    msg_id: Option<String>,
}

fn default_notice() -> String {
    "notice".to_owned()
}

#[derive(Serialize, ToSchema)]
pub struct Published {
    /// 0 when `dropped`.
    seq: u64,
    ts: u64,
    /// The reliable message's id.
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<String>,
    /// The type is dropped while the room is over its rate, and this message was.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    dropped: bool,
}

/// Overlays `patch` on `base` as a JSON merge patch: objects merge key by key, `null`
/// removes a key (a setting goes back to its default, a kind leaves `types`), anything
/// else replaces. A type policy (an object with `policy`) replaces the old one whole, so
/// that switching policies leaves no field of the old one behind.
fn merge_json(base: &mut serde_json::Value, patch: serde_json::Value) {
    use serde_json::Value;
    match (base, patch) {
        (Value::Object(base), Value::Object(patch)) if !patch.contains_key("policy") => {
            for (key, value) in patch {
                if value.is_null() {
                    base.remove(&key);
                } else {
                    merge_json(base.entry(key).or_insert(Value::Null), value);
                }
            }
        }
        (base, patch) => *base = patch,
    }
}

/// Settings from `base` with `patch` applied, validated.
fn patched_settings(
    base: &RoomSettings,
    patch: Option<serde_json::Value>,
) -> Result<RoomSettings, ApiError> {
    let Some(patch) = patch else {
        return Ok(base.clone());
    };
    if !patch.is_object() {
        return Err(ApiError::bad_request(
            "invalid_settings",
            "settings must be a JSON object",
        ));
    }
    let mut merged = serde_json::to_value(base).expect("settings serialise");
    merge_json(&mut merged, patch);
    let settings: RoomSettings = serde_json::from_value(merged)
        .map_err(|e| ApiError::bad_request("invalid_settings", e.to_string()))?;
    settings
        .validate()
        .map_err(|e| ApiError::bad_request("invalid_settings", e.to_string()))?;
    Ok(settings)
}

fn check_room_id(id: &str) -> Result<(), ApiError> {
    validate::room_id(id).map_err(|(_, message)| ApiError::bad_request("invalid_room_id", message))
}

async fn room_info(node: &Node, record: RoomRecord) -> Result<RoomInfo, ApiError> {
    let seq = node
        .backends
        .bus
        .last_seq(&record.id)
        .await
        .map_err(ApiError::backend)?;
    let online = node
        .backends
        .hot
        .online(&record.id)
        .await
        .map_err(ApiError::backend)?;
    Ok(RoomInfo {
        id: record.id,
        settings: record.settings,
        created_at: record.created_at,
        online,
        seq,
    })
}

async fn find_room(node: &Node, id: &str) -> Result<RoomRecord, ApiError> {
    check_room_id(id)?;
    node.backends
        .store
        .get_room(id)
        .await
        .map_err(ApiError::backend)?
        .ok_or_else(|| ApiError::not_found(id))
}

/// Create a room.
#[utoipa::path(post, path = "/v1/rooms", tag = "rooms", request_body = CreateRoom,
    responses((status = 201, body = RoomInfo), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn create_room(
    State(node): State<Arc<Node>>,
    ApiJson(body): ApiJson<CreateRoom>,
) -> Result<(StatusCode, Json<RoomInfo>), ApiError> {
    check_room_id(&body.id)?;
    let settings = patched_settings(&node.config.rooms.defaults, body.settings)?;
    let record = RoomRecord {
        id: body.id,
        settings,
        created_at: throng_backend::unix_ms(),
    };
    if !node
        .backends
        .store
        .create_room(&record)
        .await
        .map_err(ApiError::backend)?
    {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "room_exists",
            format!("room {:?} already exists", record.id),
        ));
    }
    Ok((StatusCode::CREATED, Json(room_info(&node, record).await?)))
}

/// List rooms, ordered by id.
#[utoipa::path(get, path = "/v1/rooms", tag = "rooms", params(ListQuery),
    responses((status = 200, body = RoomList), (status = 400, body = ErrorBody)))]
async fn list_rooms(
    State(node): State<Arc<Node>>,
    Query(query): Query<ListQuery>,
) -> Result<Json<RoomList>, ApiError> {
    let limit = query.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid_limit",
            "limit must be between 1 and 1000",
        ));
    }
    let records = node
        .backends
        .store
        .list_rooms(query.after.as_deref(), limit)
        .await
        .map_err(ApiError::backend)?;
    let next = (records.len() == limit as usize)
        .then(|| records.last().map(|r| r.id.clone()))
        .flatten();
    let mut rooms = Vec::with_capacity(records.len());
    for record in records {
        rooms.push(room_info(&node, record).await?);
    }
    Ok(Json(RoomList { rooms, next }))
}

/// A room's settings, online count and latest seq.
#[utoipa::path(get, path = "/v1/rooms/{id}", tag = "rooms", params(("id" = String, Path)),
    responses((status = 200, body = RoomInfo), (status = 404, body = ErrorBody)))]
async fn get_room(
    State(node): State<Arc<Node>>,
    Path(id): Path<String>,
) -> Result<Json<RoomInfo>, ApiError> {
    let record = find_room(&node, &id).await?;
    Ok(Json(room_info(&node, record).await?))
}

/// Change a room's settings (limits, ring sizes, batching, type policies, reliable
/// messages, statistics, recording). Takes effect at once.
#[utoipa::path(patch, path = "/v1/rooms/{id}", tag = "rooms", params(("id" = String, Path)), request_body = UpdateRoom,
    responses((status = 200, body = RoomInfo), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn update_room(
    State(node): State<Arc<Node>>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdateRoom>,
) -> Result<Json<RoomInfo>, ApiError> {
    let mut record = find_room(&node, &id).await?;
    record.settings = patched_settings(&record.settings, Some(body.settings))?;
    if !node
        .backends
        .store
        .update_room(&id, &record.settings)
        .await
        .map_err(ApiError::backend)?
    {
        return Err(ApiError::not_found(&id));
    }
    if let Some(handle) = node.rooms.get(&id) {
        let _ = handle
            .commands
            .send(Command::Settings(record.settings.clone()))
            .await;
    }
    Ok(Json(room_info(&node, record).await?))
}

/// Destroy a room: members get `left` with reason `room_deleted`.
#[utoipa::path(delete, path = "/v1/rooms/{id}", tag = "rooms", params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
async fn delete_room(
    State(node): State<Arc<Node>>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    check_room_id(&id)?;
    if !node
        .backends
        .store
        .delete_room(&id)
        .await
        .map_err(ApiError::backend)?
    {
        return Err(ApiError::not_found(&id));
    }
    if let Some(handle) = node.rooms.get(&id) {
        let _ = handle.commands.send(Command::Delete).await;
    }
    node.backends
        .bus
        .remove_room(&id)
        .await
        .map_err(ApiError::backend)?;
    // Its attributes and counters go too: a room created again with this id starts empty.
    node.backends
        .hot
        .drop_room(&id)
        .await
        .map_err(ApiError::backend)?;
    Ok(StatusCode::NO_CONTENT)
}

/// Publish a message into a room as the server (`from` is `@server`).
#[utoipa::path(post, path = "/v1/rooms/{id}/messages", tag = "rooms", params(("id" = String, Path)), request_body = PublishMessage,
    responses((status = 201, body = Published), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn publish(
    State(node): State<Arc<Node>>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<PublishMessage>,
) -> Result<(StatusCode, Json<Published>), ApiError> {
    let record = find_room(&node, &id).await?;
    validate::kind(&body.kind).map_err(|(_, m)| ApiError::bad_request("invalid_kind", m))?;
    validate::body_size(&body.body, node.config.limits.max_message_bytes)
        .map_err(|(_, m)| ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "message_too_large", m))?;
    let settings = &record.settings;
    let asked = body.priority.or(Some(Priority::System));
    let priority = crate::publish::lane(settings, &body.kind, asked, body.reliable);
    let handle = node.rooms.get(&id);
    let publication = crate::publish::Publication {
        room: &id,
        from: SERVER_SENDER.to_owned(),
        kind: body.kind,
        body: body.body,
        priority,
        reliable: body.reliable,
        msg_id: body.msg_id,
    };
    let published = crate::publish::publish(&node, settings, handle.as_deref(), publication)
        .await
        .map_err(|(code, message)| ApiError::new(status_of(code), code.name(), message))?;
    let reply = match published {
        crate::publish::Published::Message(message) => Published {
            seq: message.seq,
            ts: message.ts,
            id: message.id.clone(),
            dropped: false,
        },
        crate::publish::Published::Duplicate(message) => Published {
            seq: message.seq,
            ts: message.ts,
            id: message.id,
            dropped: false,
        },
        crate::publish::Published::Dropped => Published {
            seq: 0,
            ts: throng_backend::unix_ms(),
            id: None,
            dropped: true,
        },
    };
    Ok((StatusCode::CREATED, Json(reply)))
}

/// A room's live statistics: online users, member connections, joins and leaves per
/// second, totals of aggregated kinds (likes), messages accepted and dropped per lane. The
/// same figures members receive in `stats` frames. All zero while no member is connected.
#[utoipa::path(get, path = "/v1/rooms/{id}/stats", tag = "rooms", params(("id" = String, Path)),
    responses((status = 200, body = RoomStats), (status = 404, body = ErrorBody)))]
async fn room_stats(
    State(node): State<Arc<Node>>,
    Path(id): Path<String>,
) -> Result<Json<RoomStats>, ApiError> {
    find_room(&node, &id).await?;
    if let Some(handle) = node.rooms.get(&id) {
        let (reply, answer) = tokio::sync::oneshot::channel();
        if handle.commands.send(Command::Stats(reply)).await.is_ok() {
            if let Ok(stats) = answer.await {
                return Ok(Json(stats));
            }
        }
    }
    Ok(Json(RoomStats {
        room: id,
        ts: throng_backend::unix_ms(),
        online: 0,
        connections: 0,
        joins_per_sec: 0.0,
        leaves_per_sec: 0.0,
        counters: Default::default(),
        accepted: Default::default(),
        dropped: Default::default(),
    }))
}

/// The HTTP status of a refusal the WebSocket gateway would answer with `code`.
fn status_of(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::ROOM_RATE_LIMITED | ErrorCode::RATE_LIMITED | ErrorCode::BACKLOG_FULL => {
            StatusCode::TOO_MANY_REQUESTS
        }
        ErrorCode::FORBIDDEN => StatusCode::FORBIDDEN,
        ErrorCode::UNAVAILABLE => StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::INTERNAL => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_REQUEST,
    }
}

// --- Recording --------------------------------------------------------------------

#[derive(Deserialize, utoipa::IntoParams)]
pub struct RecordingQuery {
    /// Start of the time range, Unix ms, inclusive.
    #[param(required = true, value_type = u64)]
    from: Option<String>,
    /// End of the time range, Unix ms, inclusive; at least `from`.
    #[param(required = true, value_type = u64)]
    to: Option<String>,
    /// Page size, 1-1000 (default 500).
    #[param(value_type = Option<u32>)]
    limit: Option<String>,
    /// Start after the message with this seq at time `from` (a previous page's `next`).
    #[param(value_type = Option<u64>)]
    after_seq: Option<String>,
}

/// A recorded message, exactly as members received it (the protocol's `Message`).
#[derive(ToSchema)]
#[allow(dead_code)] // describes `throng_protocol::Message` in the OpenAPI document
pub struct RecordedMessage {
    seq: u64,
    /// Server timestamp, Unix ms.
    ts: u64,
    from: String,
    kind: String,
    priority: Priority,
    #[schema(value_type = Object)]
    body: serde_json::Value,
    /// Present on reliable messages.
    id: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct RecordingPage {
    room: String,
    /// Ordered by (ts, seq).
    #[schema(value_type = Vec<RecordedMessage>)]
    messages: Vec<throng_protocol::Message>,
    /// Where the next page starts (pass as `from` and `after_seq`, same `to`); null on
    /// the last page.
    next: Option<RecordingPosition>,
}

#[derive(Serialize, ToSchema)]
pub struct RecordingPosition {
    from: u64,
    after_seq: u64,
}

/// A number from the query string; `Err` when present and not a number.
fn query_number<T: std::str::FromStr>(value: Option<&str>) -> Result<Option<T>, ()> {
    value.map(|v| v.parse().map_err(|_| ())).transpose()
}

/// Messages a room recorded (setting `recording`), by server time: for replaying chat
/// beside a recorded video. Pages follow `next` until it is null.
#[utoipa::path(get, path = "/v1/rooms/{id}/recording", tag = "rooms",
    params(("id" = String, Path), RecordingQuery),
    responses((status = 200, body = RecordingPage), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn recording(
    State(node): State<Arc<Node>>,
    Path(id): Path<String>,
    query: Result<Query<RecordingQuery>, QueryRejection>,
) -> Result<Json<RecordingPage>, ApiError> {
    let Query(query) =
        query.map_err(|rejection| ApiError::bad_request("invalid_query", rejection.body_text()))?;
    check_room_id(&id)?;
    let range = (
        query_number::<u64>(query.from.as_deref()),
        query_number::<u64>(query.to.as_deref()),
    );
    let (from, to) = match range {
        (Ok(Some(from)), Ok(Some(to))) if from <= to => (from, to),
        _ => {
            return Err(ApiError::bad_request(
                "invalid_range",
                "from and to are required, Unix milliseconds with from <= to",
            ))
        }
    };
    let limit = match query_number::<u32>(query.limit.as_deref()) {
        Ok(limit) if (1..=1000).contains(&limit.unwrap_or(500)) => limit.unwrap_or(500),
        _ => {
            return Err(ApiError::bad_request(
                "invalid_limit",
                "limit must be between 1 and 1000",
            ))
        }
    };
    let after_seq = query_number::<u64>(query.after_seq.as_deref()).map_err(|()| {
        ApiError::bad_request("invalid_after_seq", "after_seq must be a seq (a number)")
    })?;
    find_room(&node, &id).await?;
    let messages = node
        .backends
        .store
        .recorded(&id, from, to, after_seq.map(|seq| (from, seq)), limit)
        .await
        .map_err(ApiError::backend)?;
    let next = (messages.len() == limit as usize)
        .then(|| messages.last())
        .flatten()
        .map(|last| RecordingPosition {
            from: last.ts,
            after_seq: last.seq,
        });
    Ok(Json(RecordingPage {
        room: id,
        messages,
        next,
    }))
}

// --- Moderation -------------------------------------------------------------------

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct SanctionRequest {
    /// How long it lasts, in seconds; absent means until lifted.
    duration_s: Option<u64>,
    /// Shown to the affected user; at most 512 bytes.
    reason: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct SanctionList {
    /// Active entries, ordered by user.
    entries: Vec<Sanction>,
}

fn parse_list(list: &str) -> Result<ListKind, ApiError> {
    ListKind::parse(list).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_list",
            format!("no list {list:?}; lists are mute, ban, whitelist, blacklist and room_mute"),
        )
    })
}

/// The action that adds to (`add`) or removes from a list.
fn list_action(kind: ListKind, add: bool) -> ModerateAction {
    use ModerateAction::*;
    match (kind, add) {
        (ListKind::Mute, true) => Mute,
        (ListKind::Mute, false) => Unmute,
        (ListKind::Ban, true) => Ban,
        (ListKind::Ban, false) => Unban,
        (ListKind::Whitelist, true) => Whitelist,
        (ListKind::Whitelist, false) => Unwhitelist,
        (ListKind::Blacklist, true) => Blacklist,
        (ListKind::Blacklist, false) => Unblacklist,
        (ListKind::RoomMute, true) => MuteRoom,
        (ListKind::RoomMute, false) => UnmuteRoom,
    }
}

async fn run_action(
    node: &Node,
    room: Option<&str>,
    action: ModerateAction,
    user: Option<&str>,
    request: SanctionRequest,
) -> Result<Option<Sanction>, ApiError> {
    if let Some(room) = room {
        check_room_id(room)?;
    }
    if request.reason.as_ref().is_some_and(|r| r.len() > 512) {
        return Err(ApiError::bad_request(
            "invalid_reason",
            "reason is at most 512 bytes",
        ));
    }
    let result = node
        .moderate(crate::moderation::Action {
            room,
            action,
            user,
            duration: request.duration_s.map(std::time::Duration::from_secs),
            reason: request.reason.as_deref(),
            by: SERVER_SENDER,
        })
        .await;
    result.map_err(|e| match e {
        ModerationError::Backend(e) => ApiError::backend(e),
        ModerationError::Full(e) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "moderation_full",
            e.to_string(),
        ),
        ModerationError::NotGlobal => ApiError::bad_request("not_global", e.to_string()),
        other => ApiError::bad_request("invalid_user", other.to_string()),
    })
}

fn entry_response(created: Option<Sanction>) -> Result<Json<Sanction>, ApiError> {
    created.map(Json).ok_or_else(|| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "no entry was created",
        )
    })
}

/// Add a user to a room's list (`mute`, `ban`, `whitelist`, `blacklist`). A ban or
/// blacklist entry also removes the user from the room now. The user gets a
/// `moderation` event.
#[utoipa::path(put, path = "/v1/rooms/{id}/moderation/{list}/{user}", tag = "moderation",
    params(("id" = String, Path), ("list" = String, Path, description = "mute | ban | whitelist | blacklist"), ("user" = String, Path)),
    request_body = SanctionRequest,
    responses((status = 200, body = Sanction), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn put_room_entry(
    State(node): State<Arc<Node>>,
    Path((id, list, user)): Path<(String, String, String)>,
    ApiJson(request): ApiJson<SanctionRequest>,
) -> Result<Json<Sanction>, ApiError> {
    let kind = parse_list(&list)?;
    if kind == ListKind::RoomMute {
        return Err(ApiError::bad_request(
            "invalid_user",
            "room_mute applies to the whole room: PUT /v1/rooms/{id}/moderation/room_mute",
        ));
    }
    entry_response(
        run_action(
            &node,
            Some(&id),
            list_action(kind, true),
            Some(&user),
            request,
        )
        .await?,
    )
}

/// Remove a user from a room's list (unmute, unban, …).
#[utoipa::path(delete, path = "/v1/rooms/{id}/moderation/{list}/{user}", tag = "moderation",
    params(("id" = String, Path), ("list" = String, Path, description = "mute | ban | whitelist | blacklist"), ("user" = String, Path)),
    responses((status = 204), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn delete_room_entry(
    State(node): State<Arc<Node>>,
    Path((id, list, user)): Path<(String, String, String)>,
) -> Result<StatusCode, ApiError> {
    let kind = parse_list(&list)?;
    run_action(
        &node,
        Some(&id),
        list_action(kind, false),
        Some(&user),
        SanctionRequest::default(),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The active entries of a room's list (`room_mute` has at most one).
#[utoipa::path(get, path = "/v1/rooms/{id}/moderation/{list}", tag = "moderation",
    params(("id" = String, Path), ("list" = String, Path, description = "mute | ban | whitelist | blacklist | room_mute")),
    responses((status = 200, body = SanctionList), (status = 404, body = ErrorBody)))]
async fn list_room_entries(
    State(node): State<Arc<Node>>,
    Path((id, list)): Path<(String, String)>,
) -> Result<Json<SanctionList>, ApiError> {
    check_room_id(&id)?;
    let kind = parse_list(&list)?;
    Ok(Json(SanctionList {
        entries: node.moderation_list(kind, Some(&id)),
    }))
}

/// Mute the whole room (`list` must be `room_mute`): only whitelisted users may send.
#[utoipa::path(put, path = "/v1/rooms/{id}/moderation/{list}", tag = "moderation",
    params(("id" = String, Path), ("list" = String, Path, description = "room_mute")),
    request_body = SanctionRequest,
    responses((status = 200, body = Sanction), (status = 400, body = ErrorBody)))]
async fn put_room_list(
    State(node): State<Arc<Node>>,
    Path((id, list)): Path<(String, String)>,
    ApiJson(request): ApiJson<SanctionRequest>,
) -> Result<Json<Sanction>, ApiError> {
    if parse_list(&list)? != ListKind::RoomMute {
        return Err(ApiError::bad_request(
            "missing_user",
            format!("add a user: PUT /v1/rooms/{id}/moderation/{list}/{{user}}"),
        ));
    }
    entry_response(run_action(&node, Some(&id), ModerateAction::MuteRoom, None, request).await?)
}

/// Lift the room mute (`list` must be `room_mute`).
#[utoipa::path(delete, path = "/v1/rooms/{id}/moderation/{list}", tag = "moderation",
    params(("id" = String, Path), ("list" = String, Path, description = "room_mute")),
    responses((status = 204), (status = 400, body = ErrorBody)))]
async fn delete_room_list(
    State(node): State<Arc<Node>>,
    Path((id, list)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    if parse_list(&list)? != ListKind::RoomMute {
        return Err(ApiError::bad_request(
            "missing_user",
            format!("name a user: DELETE /v1/rooms/{id}/moderation/{list}/{{user}}"),
        ));
    }
    run_action(
        &node,
        Some(&id),
        ModerateAction::UnmuteRoom,
        None,
        SanctionRequest::default(),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Remove a user from a room now; they may join again.
#[utoipa::path(post, path = "/v1/rooms/{id}/kick/{user}", tag = "moderation",
    params(("id" = String, Path), ("user" = String, Path)), request_body = SanctionRequest,
    responses((status = 204), (status = 400, body = ErrorBody)))]
async fn kick(
    State(node): State<Arc<Node>>,
    Path((id, user)): Path<(String, String)>,
    ApiJson(request): ApiJson<SanctionRequest>,
) -> Result<StatusCode, ApiError> {
    if request.duration_s.is_some() {
        return Err(ApiError::bad_request(
            "invalid_duration",
            "a kick has no duration; ban the user instead",
        ));
    }
    run_action(&node, Some(&id), ModerateAction::Kick, Some(&user), request).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Mute or ban a user in every room (`list` is `mute` or `ban`).
#[utoipa::path(put, path = "/v1/moderation/{list}/{user}", tag = "moderation",
    params(("list" = String, Path, description = "mute | ban"), ("user" = String, Path)), request_body = SanctionRequest,
    responses((status = 200, body = Sanction), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn put_global_entry(
    State(node): State<Arc<Node>>,
    Path((list, user)): Path<(String, String)>,
    ApiJson(request): ApiJson<SanctionRequest>,
) -> Result<Json<Sanction>, ApiError> {
    let kind = parse_list(&list)?;
    entry_response(run_action(&node, None, list_action(kind, true), Some(&user), request).await?)
}

/// Lift a global mute or ban.
#[utoipa::path(delete, path = "/v1/moderation/{list}/{user}", tag = "moderation",
    params(("list" = String, Path, description = "mute | ban"), ("user" = String, Path)),
    responses((status = 204), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn delete_global_entry(
    State(node): State<Arc<Node>>,
    Path((list, user)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let kind = parse_list(&list)?;
    run_action(
        &node,
        None,
        list_action(kind, false),
        Some(&user),
        SanctionRequest::default(),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Active global mutes or bans.
#[utoipa::path(get, path = "/v1/moderation/{list}", tag = "moderation",
    params(("list" = String, Path, description = "mute | ban")),
    responses((status = 200, body = SanctionList), (status = 404, body = ErrorBody)))]
async fn list_global_entries(
    State(node): State<Arc<Node>>,
    Path(list): Path<String>,
) -> Result<Json<SanctionList>, ApiError> {
    let kind = parse_list(&list)?;
    Ok(Json(SanctionList {
        entries: node.moderation_list(kind, None),
    }))
}

// --- Word filter --------------------------------------------------------------------

/// The store key of the filter set through the API.
const FILTER_SETTING: &str = "filter";

/// The filter in force and where it came from.
pub struct FilterInForce {
    pub set: FilterSet,
    /// `api` when set through the API (stored), `config` otherwise.
    pub source: &'static str,
}

/// Builds a filter off the async threads (100k words take a moment).
async fn build_filter(config: FilterConfig) -> Result<FilterSet, throng_filter::FilterError> {
    tokio::task::spawn_blocking(move || FilterSet::build(config))
        .await
        .expect("filter build does not panic")
}

/// The filter a node should use: the one stored through the API, else the config's.
pub async fn filter_in_force(node: &Node) -> Result<FilterInForce, String> {
    let stored = node
        .backends
        .store
        .get_setting(FILTER_SETTING)
        .await
        .map_err(|e| e.to_string())?;
    let (config, source) = match stored {
        Some(value) => (
            serde_json::from_value(value).map_err(|e| format!("stored filter: {e}"))?,
            "api",
        ),
        None => (node.config.filter.clone(), "config"),
    };
    let set = build_filter(config)
        .await
        .map_err(|e| format!("{source} filter: {e}"))?;
    Ok(FilterInForce { set, source })
}

#[derive(Serialize, ToSchema)]
pub struct FilterView {
    /// `api` when set through this API (stored, survives restarts), `config` when it
    /// comes from the configuration file.
    source: String,
    /// Words across all lists.
    words: usize,
    config: FilterConfig,
}

fn filter_view(set: &FilterSet, source: &str) -> FilterView {
    FilterView {
        source: source.to_owned(),
        words: set.word_count(),
        config: set.config().clone(),
    }
}

/// The word filter in force.
#[utoipa::path(get, path = "/v1/filter", tag = "filter", responses((status = 200, body = FilterView)))]
async fn get_filter(State(node): State<Arc<Node>>) -> Result<Json<FilterView>, ApiError> {
    let stored = node
        .backends
        .store
        .get_setting(FILTER_SETTING)
        .await
        .map_err(ApiError::backend)?;
    let source = if stored.is_some() { "api" } else { "config" };
    Ok(Json(filter_view(&node.filter(), source)))
}

/// Replace the word filter (all lists at once). Takes effect for the next message and is
/// kept across restarts, in place of the configuration file's lists.
#[utoipa::path(put, path = "/v1/filter", tag = "filter", request_body = FilterConfig,
    responses((status = 200, body = FilterView), (status = 400, body = ErrorBody)))]
async fn put_filter(
    State(node): State<Arc<Node>>,
    ApiJson(config): ApiJson<FilterConfig>,
) -> Result<Json<FilterView>, ApiError> {
    let value = serde_json::to_value(&config).expect("filter config serialises");
    let set = build_filter(config)
        .await
        .map_err(|e| ApiError::bad_request("invalid_filter", e.to_string()))?;
    node.backends
        .store
        .put_setting(FILTER_SETTING, &value)
        .await
        .map_err(ApiError::backend)?;
    let view = filter_view(&set, "api");
    node.set_filter(set);
    Ok(Json(view))
}

/// Drop the filter set through the API and go back to the configuration file's lists.
#[utoipa::path(delete, path = "/v1/filter", tag = "filter", responses((status = 200, body = FilterView)))]
async fn delete_filter(State(node): State<Arc<Node>>) -> Result<Json<FilterView>, ApiError> {
    let set = build_filter(node.config.filter.clone())
        .await
        .map_err(|e| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "invalid_filter",
                e.to_string(),
            )
        })?;
    node.backends
        .store
        .delete_setting(FILTER_SETTING)
        .await
        .map_err(ApiError::backend)?;
    let view = filter_view(&set, "config");
    node.set_filter(set);
    Ok(Json(view))
}

// --- Room attributes ----------------------------------------------------------------

#[derive(Deserialize, utoipa::IntoParams)]
pub struct SinceQuery {
    /// The version the caller holds; 0 (the default) for everything.
    since: Option<u64>,
}

#[derive(Serialize, ToSchema)]
pub struct AttributesView {
    /// The changes after `since`, oldest first; absent when `snapshot` is given.
    changes: Option<Vec<throng_protocol::attrs::Change>>,
    /// The full set, given instead of changes when they are no longer all kept.
    snapshot: Option<throng_protocol::attrs::Snapshot>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetAttribute {
    /// Any JSON value but null, at most `attributes.max_value_bytes` encoded.
    value: serde_json::Value,
    /// Only if the key is at this version (0: only if absent).
    expect_version: Option<u64>,
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct DeleteAttributeQuery {
    /// Only if the key is at this version.
    expect_version: Option<u64>,
}

#[derive(Serialize, ToSchema)]
pub struct AttributeVersion {
    /// The room's attribute version after the change.
    version: u64,
}

fn attr_error(e: crate::attributes::WriteError) -> ApiError {
    match e {
        crate::attributes::WriteError::Backend(e) => ApiError::backend(e),
        crate::attributes::WriteError::Refused(e) => {
            let status = match e {
                throng_room::attributes::AttrError::VersionMismatch { .. } => StatusCode::CONFLICT,
                throng_room::attributes::AttrError::NotFound { .. } => StatusCode::NOT_FOUND,
                _ => StatusCode::BAD_REQUEST,
            };
            ApiError::new(status, e.code(), e.to_string())
        }
    }
}

/// A room's attributes: the changes after `since`, or the full set.
#[utoipa::path(get, path = "/v1/rooms/{id}/attributes", tag = "attributes", params(("id" = String, Path), SinceQuery),
    responses((status = 200, body = AttributesView), (status = 404, body = ErrorBody)))]
async fn get_attributes(
    State(node): State<Arc<Node>>,
    Path(id): Path<String>,
    Query(query): Query<SinceQuery>,
) -> Result<Json<AttributesView>, ApiError> {
    find_room(&node, &id).await?;
    let since = node
        .backends
        .hot
        .attr_since(&id, query.since.unwrap_or(0))
        .await
        .map_err(ApiError::backend)?;
    let (changes, snapshot) = crate::attributes::split(since);
    Ok(Json(AttributesView { changes, snapshot }))
}

/// Set one attribute of a room; members are told the new version.
#[utoipa::path(put, path = "/v1/rooms/{id}/attributes/{key}", tag = "attributes",
    params(("id" = String, Path), ("key" = String, Path)), request_body = SetAttribute,
    responses((status = 200, body = AttributeVersion), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn put_attribute(
    State(node): State<Arc<Node>>,
    Path((id, key)): Path<(String, String)>,
    ApiJson(body): ApiJson<SetAttribute>,
) -> Result<Json<AttributeVersion>, ApiError> {
    let record = find_room(&node, &id).await?;
    let write = throng_backend::AttrWrite::Set {
        key,
        value: body.value,
        by: None,
        delete_on_leave: false,
        expect_version: body.expect_version,
    };
    let version = crate::attributes::write(&node.backends, &id, &record.settings, write)
        .await
        .map_err(attr_error)?;
    Ok(Json(AttributeVersion { version }))
}

/// Delete one attribute of a room.
#[utoipa::path(delete, path = "/v1/rooms/{id}/attributes/{key}", tag = "attributes",
    params(("id" = String, Path), ("key" = String, Path), DeleteAttributeQuery),
    responses((status = 200, body = AttributeVersion), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn delete_attribute(
    State(node): State<Arc<Node>>,
    Path((id, key)): Path<(String, String)>,
    Query(query): Query<DeleteAttributeQuery>,
) -> Result<Json<AttributeVersion>, ApiError> {
    let record = find_room(&node, &id).await?;
    let write = throng_backend::AttrWrite::Delete {
        key,
        by: None,
        expect_version: query.expect_version,
    };
    let version = crate::attributes::write(&node.backends, &id, &record.settings, write)
        .await
        .map_err(attr_error)?;
    Ok(Json(AttributeVersion { version }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn type_policies_merge_by_kind_and_null_removes_one() {
        let base = RoomSettings::default();
        let patch = json!({"types": {
            "like": {"policy": "latest", "key": "slot"},
            "cheer": {"policy": "drop_over_rate"},
            "join": null,
        }});
        let patched = patched_settings(&base, Some(patch)).unwrap();
        let types = &patched.types;
        assert_eq!(
            types["like"],
            throng_room::TypePolicy::Latest {
                key: "slot".into(),
                priority: Priority::High
            }
        );
        assert_eq!(
            types["cheer"],
            throng_room::TypePolicy::DropOverRate {
                priority: Priority::Low
            }
        );
        assert!(!types.contains_key("join"), "removed");
        assert_eq!(types["text"], base.types["text"], "others kept");
        // Back from latest to aggregate: no `key` is left behind to trip the parser.
        let back = patched_settings(
            &patched,
            Some(json!({"types": {"like": {"policy": "aggregate"}}})),
        )
        .unwrap();
        assert_eq!(back.types["like"], throng_room::TypePolicy::Aggregate);
        // A null setting goes back to its default.
        let reset = patched_settings(
            &patched_settings(&base, Some(json!({"rate_per_sec": 5}))).unwrap(),
            Some(json!({"rate_per_sec": null})),
        )
        .unwrap();
        assert_eq!(reset.rate_per_sec, base.rate_per_sec);
    }

    #[test]
    fn settings_patches_merge_and_validate() {
        let base = RoomSettings::default();
        let patched = patched_settings(
            &base,
            Some(json!({"rate_per_sec": 5, "batch": {"max_messages": 7}})),
        )
        .unwrap();
        assert_eq!(patched.rate_per_sec, 5);
        assert_eq!(patched.batch.max_messages, 7);
        assert_eq!(patched.batch.max_interval_ms, base.batch.max_interval_ms);
        let cases = [
            json!({"rate_per_sec": 0}),
            json!({"nope": 1}),
            json!({"ring_low": "big"}),
            json!([1]),
        ];
        for patch in cases {
            let err = patched_settings(&base, Some(patch.clone())).unwrap_err();
            assert_eq!(
                (err.status, err.code),
                (StatusCode::BAD_REQUEST, "invalid_settings"),
                "{patch}"
            );
        }
    }

    #[test]
    fn the_openapi_document_lists_every_route() {
        let (_, doc) = router();
        let paths: Vec<&String> = doc.paths.paths.keys().collect();
        assert_eq!(
            paths,
            [
                "/v1/filter",
                "/v1/moderation/{list}",
                "/v1/moderation/{list}/{user}",
                "/v1/rooms",
                "/v1/rooms/{id}",
                "/v1/rooms/{id}/attributes",
                "/v1/rooms/{id}/attributes/{key}",
                "/v1/rooms/{id}/kick/{user}",
                "/v1/rooms/{id}/messages",
                "/v1/rooms/{id}/moderation/{list}",
                "/v1/rooms/{id}/moderation/{list}/{user}",
                "/v1/rooms/{id}/recording",
                "/v1/rooms/{id}/stats",
            ]
        );
        let json = serde_json::to_value(&doc).unwrap();
        assert!(json["components"]["schemas"]["RoomSettings"].is_object());
    }
}
