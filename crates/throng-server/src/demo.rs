//! The live-room demo a newcomer opens at `/`: its page, script and style sheet,
//! embedded in the binary, and `GET /demo/token`, which hands the page a short-lived
//! token while the server runs on its generated development credentials.
//!
//! The sources live in the repository's `web/` folder. The page and the style sheet are
//! embedded from there as they are; the script is bundled (with the SDK) by `npm run
//! build` there into `crates/throng-server/web/app.js`, which is committed so that
//! building the server never needs npm. The browser tests check that the committed
//! bundle equals a fresh build.
//!
//! A browser must never hold the server API key, so the page cannot mint or ask for
//! tokens the way an app's backend does. The token endpoint stands in for that backend,
//! and only where no real one can exist: with a configured JWT secret, public key,
//! issuer, audience or API key (a production setup) it answers 404.

use crate::error::ApiError;
use crate::node::Node;
use crate::rooms::Command;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Json;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use throng_auth::DevCredentials;
use throng_backend::RoomRecord;
use throng_config::AuthConfig;
use throng_room::{ReliableSenders, RoomSettings};

/// The room every demo page joins.
pub const DEMO_ROOM: &str = "demo";

/// How long a demo token lives. Short, because anyone who can reach the page can get
/// one; the SDK asks for a fresh token before every connection attempt anyway.
pub const DEMO_TOKEN_TTL: Duration = Duration::from_secs(15 * 60);

/// Longest demo user name, in characters.
pub const MAX_DEMO_USER_CHARS: usize = 32;

/// One embedded file of the page.
struct Asset {
    /// The URL path it is served at.
    path: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

/// Everything the page needs. Paths are fixed (no content hash in the name), so they are
/// served with `no-cache` and an `ETag`: a browser revalidates on every load and gets a
/// bodiless 304 while the binary is unchanged.
const ASSETS: &[Asset] = &[
    Asset {
        path: "/",
        content_type: "text/html; charset=utf-8",
        bytes: include_bytes!("../../../web/src/index.html"),
    },
    Asset {
        path: "/demo/app.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../web/app.js"),
    },
    Asset {
        path: "/demo/app.css",
        content_type: "text/css; charset=utf-8",
        bytes: include_bytes!("../../../web/src/app.css"),
    },
];

/// What the token endpoint needs: the node (to set up the demo room) and the secret to
/// sign with, present only on development credentials.
#[derive(Clone)]
struct DemoState {
    node: Arc<Node>,
    signing_secret: Option<Arc<str>>,
}

/// The demo's routes: the embedded files, and `/demo/token`.
pub fn router(node: Arc<Node>, dev_credentials: Option<&DevCredentials>) -> axum::Router {
    let signing_secret = demo_signing_secret(&node.config.auth, dev_credentials).map(Arc::from);
    let mut routes = axum::Router::new().route("/demo/token", get(token));
    for asset in ASSETS {
        routes = routes.route(
            asset.path,
            get(move |headers: HeaderMap| async move { serve_asset(asset, &headers) }),
        );
    }
    routes.with_state(DemoState {
        node,
        signing_secret,
    })
}

/// The development secret when every credential in force is a generated development
/// one, else `None` (the demo's tokens are then refused). A configured issuer or audience
/// counts as production too: the demo's tokens carry neither and would not verify.
pub fn demo_signing_secret(auth: &AuthConfig, dev: Option<&DevCredentials>) -> Option<String> {
    let development_only = auth.jwt_secret.is_none()
        && !auth.jwt_algorithm.uses_public_key()
        && auth.jwt_issuer.is_none()
        && auth.jwt_audience.is_none()
        && auth.api_keys.is_empty();
    dev.filter(|_| development_only)
        .map(|dev| dev.jwt_secret.clone())
}

/// A strong validator for a file that never changes while the binary runs: FNV-1a of its
/// bytes (not for security; a changed file only has to change the tag).
fn entity_tag(bytes: &[u8]) -> String {
    let hash = bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("\"{hash:016x}\"")
}

fn serve_asset(asset: &'static Asset, headers: &HeaderMap) -> Response {
    let tag = entity_tag(asset.bytes);
    let not_modified = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.split(',').any(|candidate| candidate.trim() == tag));
    let tag = HeaderValue::from_str(&tag).expect("a quoted hex string is a valid header");
    let cache = (header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if not_modified {
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, tag), cache]).into_response();
    }
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(asset.content_type),
            ),
            (header::ETAG, tag),
            cache,
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
        ],
        asset.bytes,
    )
        .into_response()
}

