//! The repo: open documents, the end-of-task commit, batched persistence,
//! compaction, tab sharing, and the hooks that drive sync.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::{Rc, Weak};

use automerge::ChangeHash;
use js_sys::{Function, Promise};
use sync_protocol::{ClientSync, DocId};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use crate::document::Document;
use crate::entry::{call_listeners, DocEntry, Origin};
use crate::error::{ErrorCode, SdkError};
use crate::listeners::Listeners;
use crate::options::{Grouping, RepoOptions};
use crate::status::Status;
use crate::storage::{DocMeta, DocWrite, Store};
use crate::sync::SyncEngine;
use crate::tabs::{TabMessage, Tabs};
use crate::tasks::{promise, spawn};

#[wasm_bindgen(module = "/js/support.js")]
extern "C" {
    #[wasm_bindgen(js_name = atEndOfTask)]
    fn at_end_of_task(callback: &Function);
    fn later(callback: &Function, ms: f64);
}

/// Delay between a commit and the IndexedDB write that follows: about a frame, so
/// a burst of writes lands in one transaction without holding data back.
const PERSIST_DELAY_MS: f64 = 16.0;
/// Retry delay after IndexedDB refused a write.
const PERSIST_RETRY_MS: f64 = 1000.0;
/// Stored chunks of a document beyond which it is compacted into one snapshot.
const COMPACT_AFTER_CHUNKS: usize = 64;

pub struct RepoInner {
    pub name: String,
    pub store: Store,
    grouping: Grouping,
    me: Weak<RepoInner>,
    pub docs: RefCell<HashMap<DocId, Rc<DocEntry>>>,
    to_commit: RefCell<Vec<Rc<DocEntry>>>,
    to_persist: RefCell<Vec<Rc<DocEntry>>>,
    end_of_task: Closure<dyn Fn()>,
    end_of_task_scheduled: Cell<bool>,
    persist_timer: Closure<dyn Fn()>,
    persist_scheduled: Cell<bool>,
    /// The persistence run in progress, for `flush()` to wait on.
    persisting: RefCell<Option<Promise>>,
    tabs: RefCell<Option<Tabs>>,
    pub sync: RefCell<Option<Rc<SyncEngine>>>,
    status: RefCell<Status>,
    /// The last IndexedDB failure, until a write succeeds again.
    storage_error: RefCell<Option<SdkError>>,
    status_listeners: Listeners,
    closed: Cell<bool>,
}

fn now_secs() -> i64 {
    (js_sys::Date::now() / 1000.0) as i64
}

impl RepoInner {
    pub async fn open(options: RepoOptions) -> Result<Rc<RepoInner>, SdkError> {
        let store = Store::open(&options.name).await?;
        let inner = Rc::new_cyclic(|me: &Weak<RepoInner>| {
            let for_task = me.clone();
            let end_of_task = Closure::<dyn Fn()>::new(move || {
                if let Some(repo) = for_task.upgrade() {
                    repo.end_of_task();
                }
            });
            let for_timer = me.clone();
            let persist_timer = Closure::<dyn Fn()>::new(move || {
                if let Some(repo) = for_timer.upgrade() {
                    repo.persist_scheduled.set(false);
                    repo.start_persist();
                }
            });
            RepoInner {
                name: options.name.clone(),
                store,
                grouping: options.grouping,
                me: me.clone(),
                docs: RefCell::new(HashMap::new()),
                to_commit: RefCell::new(Vec::new()),
                to_persist: RefCell::new(Vec::new()),
                end_of_task,
                end_of_task_scheduled: Cell::new(false),
                persist_timer,
                persist_scheduled: Cell::new(false),
                persisting: RefCell::new(None),
                tabs: RefCell::new(None),
                sync: RefCell::new(None),
                status: RefCell::new(Status { online: true, ..Status::default() }),
                storage_error: RefCell::new(None),
                status_listeners: Listeners::default(),
                closed: Cell::new(false),
            }
        });
        let for_tabs = Rc::downgrade(&inner);
        let tabs = Tabs::join(&format!("edgesync:{}", options.name), move |message| {
            if let Some(repo) = for_tabs.upgrade() {
                repo.on_tab_message(message);
            }
        });
        inner.tabs.replace(tabs);
        if let Some(sync_options) = options.sync {
            let engine = SyncEngine::start(Rc::downgrade(&inner), sync_options);
            inner.sync.replace(Some(engine));
        } else {
            inner.update_repo_status();
        }
        Ok(inner)
    }

    pub fn check_open(&self) -> Result<(), SdkError> {
        if self.closed.get() {
            Err(SdkError::new(ErrorCode::Closed, "the repo is closed"))
        } else {
            Ok(())
        }
    }

