//! Stable error codes and the JSON error body every endpoint answers with.

use serde::{Deserialize, Serialize};

/// A stable, machine-readable error code. Clients branch on these; the
/// message next to it is for humans and may change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The body is not a valid batch, sync message or JSON request.
    MalformedMessage,
    /// The batch names a protocol version this server does not speak.
    UnsupportedVersion,
    /// A document id outside the documented alphabet or length.
    InvalidDocId,
    /// The request is well-formed but asks for something invalid.
    InvalidRequest,
    /// The body has the wrong content type.
    UnsupportedMediaType,
    /// The body exceeds the configured limit.
    BodyTooLarge,
    /// No token, or a token that is expired, forged or of the wrong kind.
    Unauthenticated,
    /// A valid token without access to the document.
    Forbidden,
    /// No such endpoint.
    NotFound,
    /// The server cannot serve right now (storage failing, shutting down); retry elsewhere.
    Unavailable,
    /// A bug on the server.
    Internal,
}

impl ErrorCode {
    /// The HTTP status that carries this code.
    pub fn http_status(self) -> u16 {
        match self {
            Self::MalformedMessage
            | Self::UnsupportedVersion
            | Self::InvalidDocId
            | Self::InvalidRequest => 400,
            Self::Unauthenticated => 401,
            Self::Forbidden => 403,
            Self::NotFound => 404,
            Self::BodyTooLarge => 413,
            Self::UnsupportedMediaType => 415,
            Self::Internal => 500,
            Self::Unavailable => 503,
        }
    }

    /// Whether the same request may succeed if retried (possibly on another region).
    pub fn is_retryable(self) -> bool {
        matches!(self, Self::Unavailable | Self::Internal)
    }

    /// Every code, in declaration order.
    pub const ALL: [ErrorCode; 11] = [
        Self::MalformedMessage,
        Self::UnsupportedVersion,
        Self::InvalidDocId,
        Self::InvalidRequest,
        Self::UnsupportedMediaType,
        Self::BodyTooLarge,
        Self::Unauthenticated,
        Self::Forbidden,
        Self::NotFound,
        Self::Unavailable,
        Self::Internal,
    ];

    /// The code whose wire name (`as_str`, the serde form) is `name`.
    pub fn from_wire(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|code| code.as_str() == name)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::MalformedMessage => "malformed_message",
            Self::UnsupportedVersion => "unsupported_version",
            Self::InvalidDocId => "invalid_doc_id",
            Self::InvalidRequest => "invalid_request",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::BodyTooLarge => "body_too_large",
            Self::Unauthenticated => "unauthenticated",
            Self::Forbidden => "forbidden",
            Self::NotFound => "not_found",
            Self::Unavailable => "unavailable",
            Self::Internal => "internal",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `{"code": "...", "message": "..."}`: one error, as carried in a batch entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }
}

/// `{"error": {"code": "...", "message": "..."}}`: the body of every non-2xx answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ApiError,
}

impl From<ApiError> for ErrorBody {
    fn from(error: ApiError) -> Self {
        Self { error }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_has_the_documented_shape() {
        let body = ErrorBody::from(ApiError::new(ErrorCode::BodyTooLarge, "too big"));
        assert_eq!(
            serde_json::to_string(&body).unwrap(),
            r#"{"error":{"code":"body_too_large","message":"too big"}}"#
        );
        let back: ErrorBody = serde_json::from_str(&serde_json::to_string(&body).unwrap()).unwrap();
        assert_eq!(back, body);
    }

    #[test]
    fn as_str_matches_serde_and_from_wire() {
        for code in ErrorCode::ALL {
            assert_eq!(serde_json::to_string(&code).unwrap(), format!("\"{}\"", code.as_str()));
            assert_eq!(ErrorCode::from_wire(code.as_str()), Some(code));
        }
        assert_eq!(ErrorCode::from_wire("Forbidden"), None);
        assert_eq!(ErrorCode::from_wire(""), None);
    }
}
