//! Errors as HTTP answers: every failure is a JSON body `{"error": {"message", "type", "code"}}`
//! (OpenAI's shape), never a bare status or a plain-text body. Also the JSON request extractor,
//! whose rejections would otherwise be axum's plain text.

use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }

    /// The error's `type`, in OpenAI's vocabulary where it has one.
    fn kind(&self) -> &'static str {
        match self.status {
            StatusCode::NOT_FOUND => "not_found_error",
            StatusCode::TOO_MANY_REQUESTS => "rate_limit_error",
            StatusCode::SERVICE_UNAVAILABLE => "unavailable_error",
            s if s.is_server_error() => "server_error",
            _ => "invalid_request_error",
        }
    }

    pub fn body(&self) -> serde_json::Value {
        serde_json::json!({
            "error": { "message": self.message, "type": self.kind(), "code": self.status.as_u16() }
        })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, axum::Json(self.body())).into_response();
        if self.status == StatusCode::PAYLOAD_TOO_LARGE {
            // The server answers before reading the body and then closes the connection; saying
            // so keeps a client from reusing it for its next request (found by the soak: the
            // request after a 413 failed with "connection closed before message completed").
            response.headers_mut().insert(
                axum::http::header::CONNECTION,
                axum::http::HeaderValue::from_static("close"),
            );
        }
        response
    }
}

/// A JSON request body. Unlike `axum::Json` it does not insist on a `Content-Type` (curl's `-d`
/// sends a form type), and each way a body can be wrong is a JSON error: too large (413), not
/// UTF-8, not JSON, or not the expected shape (400, with serde's line and column).
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|rejection| {
                let status = rejection.status();
                let message = if status == StatusCode::PAYLOAD_TOO_LARGE {
                    "the request body is larger than the server accepts (--max-body-bytes)"
                        .to_string()
                } else {
                    format!("could not read the request body: {}", rejection.body_text())
                };
                ApiError::new(status, message)
            })?;
        if let Err(e) = std::str::from_utf8(&bytes) {
            return Err(ApiError::bad_request(format!(
                "the request body is not valid UTF-8 (byte {})",
                e.valid_up_to()
            )));
        }
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError::bad_request(
                "the request body is empty; expected a JSON object",
            ));
        }
        serde_json::from_slice(&bytes).map(JsonBody).map_err(|e| {
            let what = match e.classify() {
                serde_json::error::Category::Data => {
                    "the JSON does not have the expected fields and types"
                }
                _ => "the request body is not valid JSON",
            };
            ApiError::bad_request(format!("{what}: {e}"))
        })
    }
}