    pub fn entry(&self, id: &DocId) -> Option<Rc<DocEntry>> {
        self.docs.borrow().get(id).cloned()
    }

    /// Registers a new or loaded document and starts syncing it.
    pub fn register(&self, entry: Rc<DocEntry>) -> Rc<DocEntry> {
        if let Some(existing) = self.entry(&entry.id) {
            // Another find() of the same id won the race; keep one entry per id.
            return existing;
        }
        self.docs.borrow_mut().insert(entry.id.clone(), entry.clone());
        entry.refresh_pending();
        if let Some(sync) = self.sync.borrow().clone() {
            sync.doc_opened(&entry);
        }
        self.update_repo_status();
        entry
    }

    /// Creates a document in memory; it is persisted at the end of the task.
    pub fn create(&self, id: DocId, doc: Document) -> Result<Rc<DocEntry>, SdkError> {
        if self.entry(&id).is_some() {
            return Err(SdkError::invalid_argument(format!("document {} is already open", id.as_str())));
        }
        let entry = self.register(DocEntry::new(id, doc, ClientSync::new()));
        self.local_write(&entry);
        Ok(entry)
    }

    /// Loads a document from storage; `None` if nothing is stored under `id`.
    pub async fn load(&self, id: &DocId) -> Result<Option<Rc<DocEntry>>, SdkError> {
        let Some(stored) = self.store.load(id).await? else { return Ok(None) };
        let bytes: Vec<u8> = stored.chunks.concat();
        let mut doc = if bytes.is_empty() {
            Document::new()
        } else {
            Document::load(&bytes).map_err(|err| {
                SdkError::new(
                    ErrorCode::CorruptStorage,
                    format!(
                        "document {} cannot be loaded from its {} stored chunk(s): {err}. The stored data is kept unchanged.",
                        id.as_str(),
                        stored.chunks.len()
                    ),
                )
            })?
        };
        let meta = stored.meta.unwrap_or_default();
        let sync = match meta.sync_state.as_deref().map(ClientSync::load) {
            Some(Ok(sync)) => sync,
            // A lost sync state only costs one extra round.
            _ => ClientSync::new(),
        };
        let heads = doc.doc().get_heads();
        let entry = DocEntry::new(id.clone(), doc, sync);
        entry.persisted_heads.replace(heads.clone());
        entry.broadcast_heads.replace(heads);
        entry.stored_chunks.set(stored.chunks.len());
        Ok(Some(self.register(entry)))
    }

    /// After every local write: commit now or at the end of the task.
    pub fn local_write(&self, entry: &Rc<DocEntry>) {
        if self.grouping == Grouping::Write {
            entry.doc.borrow_mut().commit(now_secs());
        }
        if !entry.queued_for_commit.replace(true) {
            self.to_commit.borrow_mut().push(entry.clone());
        }
        if !self.end_of_task_scheduled.replace(true) {
            at_end_of_task(self.end_of_task.as_ref().unchecked_ref());
        }
    }

    /// Commits this task's writes, shares them with other tabs, and schedules
    /// persistence and sync.
    pub fn end_of_task(&self) {
        self.end_of_task_scheduled.set(false);
        let entries = std::mem::take(&mut *self.to_commit.borrow_mut());
        for entry in entries {
            entry.queued_for_commit.set(false);
            if entry.is_closed() {
                continue;
            }
            entry.doc.borrow_mut().commit(now_secs());
            self.share_with_tabs(&entry);
            self.queue_persist(&entry);
            entry.refresh_pending();
            if let Some(sync) = self.sync.borrow().clone() {
                sync.doc_changed(&entry);
            }
        }
        self.update_repo_status();
    }

    /// Sends the changes other tabs have not seen (local ones and ones from sync).
    pub fn share_with_tabs(&self, entry: &DocEntry) {
        let (bytes, heads) = {
            let mut doc = entry.doc.borrow_mut();
            let am = doc.doc();
            let heads = am.get_heads();
            if *entry.broadcast_heads.borrow() == heads {
                return;
            }
            (am.save_after(&entry.broadcast_heads.borrow()), heads)
        };
        entry.broadcast_heads.replace(heads);
        if let Some(tabs) = self.tabs.borrow().as_ref() {
            tabs.send(&TabMessage::Changes { doc: entry.id.as_str().to_owned(), bytes });
        }
    }

    pub fn queue_persist(&self, entry: &Rc<DocEntry>) {
        if !entry.queued_for_persist.replace(true) {
            self.to_persist.borrow_mut().push(entry.clone());
        }
        self.schedule_persist(PERSIST_DELAY_MS);
    }

    fn schedule_persist(&self, delay_ms: f64) {
        if self.persisting.borrow().is_none() && !self.persist_scheduled.replace(true) {
            later(self.persist_timer.as_ref().unchecked_ref(), delay_ms);
        }
    }