#[derive(Deserialize)]
struct TokenQuery {
    user: Option<String>,
}

/// The answer of `GET /demo/token`.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct DemoToken {
    /// A JWT for `user`, without roles.
    pub token: String,
    pub user: String,
    /// The room to join.
    pub room: String,
    /// Seconds until the token expires.
    pub expires_in_s: u64,
}

/// Why a demo user name is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserNameError {
    Missing,
    TooLong,
    BadCharacter,
}

/// Checks a demo user name: 1 to [`MAX_DEMO_USER_CHARS`] characters of
/// `A-Z a-z 0-9 _ - .`. Narrower than what tokens allow, so that a name shown on the page
/// can never spoof the server (`@server`) or carry markup.
pub fn check_demo_user(user: &str) -> Result<(), UserNameError> {
    if user.is_empty() {
        return Err(UserNameError::Missing);
    }
    if user.chars().count() > MAX_DEMO_USER_CHARS {
        return Err(UserNameError::TooLong);
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.');
    if !user.chars().all(allowed) {
        return Err(UserNameError::BadCharacter);
    }
    Ok(())
}

impl From<UserNameError> for ApiError {
    fn from(error: UserNameError) -> ApiError {
        match error {
            UserNameError::Missing => {
                ApiError::bad_request("user_missing", "give a user name: /demo/token?user=ann")
            }
            UserNameError::TooLong => ApiError::bad_request(
                "user_too_long",
                format!("a user name has at most {MAX_DEMO_USER_CHARS} characters"),
            ),
            UserNameError::BadCharacter => {
                ApiError::bad_request("user_invalid", "a user name may use only A-Z a-z 0-9 _ - .")
            }
        }
    }
}

/// `GET /demo/token?user=<name>`: a short-lived token for `user`, after making sure the
/// demo room exists with the demo's settings.
async fn token(
    State(state): State<DemoState>,
    Query(query): Query<TokenQuery>,
) -> Result<Json<DemoToken>, ApiError> {
    let Some(secret) = &state.signing_secret else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "demo_disabled",
            "demo tokens exist only while the server runs on its development credentials",
        ));
    };
    let user = query.user.unwrap_or_default();
    check_demo_user(&user)?;
    ensure_demo_room(&state.node).await?;
    let token = throng_auth::mint_hs256(secret, &user, DEMO_TOKEN_TTL, &[]).map_err(|e| {
        tracing::error!(error = %e, "cannot mint a demo token");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "cannot mint a token",
        )
    })?;
    Ok(Json(DemoToken {
        token,
        user,
        room: DEMO_ROOM.to_owned(),
        expires_in_s: DEMO_TOKEN_TTL.as_secs(),
    }))
}

/// The room rate the demo room gets at least: the page is meant to be watched at 400
/// messages per second, twice the default rate.
pub const DEMO_MIN_RATE_PER_SEC: u32 = 1_000;

/// `settings` with what the demo needs: presence notices for the join and leave lines,
/// reliable messages from every member for the gift button, and room for a busy room's
/// message rate.
pub fn with_demo_settings(settings: &RoomSettings) -> RoomSettings {
    let mut settings = settings.clone();
    settings.rate_per_sec = settings.rate_per_sec.max(DEMO_MIN_RATE_PER_SEC);
    settings.presence_notices = true;
    settings.reliable.senders = ReliableSenders::Members;
    settings
}

