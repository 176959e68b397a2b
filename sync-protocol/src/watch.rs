//! Long-poll change notification (PROTOCOL.md, "Watch").

use std::collections::BTreeMap;

use automerge::ChangeHash;
use serde::{Deserialize, Serialize};

use crate::doc_id::DocId;
use crate::error::{ApiError, ErrorCode};

/// Longest a watch may wait before answering `{"changed": []}`.
pub const MAX_WATCH_WAIT_MS: u64 = 30_000;
/// Wait used when a request leaves `wait_ms` out.
pub const DEFAULT_WATCH_WAIT_MS: u64 = 25_000;
/// Most documents one watch may name.
pub const MAX_WATCH_DOCS: usize = 1024;
/// Most heads one document may list (a document has few concurrent heads).
pub const MAX_WATCH_HEADS: usize = 64;

/// `{"docs": {"<doc_id>": ["<hex head>", ...]}, "wait_ms": 25000}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WatchRequest {
    /// The client's current heads per document.
    pub docs: BTreeMap<DocId, Vec<ChangeHash>>,
    #[serde(default = "default_wait_ms")]
    pub wait_ms: u64,
}

fn default_wait_ms() -> u64 {
    DEFAULT_WATCH_WAIT_MS
}

/// `{"changed": ["<doc_id>", ...]}`: documents with changes the client's heads lack.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchResponse {
    pub changed: Vec<DocId>,
}

impl WatchRequest {
    /// Parses and checks the limits; every failure is a 400 with a clear message.
    pub fn from_json(body: &[u8]) -> Result<Self, ApiError> {
        let request: Self = serde_json::from_slice(body)
            .map_err(|e| ApiError::new(ErrorCode::MalformedMessage, format!("invalid watch request: {e}")))?;
        request.validate()?;
        Ok(request)
    }

    pub fn validate(&self) -> Result<(), ApiError> {
        if self.docs.is_empty() {
            return Err(ApiError::new(ErrorCode::InvalidRequest, "a watch must name at least one document"));
        }
        if self.docs.len() > MAX_WATCH_DOCS {
            return Err(ApiError::new(
                ErrorCode::InvalidRequest,
                format!("a watch names {} documents; at most {MAX_WATCH_DOCS} are allowed", self.docs.len()),
            ));
        }
        if let Some((doc, heads)) = self.docs.iter().find(|(_, heads)| heads.len() > MAX_WATCH_HEADS) {
            return Err(ApiError::new(
                ErrorCode::InvalidRequest,
                format!("document {doc} lists {} heads; at most {MAX_WATCH_HEADS} are allowed", heads.len()),
            ));
        }
        if self.wait_ms > MAX_WATCH_WAIT_MS {
            return Err(ApiError::new(
                ErrorCode::InvalidRequest,
                format!("wait_ms is {}; at most {MAX_WATCH_WAIT_MS} is allowed", self.wait_ms),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_shape() {
        let head = "a".repeat(64);
        let body = format!(r#"{{"docs": {{"board-1": ["{head}"]}}, "wait_ms": 100}}"#);
        let req = WatchRequest::from_json(body.as_bytes()).unwrap();
        assert_eq!(req.wait_ms, 100);
        assert_eq!(req.docs.values().next().unwrap()[0].to_string(), head);
        let again: WatchRequest = serde_json::from_str(&serde_json::to_string(&req).unwrap()).unwrap();
        assert_eq!(again, req);
        let defaulted = WatchRequest::from_json(br#"{"docs": {"d": []}}"#).unwrap();
        assert_eq!(defaulted.wait_ms, DEFAULT_WATCH_WAIT_MS);
    }

    #[test]
    fn rejects_bad_requests() {
        for bad in [
            &br#"{"docs": {"d": []}, "wait_ms": 30001}"#[..],
            br#"{"docs": {}}"#,
            br#"{"docs": {"../x": []}}"#,
            br#"{"docs": {"d": ["zz"]}}"#,
            br#"{"docs": {"d": []}, "extra": 1}"#,
            b"not json",
        ] {
            let err = WatchRequest::from_json(bad).unwrap_err();
            assert!(matches!(err.code, ErrorCode::InvalidRequest | ErrorCode::MalformedMessage), "{err}");
        }
    }
}