    /// Starts writing every queued document in one transaction (unless a write is running).
    fn start_persist(&self) {
        if self.persisting.borrow().is_some() || self.to_persist.borrow().is_empty() {
            return;
        }
        let Some(repo) = self.me.upgrade() else { return };
        let writing = promise(async move {
            let result = repo.persist_once().await;
            repo.persisting.replace(None);
            match result {
                Ok(()) => {
                    if repo.storage_error.take().is_some() {
                        repo.update_repo_status();
                    }
                    if !repo.to_persist.borrow().is_empty() {
                        repo.schedule_persist(0.0);
                    }
                }
                Err(err) => {
                    repo.set_error(err);
                    repo.schedule_persist(PERSIST_RETRY_MS);
                }
            }
            Ok(JsValue::UNDEFINED)
        });
        self.persisting.replace(Some(writing));
    }

    async fn persist_once(&self) -> Result<(), SdkError> {
        let entries = std::mem::take(&mut *self.to_persist.borrow_mut());
        let mut batch = Vec::with_capacity(entries.len());
        let mut new_heads: Vec<Vec<ChangeHash>> = Vec::with_capacity(entries.len());
        for entry in &entries {
            entry.queued_for_persist.set(false);
            let mut doc = entry.doc.borrow_mut();
            let am = doc.doc();
            let heads = am.get_heads();
            let chunk = (*entry.persisted_heads.borrow() != heads).then(|| am.save_after(&entry.persisted_heads.borrow()));
            drop(doc);
            batch.push(DocWrite { id: entry.id.clone(), chunk, meta: meta_of(entry) });
            new_heads.push(heads);
        }
        if let Err(err) = self.store.write(&batch).await {
            // Nothing was written: queue everything again.
            for entry in entries {
                if !entry.is_closed() && !entry.queued_for_persist.replace(true) {
                    self.to_persist.borrow_mut().push(entry);
                }
            }
            return Err(err);
        }
        for ((entry, heads), write) in entries.iter().zip(new_heads).zip(&batch) {
            entry.persisted_heads.replace(heads);
            if write.chunk.is_some() {
                entry.stored_chunks.set(entry.stored_chunks.get() + 1);
                if entry.stored_chunks.get() > COMPACT_AFTER_CHUNKS {
                    self.compact_in_background(entry.clone());
                }
            }
        }
        Ok(())
    }

    /// Replaces a document's stored chunks by one snapshot, merging chunks other
    /// tabs wrote that this one has not seen.
    fn compact_in_background(&self, entry: Rc<DocEntry>) {
        entry.stored_chunks.set(0);
        let Some(repo) = self.me.upgrade() else { return };
        spawn(async move {
            let mut merged_something = false;
            let result = repo
                .store
                .compact(&entry.id, |chunks| {
                    let mut doc = entry.doc.borrow_mut();
                    let before = doc.doc().get_heads();
                    for chunk in chunks {
                        doc.doc().load_incremental(chunk).map_err(|err| {
                            SdkError::new(ErrorCode::CorruptStorage, format!("document {}: stored chunk cannot be merged: {err}", entry.id.as_str()))
                        })?;
                    }
                    if doc.doc().get_heads() != before {
                        doc.note_external_change();
                        merged_something = true;
                    }
                    let heads = doc.doc().get_heads();
                    let snapshot = doc.doc().save();
                    entry.persisted_heads.replace(heads);
                    Ok(snapshot)
                })
                .await;
            match result {
                Ok(_) => entry.stored_chunks.set(1),
                Err(err) => {
                    entry.update_status(|s| s.last_error = Some(err));
                }
            }
            if merged_something {
                entry.notify(Origin::Storage);
            }
        });
    }

    /// Resolves once every write made so far is durable in IndexedDB.
    pub async fn flush(&self) -> Result<(), SdkError> {
        self.end_of_task();
        loop {
            let running = self.persisting.borrow().clone();
            if let Some(promise) = running {
                let _ = JsFuture::from(promise).await;
                continue;
            }
            if self.to_persist.borrow().is_empty() {
                break;
            }
            // Persist now rather than waiting for the timer; a failure is returned.
            let result = self.persist_once().await;
            result?;
        }
        Ok(())
    }

