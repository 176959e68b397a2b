//! Every error leaves as `{"error": {"code", "message"}}` with the code's status.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use sync_protocol::{ApiError, ErrorBody, ErrorCode};

use crate::docs::DocError;

/// An [`ApiError`] as an HTTP response.
#[derive(Debug)]
pub struct HttpError(pub ApiError);

impl HttpError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self(ApiError::new(code, message))
    }
}

impl From<ApiError> for HttpError {
    fn from(e: ApiError) -> Self {
        Self(e)
    }
}

impl From<DocError> for HttpError {
    fn from(e: DocError) -> Self {
        Self(doc_error(&e))
    }
}

pub fn doc_error(e: &DocError) -> ApiError {
    let code = match e {
        DocError::Storage(_) | DocError::ShuttingDown => ErrorCode::Unavailable,
        DocError::Corrupt(..) | DocError::Panicked(_) => ErrorCode::Internal,
    };
    ApiError::new(code, e.to_string())
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.0.code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&ErrorBody::from(self.0))
            .unwrap_or_else(|_| br#"{"error":{"code":"internal","message":"unserializable error"}}"#.to_vec());
        (status, [(header::CONTENT_TYPE, sync_protocol::http::CONTENT_TYPE_JSON)], body).into_response()
    }
}

/// Maps axum's body rejections (notably the size limit) to protocol errors.
pub fn body_error(rejection: axum::extract::rejection::BytesRejection) -> HttpError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        HttpError::new(ErrorCode::BodyTooLarge, "the request body exceeds the configured limit")
    } else {
        HttpError::new(ErrorCode::MalformedMessage, format!("cannot read the request body: {rejection}"))
    }
}
