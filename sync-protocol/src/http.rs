//! Paths, content types and headers of the HTTP binding (PROTOCOL.md, "HTTP endpoints").

/// `POST`: a `SyncBatch` request; answers a `SyncBatch` response.
pub const PATH_SYNC_BATCH: &str = "/v1/sync";
/// `POST /v1/docs/{doc_id}/sync`: one automerge sync message each way.
pub const PATH_DOC_SYNC_TEMPLATE: &str = "/v1/docs/{doc_id}/sync";
/// `POST`: JSON `WatchRequest`; answers JSON `WatchResponse` (long-poll).
pub const PATH_WATCH: &str = "/v1/watch";
/// `POST`: region-to-region `SyncBatch` (replication token only).
pub const PATH_REPLICATE: &str = "/v1/replicate";
/// `POST`: development mode only; mints a client token.
pub const PATH_DEV_TOKEN: &str = "/v1/dev/token";
/// `GET`: JSON replication and storage status.
pub const PATH_STATUS: &str = "/v1/status";
pub const PATH_HEALTHZ: &str = "/healthz";
pub const PATH_READYZ: &str = "/readyz";
pub const PATH_METRICS: &str = "/metrics";

pub const CONTENT_TYPE_BATCH: &str = "application/x-edgesync-batch";
pub const CONTENT_TYPE_SYNC_MESSAGE: &str = "application/x-automerge-sync";
pub const CONTENT_TYPE_JSON: &str = "application/json";

/// Sent by clients on every `POST` so the edge may retry the request on another region.
pub const HEADER_IDEMPOTENCY_KEY: &str = "idempotency-key";
/// Names the region that answered; clients use it to notice a change of region.
pub const HEADER_REGION: &str = "x-edgesync-region";

/// The path of the single-document sync endpoint for `doc`.
pub fn doc_sync_path(doc: &crate::DocId) -> String {
    format!("/v1/docs/{doc}/sync")
}
