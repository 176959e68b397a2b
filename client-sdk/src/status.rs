//! Sync status of a document and of a repo, as plain JS objects for listeners.

use js_sys::{Object, Reflect};
use wasm_bindgen::JsValue;

use crate::error::SdkError;
use crate::js_value::error_object;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Status {
    pub online: bool,
    pub syncing: bool,
    /// Local changes no region has acknowledged yet.
    pub pending_changes: u64,
    /// `Date.now()` of the last round that completed.
    pub last_sync_at: Option<f64>,
    /// The region that served the last round (the edge's `x-edge-region`).
    pub region: Option<String>,
    pub last_error: Option<SdkError>,
}

impl Status {
    pub fn to_js(&self) -> JsValue {
        let object = Object::new();
        let set = |key: &str, value: JsValue| {
            let _ = Reflect::set(&object, &key.into(), &value);
        };
        set("online", self.online.into());
        set("syncing", self.syncing.into());
        set("pendingChanges", (self.pending_changes as f64).into());
        set("lastSyncAt", self.last_sync_at.map_or(JsValue::NULL, JsValue::from_f64));
        set("region", self.region.as_deref().map_or(JsValue::NULL, JsValue::from_str));
        set(
            "lastError",
            self.last_error.as_ref().map_or(JsValue::NULL, |e| error_object(e.code, &e.message)),
        );
        Object::freeze(&object).into()
    }

    /// The repo's status: documents' statuses folded together.
    pub fn combine<'a>(online: bool, docs: impl Iterator<Item = &'a Status>) -> Status {
        let mut total = Status { online, ..Status::default() };
        for doc in docs {
            total.syncing |= doc.syncing;
            total.pending_changes += doc.pending_changes;
            if doc.last_sync_at > total.last_sync_at {
                total.last_sync_at = doc.last_sync_at;
                total.region = doc.region.clone();
            }
            if total.last_error.is_none() {
                total.last_error = doc.last_error.clone();
            }
        }
        total
    }
}
