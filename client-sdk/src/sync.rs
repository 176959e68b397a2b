//! Background sync: one loop sends rounds (all documents this tab owns, in one
//! batch) whenever something changed, backing off exponentially with jitter on
//! failure; another long-polls `/v1/watch` so remote changes arrive promptly.
//! A tab owns a document's sync while it holds the document's Web Lock, so only
//! one tab syncs a given document; the others get its changes over the
//! BroadcastChannel.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::{Rc, Weak};

use automerge::ChangeHash;
use js_sys::{Array, Function, Promise};
use sync_protocol::{DocMessage, SyncBatchRequest, WatchRequest, MAX_BATCH_DOCS};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::AbortController;

use crate::entry::{DocEntry, Origin};
use crate::error::{ErrorCode, SdkError};
use crate::options::SyncOptions;
use crate::repo::RepoInner;
use crate::status::Status;
use crate::tabs::TabMessage;
use crate::tasks::spawn;
use crate::transport::Transport;

#[wasm_bindgen(module = "/js/support.js")]
extern "C" {
    fn waiter(ms: f64) -> Array;
    #[wasm_bindgen(js_name = holdLock)]
    fn hold_lock(name: &str, released: &Promise) -> Promise;
    #[wasm_bindgen(js_name = watchConnectivity)]
    fn watch_connectivity(on_change: &Function) -> Array;
}

/// Shortest time between two watches that both found nothing.
const MIN_EMPTY_WATCH_MS: f64 = 1000.0;

/// A wake-up slot: a loop parks on it, anyone may wake it.
#[derive(Default)]
struct Wake(RefCell<Option<Function>>);

impl Wake {
    /// Waits until woken or `ms` pass (`ms < 0`: only when woken).
    async fn wait(&self, ms: f64) {
        let pair = waiter(ms);
        self.0.replace(pair.get(1).dyn_into::<Function>().ok());
        let _ = JsFuture::from(Promise::from(pair.get(0))).await;
        self.0.replace(None);
    }

    fn wake(&self) {
        if let Some(wake) = self.0.take() {
            let _ = wake.call0(&JsValue::UNDEFINED);
        }
    }
}

pub struct SyncEngine {
    repo: Weak<RepoInner>,
    me: Weak<SyncEngine>,
    transport: Transport,
    options: SyncOptions,
    online: Cell<bool>,
    stopped: Cell<bool>,
    round_requested: Cell<bool>,
    /// Wakes the round loop when there is work.
    work: Wake,
    /// Cuts a back-off short (the browser came back online, or stop).
    backoff: Wake,
    /// Wakes the watch loop (documents or heads changed, back online).
    watch_work: Wake,
    watch_abort: RefCell<Option<AbortController>>,
    syncing: Cell<bool>,
    /// The last failure of the round loop, until a round succeeds.
    last_error: RefCell<Option<SdkError>>,
    on_connectivity: Closure<dyn Fn(bool)>,
    stop_connectivity: RefCell<Option<Function>>,
}

/// Exponential back-off with full jitter: uniform in [base/2, base], base doubling per failure.
fn backoff_ms(options: &SyncOptions, failures: u32) -> f64 {
    let base = (options.min_backoff_ms * 2f64.powi(failures.saturating_sub(1).min(30) as i32)).min(options.max_backoff_ms);
    base * (0.5 + 0.5 * js_sys::Math::random())
}

impl SyncEngine {
    pub fn start(repo: Weak<RepoInner>, options: SyncOptions) -> Rc<SyncEngine> {
        let engine = Rc::new_cyclic(|me: &Weak<SyncEngine>| {
            let for_events = me.clone();
            let on_connectivity = Closure::<dyn Fn(bool)>::new(move |online: bool| {
                if let Some(engine) = for_events.upgrade() {
                    engine.set_online(online);
                }
            });
            SyncEngine {
                repo,
                me: me.clone(),
                transport: Transport::new(options.endpoint.clone(), options.token.clone()),
                options,
                online: Cell::new(true),
                stopped: Cell::new(false),
                round_requested: Cell::new(false),
                work: Wake::default(),
                backoff: Wake::default(),
                watch_work: Wake::default(),
                watch_abort: RefCell::new(None),
                syncing: Cell::new(false),
                last_error: RefCell::new(None),
                on_connectivity,
                stop_connectivity: RefCell::new(None),
            }
        });
        let connectivity = watch_connectivity(engine.on_connectivity.as_ref().unchecked_ref());
        engine.online.set(connectivity.get(0).as_bool().unwrap_or(true));
        engine.stop_connectivity.replace(connectivity.get(1).dyn_into::<Function>().ok());
        spawn(engine.clone().round_loop());
        if engine.options.watch {
            spawn(engine.clone().watch_loop());
        }
        engine
    }

    pub fn online(&self) -> bool {
        self.online.get()
    }