    pub fn on_tab_message(&self, message: TabMessage) {
        match message {
            TabMessage::Changes { doc, bytes } => {
                let Some(entry) = DocId::parse(&doc).ok().and_then(|id| self.entry(&id)) else { return };
                if self.merge_changes(&entry, &bytes, Origin::Tab) {
                    // The sender shares and persists them; this tab only syncs them if it owns sync.
                    entry.broadcast_heads.replace(entry.doc.borrow_mut().doc().get_heads());
                    if let Some(sync) = self.sync.borrow().clone() {
                        sync.doc_changed(&entry);
                    }
                }
            }
            TabMessage::Acked { doc, heads } => {
                let Some(entry) = DocId::parse(&doc).ok().and_then(|id| self.entry(&id)) else { return };
                if let Some(sync) = self.sync.borrow().clone() {
                    sync.acked_by_other_tab(&entry, &heads);
                }
            }
            TabMessage::Deleted { doc } => {
                let Some(entry) = DocId::parse(&doc).ok().and_then(|id| self.entry(&id)) else { return };
                self.forget(&entry);
            }
        }
    }

    /// Applies changes received from elsewhere; tells subscribers. Returns whether the document changed.
    pub fn merge_changes(&self, entry: &Rc<DocEntry>, bytes: &[u8], origin: Origin) -> bool {
        let changed = {
            let mut doc = entry.doc.borrow_mut();
            let before = doc.doc().get_heads();
            match doc.doc().load_incremental(bytes) {
                Ok(_) => {
                    let changed = doc.doc().get_heads() != before;
                    if changed {
                        doc.note_external_change();
                    }
                    changed
                }
                Err(err) => {
                    drop(doc);
                    entry.update_status(|s| {
                        s.last_error = Some(SdkError::new(ErrorCode::Protocol, format!("changes from another tab could not be applied: {err}")))
                    });
                    false
                }
            }
        };
        if changed {
            entry.refresh_pending();
            entry.notify(origin);
            self.update_repo_status();
        }
        changed
    }

    pub fn broadcast(&self, message: &TabMessage) {
        if let Some(tabs) = self.tabs.borrow().as_ref() {
            tabs.send(message);
        }
    }

    /// Closes a document: writes it out, stops syncing it, releases its lock.
    pub async fn close_doc(&self, entry: &Rc<DocEntry>) -> Result<(), SdkError> {
        self.flush().await?;
        self.forget(entry);
        Ok(())
    }

    fn forget(&self, entry: &Rc<DocEntry>) {
        self.docs.borrow_mut().remove(&entry.id);
        entry.mark_closed();
        if let Some(sync) = self.sync.borrow().clone() {
            sync.doc_closed(entry);
        }
        self.update_repo_status();
    }

    /// Deletes a document from this device (storage, memory, other tabs).
    pub async fn delete(&self, id: &DocId) -> Result<(), SdkError> {
        if let Some(entry) = self.entry(id) {
            self.forget(&entry);
        }
        self.store.delete(id).await?;
        self.broadcast(&TabMessage::Deleted { doc: id.as_str().to_owned() });
        Ok(())
    }

    pub async fn close(&self) -> Result<(), SdkError> {
        if self.closed.get() {
            return Ok(());
        }
        let flushed = self.flush().await;
        self.closed.set(true);
        if let Some(sync) = self.sync.take() {
            sync.stop();
        }
        let entries: Vec<_> = self.docs.borrow_mut().drain().map(|(_, e)| e).collect();
        for entry in entries {
            entry.mark_closed();
        }
        if let Some(tabs) = self.tabs.take() {
            tabs.close();
        }
        self.store.close();
        flushed
    }

    pub fn set_error(&self, err: SdkError) {
        self.storage_error.replace(Some(err));
        self.update_repo_status();
    }

    pub fn status(&self) -> Status {
        self.status.borrow().clone()
    }

    pub fn on_status(&self, callback: &Function) {
        self.status_listeners.add(callback);
    }

    pub fn off_status(&self, callback: &Function) {
        self.status_listeners.remove(callback);
    }

    /// Recomputes the repo status from its documents' statuses.
    pub fn update_repo_status(&self) {
        let online = self.sync.borrow().as_ref().is_none_or(|s| s.online());
        let statuses: Vec<Status> = self.docs.borrow().values().map(|e| e.status.borrow().clone()).collect();
        let mut next = Status::combine(online, statuses.iter());
        if let Some(err) = self.storage_error.borrow().clone() {
            next.last_error = Some(err);
        }
        if let Some(sync) = self.sync.borrow().as_ref() {
            sync.decorate_repo_status(&mut next);
        }
        if next == *self.status.borrow() {
            return;
        }
        self.status.replace(next.clone());
        if let Some(listeners) = self.status_listeners.snapshot() {
            call_listeners(&listeners, &next.to_js());
        }
    }
}

pub fn meta_of(entry: &DocEntry) -> DocMeta {
    let sync = entry.sync.borrow();
    DocMeta {
        acked: sync.acknowledged_heads().iter().map(|h| h.to_string()).collect(),
        sync_state: Some(sync.save()),
    }
}

use wasm_bindgen::JsCast;
