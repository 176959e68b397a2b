//! One open document inside a repo: the document, its subscribers, its cached
//! JS value, what is already persisted/broadcast, and its sync state.

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};

use automerge::{ChangeHash, ROOT};
use js_sys::{Array, Function};
use sync_protocol::{ClientSync, DocId, SyncDocument};
use wasm_bindgen::prelude::*;

use crate::document::Document;
use crate::error::{ErrorCode, SdkError};
use crate::js_value::object_to_js;
use crate::listeners::Listeners;
use crate::status::Status;

#[wasm_bindgen(module = "/js/support.js")]
extern "C" {
    fn notify(subscribers: &Array, materialise: &Function, origin: &str);
    #[wasm_bindgen(js_name = callListeners)]
    pub fn call_listeners(listeners: &Array, status: &JsValue);
}

/// Where a change came from, as subscribers see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Local,
    /// Another tab (or repo) on the same BroadcastChannel.
    Tab,
    /// A region, through sync.
    Remote,
    /// Stored chunks merged during compaction (written by another tab).
    Storage,
}

impl Origin {
    fn as_str(self) -> &'static str {
        match self {
            Origin::Local => "local",
            Origin::Tab => "tab",
            Origin::Remote => "remote",
            Origin::Storage => "storage",
        }
    }
}

pub struct DocEntry {
    pub id: DocId,
    pub doc: RefCell<Document>,
    subscribers: Listeners,
    status_listeners: Listeners,
    materialise: Closure<dyn Fn() -> JsValue>,
    cache: RefCell<Option<(u64, JsValue)>>,
    pub persisted_heads: RefCell<Vec<ChangeHash>>,
    pub broadcast_heads: RefCell<Vec<ChangeHash>>,
    /// Chunks in storage for this document (approximate across tabs): compaction trigger.
    pub stored_chunks: Cell<usize>,
    pub sync: RefCell<ClientSync>,
    /// Heads another tab's sync acknowledged (this tab does not own the document's sync).
    pub acked_elsewhere: RefCell<Vec<ChangeHash>>,
    pub status: RefCell<Status>,
    /// In the repo's list of documents to commit at the end of the task.
    pub queued_for_commit: Cell<bool>,
    /// In the repo's list of documents to persist.
    pub queued_for_persist: Cell<bool>,
    /// This tab holds the document's sync lock.
    pub sync_owner: Cell<bool>,
    /// Resolves the sync lock's promise (releases it) when the document closes.
    pub release_lock: RefCell<Option<Function>>,
    closed: Cell<bool>,
}

impl DocEntry {
    pub fn new(id: DocId, doc: Document, sync: ClientSync) -> Rc<DocEntry> {
        Rc::new_cyclic(|weak: &Weak<DocEntry>| {
            let weak = weak.clone();
            let materialise = Closure::<dyn Fn() -> JsValue>::new(move || match weak.upgrade() {
                Some(entry) => entry.value().unwrap_or_else(JsValue::from),
                None => JsValue::UNDEFINED,
            });
            DocEntry {
                id,
                doc: RefCell::new(doc),
                subscribers: Listeners::default(),
                status_listeners: Listeners::default(),
                materialise,
                cache: RefCell::new(None),
                persisted_heads: RefCell::new(Vec::new()),
                broadcast_heads: RefCell::new(Vec::new()),
                stored_chunks: Cell::new(0),
                sync: RefCell::new(sync),
                acked_elsewhere: RefCell::new(Vec::new()),
                status: RefCell::new(Status::default()),
                queued_for_commit: Cell::new(false),
                queued_for_persist: Cell::new(false),
                sync_owner: Cell::new(false),
                release_lock: RefCell::new(None),
                closed: Cell::new(false),
            }
        })
    }

    pub fn check_open(&self) -> Result<(), SdkError> {
        if self.closed.get() {
            Err(SdkError::new(ErrorCode::Closed, format!("document {} is closed", self.id.as_str())))
        } else {
            Ok(())
        }
    }

    pub fn is_closed(&self) -> bool {
        self.closed.get()
    }

    pub fn mark_closed(&self) {
        self.closed.set(true);
        self.subscribers.clear();
        self.status_listeners.clear();
        if let Some(release) = self.release_lock.take() {
            let _ = release.call0(&JsValue::UNDEFINED);
        }
    }

    /// The whole document as a frozen JS value, materialised once per version.
    pub fn value(&self) -> Result<JsValue, SdkError> {
        let mut doc = self.doc.borrow_mut();
        let version = doc.version();
        if let Some((cached_version, value)) = self.cache.borrow().as_ref()
            && *cached_version == version
        {
            return Ok(value.clone());
        }
        let value = object_to_js(doc.doc(), &ROOT, automerge::ObjType::Map)?;
        self.cache.replace(Some((version, value.clone())));
        Ok(value)
    }

    pub fn heads_hex(&self) -> Vec<String> {
        self.doc.borrow_mut().doc().get_heads().iter().map(|h| h.to_string()).collect()
    }

    pub fn subscribe(&self, callback: &Function) {
        self.subscribers.add(callback);
    }

    pub fn unsubscribe(&self, callback: &Function) {
        self.subscribers.remove(callback);
    }

    pub fn on_status(&self, callback: &Function) {
        self.status_listeners.add(callback);
    }

    pub fn off_status(&self, callback: &Function) {
        self.status_listeners.remove(callback);
    }

    /// Tells subscribers about a change. Never called while `doc` is borrowed,
    /// so subscribers may read and write the document.
    pub fn notify(&self, origin: Origin) {
        if let Some(subscribers) = self.subscribers.snapshot() {
            notify(&subscribers, self.materialise.as_ref().unchecked_ref(), origin.as_str());
        }
    }

    /// Updates the status and tells listeners if it changed.
    pub fn update_status(&self, update: impl FnOnce(&mut Status)) -> bool {
        let mut next = self.status.borrow().clone();
        update(&mut next);
        if next == *self.status.borrow() {
            return false;
        }
        self.status.replace(next.clone());
        if let Some(listeners) = self.status_listeners.snapshot() {
            call_listeners(&listeners, &next.to_js());
        }
        true
    }

    /// Recomputes how many local changes no region has acknowledged.
    pub fn refresh_pending(&self) -> bool {
        let pending = {
            let mut acked = self.sync.borrow().acknowledged_heads().to_vec();
            acked.extend(self.acked_elsewhere.borrow().iter().copied());
            let mut doc = self.doc.borrow_mut();
            doc.doc().changes_not_covered_by(&acked).len() as u64
        };
        self.update_status(|s| s.pending_changes = pending)
    }
}

use wasm_bindgen::JsCast;
