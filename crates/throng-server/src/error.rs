//! The error type of HTTP responses: a status, a stable string code and a safe message.
//! Internal details are logged, never sent.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable snake_case code, for example `room_not_found`.
    pub code: String,
    /// Human-readable explanation.
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn not_found(what: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "room_not_found",
            format!("no room {what:?}"),
        )
    }

    /// A backend failed: logged with its details, reported as 503 without them.
    pub fn backend(e: throng_backend::BackendError) -> ApiError {
        tracing::error!(error = %e, "backend error in the server API");
        match e {
            throng_backend::BackendError::LimitReached(m) => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "limit_reached", m)
            }
            _ => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "a backend is unavailable; retry later",
            ),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_owned(),
                message: self.message,
            },
        };
        (self.status, Json(body)).into_response()
    }
}
