//! The SDK's errors: a stable `code` for programs and a message for people. In
//! JavaScript they are `EdgeSyncError` instances (an `Error` with a `code`).

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// A path does not lead where the operation needs (missing key, wrong type, index out of range).
    InvalidPath,
    /// A value that cannot be stored in a document (undefined, function, class instance, cycle...).
    InvalidValue,
    /// Any other bad argument (document id, options).
    InvalidArgument,
    /// No such document in local storage.
    NotFound,
    /// Stored bytes of a document cannot be loaded; they are kept untouched.
    CorruptStorage,
    /// IndexedDB failed (quota, blocked upgrade, browser refused).
    Storage,
    /// The repo or document handle was closed.
    Closed,
    /// Sync with the endpoint failed (network, server error).
    Network,
    /// The endpoint refused the token, even after one refresh.
    Unauthenticated,
    /// The token does not allow access to a document.
    Forbidden,
    /// The endpoint answered with something that breaks the protocol.
    Protocol,
    /// A bug in the SDK; please report it.
    Internal,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidPath => "invalid_path",
            ErrorCode::InvalidValue => "invalid_value",
            ErrorCode::InvalidArgument => "invalid_argument",
            ErrorCode::NotFound => "not_found",
            ErrorCode::CorruptStorage => "corrupt_storage",
            ErrorCode::Storage => "storage",
            ErrorCode::Closed => "closed",
            ErrorCode::Network => "network",
            ErrorCode::Unauthenticated => "unauthenticated",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::Protocol => "protocol",
            ErrorCode::Internal => "internal",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdkError {
    pub code: ErrorCode,
    pub message: String,
}

impl SdkError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }

    pub fn invalid_path(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidPath, message)
    }

    pub fn invalid_value(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidValue, message)
    }

    pub fn invalid_argument(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidArgument, message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Internal, message)
    }
}

impl fmt::Display for SdkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, self.code.as_str())
    }
}

impl std::error::Error for SdkError {}

impl From<automerge::AutomergeError> for SdkError {
    fn from(err: automerge::AutomergeError) -> Self {
        // Every argument is validated before it reaches automerge, so what is left is ours.
        SdkError::internal(format!("automerge rejected an operation: {err}"))
    }
}

impl From<sync_protocol::InvalidDocId> for SdkError {
    fn from(err: sync_protocol::InvalidDocId) -> Self {
        SdkError::invalid_argument(err.to_string())
    }
}