/// Creates the demo room, or brings an existing one to the demo's settings (and tells
/// its running host) when something changed them.
async fn ensure_demo_room(node: &Node) -> Result<(), ApiError> {
    let store = &node.backends.store;
    let existing = store.get_room(DEMO_ROOM).await.map_err(ApiError::backend)?;
    let Some(record) = existing else {
        let record = RoomRecord {
            id: DEMO_ROOM.to_owned(),
            settings: with_demo_settings(&node.config.rooms.defaults),
            created_at: throng_backend::unix_ms(),
        };
        // `false` means another request created it first, with the same settings.
        store
            .create_room(&record)
            .await
            .map_err(ApiError::backend)?;
        return Ok(());
    };
    let wanted = with_demo_settings(&record.settings);
    if wanted == record.settings {
        return Ok(());
    }
    store
        .update_room(DEMO_ROOM, &wanted)
        .await
        .map_err(ApiError::backend)?;
    if let Some(handle) = node.rooms.get(DEMO_ROOM) {
        let _ = handle.commands.send(Command::Settings(wanted)).await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_names_are_checked_for_length_and_characters() {
        let cases: &[(&str, Result<(), UserNameError>)] = &[
            ("ann", Ok(())),
            ("Ann_2.b-c", Ok(())),
            (&"x".repeat(MAX_DEMO_USER_CHARS), Ok(())),
            ("", Err(UserNameError::Missing)),
            (
                &"x".repeat(MAX_DEMO_USER_CHARS + 1),
                Err(UserNameError::TooLong),
            ),
            ("@server", Err(UserNameError::BadCharacter)),
            ("ann bob", Err(UserNameError::BadCharacter)),
            ("<b>ann</b>", Err(UserNameError::BadCharacter)),
            ("anné", Err(UserNameError::BadCharacter)),
            ("a:b", Err(UserNameError::BadCharacter)),
        ];
        for (user, expected) in cases {
            assert_eq!(check_demo_user(user), *expected, "user {user:?}");
        }
    }

    #[test]
    fn the_demo_signs_only_on_development_credentials() {
        let dev = DevCredentials::generate();
        let configured = |edit: fn(&mut AuthConfig)| {
            let mut auth = AuthConfig::default();
            edit(&mut auth);
            auth
        };
        let cases: &[(&str, AuthConfig, Option<&DevCredentials>, bool)] = &[
            ("all development", configured(|_| {}), Some(&dev), true),
            (
                "no development credentials",
                configured(|_| {}),
                None,
                false,
            ),
            (
                "configured secret",
                configured(|a| a.jwt_secret = Some("s".repeat(40))),
                Some(&dev),
                false,
            ),
            (
                "configured API key",
                configured(|a| a.api_keys = vec!["k".repeat(40)]),
                Some(&dev),
                false,
            ),
            (
                "public key algorithm",
                configured(|a| a.jwt_algorithm = throng_config::JwtAlgorithm::Rs256),
                Some(&dev),
                false,
            ),
            (
                "issuer required",
                configured(|a| a.jwt_issuer = Some("me".into())),
                Some(&dev),
                false,
            ),
            (
                "audience required",
                configured(|a| a.jwt_audience = Some("them".into())),
                Some(&dev),
                false,
            ),
        ];
        for (name, auth, dev, signs) in cases {
            assert_eq!(demo_signing_secret(auth, *dev).is_some(), *signs, "{name}");
        }
    }

    #[test]
    fn every_asset_is_embedded_with_its_type_and_a_distinct_tag() {
        let mut tags = std::collections::HashSet::new();
        for asset in ASSETS {
            assert!(!asset.bytes.is_empty(), "{} is empty", asset.path);
            assert!(
                tags.insert(entity_tag(asset.bytes)),
                "{} tag repeats",
                asset.path
            );
        }
        let types: Vec<_> = ASSETS.iter().map(|a| (a.path, a.content_type)).collect();
        assert_eq!(
            types,
            [
                ("/", "text/html; charset=utf-8"),
                ("/demo/app.js", "text/javascript; charset=utf-8"),
                ("/demo/app.css", "text/css; charset=utf-8"),
            ]
        );
    }

    #[test]
    fn demo_settings_turn_on_presence_and_member_gifts_raise_the_rate_and_keep_the_rest() {
        let defaults = RoomSettings {
            rate_per_sec: 123,
            recent_on_join: 7,
            ..RoomSettings::default()
        };
        let demo = with_demo_settings(&defaults);
        assert!(demo.presence_notices);
        assert_eq!(demo.reliable.senders, ReliableSenders::Members);
        assert_eq!(demo.rate_per_sec, DEMO_MIN_RATE_PER_SEC, "raised");
        assert_eq!(demo.recent_on_join, 7, "kept");
        assert_eq!(
            with_demo_settings(&demo),
            demo,
            "applying twice changes nothing"
        );
        let fast = RoomSettings {
            rate_per_sec: 5_000,
            ..RoomSettings::default()
        };
        assert_eq!(
            with_demo_settings(&fast).rate_per_sec,
            5_000,
            "never lowered"
        );
    }
}