    fn set_online(&self, online: bool) {
        self.online.set(online);
        if online {
            // Whatever failed while offline is worth retrying at once.
            self.request_round();
            self.backoff.wake();
            self.watch_work.wake();
        } else if let Some(controller) = self.watch_abort.borrow().as_ref() {
            controller.abort();
        }
        self.for_each_owned(|entry| {
            entry.update_status(|s| s.online = online);
        });
        self.update_repo_status();
    }

    pub fn stop(&self) {
        self.stopped.set(true);
        if let Some(unsubscribe) = self.stop_connectivity.take() {
            let _ = unsubscribe.call0(&JsValue::UNDEFINED);
        }
        self.work.wake();
        self.backoff.wake();
        self.watch_work.wake();
        if let Some(controller) = self.watch_abort.take() {
            controller.abort();
        }
    }

    fn request_round(&self) {
        self.round_requested.set(true);
        self.work.wake();
    }

    fn repo(&self) -> Option<Rc<RepoInner>> {
        self.repo.upgrade()
    }

    fn owned_entries(&self) -> Vec<Rc<DocEntry>> {
        let Some(repo) = self.repo() else { return Vec::new() };
        let docs = repo.docs.borrow();
        docs.values().filter(|e| e.sync_owner.get() && !e.is_closed()).cloned().collect()
    }

    fn for_each_owned(&self, f: impl Fn(&DocEntry)) {
        for entry in self.owned_entries() {
            f(&entry);
        }
    }

    fn update_repo_status(&self) {
        if let Some(repo) = self.repo() {
            repo.update_repo_status();
        }
    }

    /// Takes the document's sync lock (waiting while another tab holds it), then syncs it.
    pub fn doc_opened(&self, entry: &Rc<DocEntry>) {
        entry.update_status(|s| s.online = self.online.get());
        let Some(repo) = self.repo() else { return };
        let released = Promise::new(&mut |resolve: Function, _reject: Function| {
            entry.release_lock.replace(Some(resolve));
        });
        let lock_name = format!("edgesync:{}:{}", repo.name, entry.id.as_str());
        let acquired = hold_lock(&lock_name, &released);
        let entry = Rc::downgrade(entry);
        let engine = self.me.clone();
        spawn(async move {
            let held = JsFuture::from(acquired).await.is_ok();
            let (Some(entry), Some(engine)) = (entry.upgrade(), engine.upgrade()) else { return };
            if !held || entry.is_closed() || engine.stopped.get() {
                return;
            }
            entry.sync_owner.set(true);
            entry.sync.borrow_mut().request_round();
            engine.request_round();
            engine.restart_watch();
        });
    }

    pub fn doc_changed(&self, entry: &DocEntry) {
        if entry.sync_owner.get() {
            self.request_round();
        }
    }

    pub fn doc_closed(&self, _entry: &DocEntry) {
        self.restart_watch();
    }

    /// Another tab's round acknowledged `heads`.
    pub fn acked_by_other_tab(&self, entry: &DocEntry, heads: &[String]) {
        let parsed: Vec<ChangeHash> = heads.iter().filter_map(|h| h.parse().ok()).collect();
        entry.acked_elsewhere.replace(parsed);
        entry.refresh_pending();
        self.update_repo_status();
    }

    pub fn decorate_repo_status(&self, status: &mut Status) {
        status.online = self.online.get();
        status.syncing |= self.syncing.get();
        if status.last_error.is_none() {
            status.last_error = self.last_error.borrow().clone();
        }
    }

    fn restart_watch(&self) {
        if let Some(controller) = self.watch_abort.take() {
            controller.abort();
        }
        self.watch_work.wake();
    }

    async fn round_loop(self: Rc<Self>) {
        let mut failures: u32 = 0;
        while !self.stopped.get() {
            if !self.online.get() || !self.round_requested.get() {
                self.work.wait(-1.0).await;
                continue;
            }
            self.round_requested.set(false);
            match self.round().await {
                Ok(more) => {
                    failures = 0;
                    if more {
                        self.round_requested.set(true);
                    }
                }
                Err(err) => {
                    failures += 1;
                    self.last_error.replace(Some(err));
                    self.update_repo_status();
                    self.round_requested.set(true);
                    // Only coming back online (or stop) cuts this short: new local
                    // writes must not turn a failing endpoint into a busy loop.
                    self.backoff.wait(backoff_ms(&self.options, failures)).await;
                }
            }
        }
    }

    /// One round for every owned document that has something to exchange.
    /// Returns whether another round is needed at once.
    async fn round(&self) -> Result<bool, SdkError> {
        let mut more = false;
        let mut batch = SyncBatchRequest::default();
        let mut entries = Vec::new();
        for entry in self.owned_entries() {
            if batch.entries.len() == MAX_BATCH_DOCS {
                more = true;
                break;
            }
            let message = {
                let mut doc = entry.doc.borrow_mut();
                entry.sync.borrow_mut().next_request_bytes(doc.doc())
            };
            if let Some(message) = message {
                batch.entries.push(DocMessage { doc: entry.id.clone(), message });
                entries.push(entry);
            }
        }
        if entries.is_empty() {
            return Ok(more);
        }
        self.set_syncing(&entries, true);
        let result = self.transport.sync(&batch).await;
        self.set_syncing(&entries, false);
        let answer = match result {
            Ok(answer) => answer,
            Err(err) => {
                for entry in &entries {
                    entry.sync.borrow_mut().request_failed();
                    entry.update_status(|s| s.last_error = Some(err.clone()));
                }
                return Err(err);
            }
        };
        self.last_error.replace(None);
        let Some(repo) = self.repo() else { return Ok(false) };
        let now = js_sys::Date::now();
        for (entry, reply) in entries.iter().zip(answer.body.entries) {
            match reply.outcome {
                Ok(bytes) => {
                    let outcome = {
                        let mut doc = entry.doc.borrow_mut();
                        let outcome = entry.sync.borrow_mut().receive_reply_bytes(doc.doc(), &bytes);
                        if matches!(&outcome, Ok(o) if o.doc_changed) {
                            doc.note_external_change();
                        }
                        outcome
                    };
                    match outcome {
                        Ok(outcome) => {
                            more |= outcome.needs_another_round;
                            entry.update_status(|s| {
                                s.last_sync_at = Some(now);
                                s.region = answer.region.clone();
                                s.last_error = None;
                            });
                            if outcome.doc_changed {
                                repo.share_with_tabs(entry);
                                entry.notify(Origin::Remote);
                            }
                            entry.refresh_pending();
                            repo.broadcast(&TabMessage::Acked {
                                doc: entry.id.as_str().to_owned(),
                                heads: entry.sync.borrow().acknowledged_heads().iter().map(|h| h.to_string()).collect(),
                            });
                            // Persist new content and the acknowledged frontier.
                            repo.queue_persist(entry);
                        }
                        Err(api) => {
                            let err = SdkError::new(ErrorCode::Protocol, format!("the region's sync message could not be applied: {}", api.message));
                            entry.update_status(|s| s.last_error = Some(err));
                        }
                    }
                }
                Err(api) => {
                    entry.sync.borrow_mut().request_failed();
                    let code = match api.code {
                        sync_protocol::ErrorCode::Forbidden => ErrorCode::Forbidden,
                        sync_protocol::ErrorCode::Unauthenticated => ErrorCode::Unauthenticated,
                        _ => ErrorCode::Protocol,
                    };
                    let err = SdkError::new(code, format!("the region refused document {}: {}", entry.id.as_str(), api.message));
                    entry.update_status(|s| s.last_error = Some(err));
                    if api.code.is_retryable() {
                        more = true;
                    }
                }
            }
        }
        repo.update_repo_status();
        // Our heads moved: a watch still holding the old ones would fire at once.
        self.restart_watch();
        Ok(more)
    }

    fn set_syncing(&self, entries: &[Rc<DocEntry>], syncing: bool) {
        self.syncing.set(syncing);
        for entry in entries {
            entry.update_status(|s| s.syncing = syncing);
        }
        self.update_repo_status();
    }

    async fn watch_loop(self: Rc<Self>) {
        let mut failures: u32 = 0;
        while !self.stopped.get() {
            let owned = self.owned_entries();
            if !self.online.get() || owned.is_empty() {
                self.watch_work.wait(-1.0).await;
                continue;
            }
            let mut docs = BTreeMap::new();
            for entry in owned.iter().take(sync_protocol::watch::MAX_WATCH_DOCS) {
                let heads = entry.doc.borrow_mut().doc().get_heads();
                docs.insert(entry.id.clone(), heads);
            }
            let request = WatchRequest { docs, wait_ms: self.options.watch_wait_ms };
            let Ok(controller) = AbortController::new() else { return };
            self.watch_abort.replace(Some(controller.clone()));
            let started = js_sys::Date::now();
            let result = self.transport.watch(&request, &controller.signal()).await;
            let aborted = controller.signal().aborted();
            self.watch_abort.replace(None);
            match result {
                Ok(answer) => {
                    failures = 0;
                    if answer.body.changed.is_empty() && js_sys::Date::now() - started < MIN_EMPTY_WATCH_MS {
                        // A server answering "nothing" at once must not make this a busy loop.
                        self.watch_work.wait(MIN_EMPTY_WATCH_MS).await;
                    }
                    for id in answer.body.changed {
                        if let Some(entry) = self.repo().and_then(|r| r.entry(&id)) {
                            entry.sync.borrow_mut().request_round();
                            self.request_round();
                        }
                    }
                }
                Err(_) if aborted => {}
                Err(_) => {
                    // The round loop reports errors; the watch only backs off.
                    failures += 1;
                    self.backoff_watch(failures).await;
                }
            }
        }
    }

    async fn backoff_watch(&self, failures: u32) {
        self.watch_work.wait(backoff_ms(&self.options, failures)).await;
    }
}
