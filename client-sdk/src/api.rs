//! The JavaScript API: `Repo` and `DocHandle` (see `index.d.ts` for the typed surface).

use std::rc::Rc;

use automerge::{ObjType, Prop, ReadDoc};
use js_sys::{Array, Function, Promise};
use sync_protocol::DocId;
use wasm_bindgen::prelude::*;

use crate::document::{initialise, Document};
use crate::entry::{DocEntry, Origin};
use crate::error::{ErrorCode, SdkError};
use crate::js_value::{number_text, index_from_js, object_to_js, path_from_js, scalar_to_js, value_from_js, JsResult};
use crate::options::RepoOptions;
use crate::repo::RepoInner;
use crate::tasks::promise;
use crate::value::NewValue;

/// A set of local documents backed by IndexedDB, synced with an endpoint.
#[wasm_bindgen]
pub struct Repo {
    inner: Rc<RepoInner>,
}

/// A handle on one open document. Writes apply at once and return nothing to await.
#[wasm_bindgen]
pub struct DocHandle {
    pub(crate) entry: Rc<DocEntry>,
    repo: Rc<RepoInner>,
}

fn new_doc_id() -> DocId {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut bytes = [0u8; 22];
    // getrandom uses crypto.getRandomValues, present wherever IndexedDB is.
    let _ = getrandom::fill(&mut bytes);
    let id: String = bytes.iter().map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char).collect();
    DocId::parse(&id).unwrap_or_else(|_| unreachable!("the alphabet is valid for document ids"))
}

fn parse_id(id: &str) -> Result<DocId, SdkError> {
    Ok(DocId::parse(id)?)
}

/// Wraps an unsubscribe action as a JS function (idempotent).
fn unsubscriber(action: impl FnOnce() + 'static) -> Function {
    let mut action = Some(action);
    Closure::<dyn FnMut()>::new(move || {
        if let Some(action) = action.take() {
            action();
        }
    })
    .into_js_value()
    .unchecked_into()
}

impl Repo {
    /// A new handle on an open document (tests use it after `find`).
    #[cfg(test)]
    pub(crate) fn open_handle(&self, id: &str) -> Option<DocHandle> {
        let entry = self.inner.entry(&DocId::parse(id).ok()?)?;
        Some(DocHandle { entry, repo: self.inner.clone() })
    }

    pub(crate) async fn open_async(options: &JsValue) -> Result<Repo, SdkError> {
        let options = RepoOptions::from_js(options)?;
        Ok(Repo { inner: RepoInner::open(options).await? })
    }
}

#[wasm_bindgen]
impl Repo {
    /// Opens (creating if needed) the local database and starts background sync
    /// when an endpoint is given.
    pub fn open(options: JsValue) -> Promise {
        promise(async move { Ok(Repo::open_async(&options).await?.into()) })
    }

    /// Creates a document (from a plain object) with a new random id, or with
    /// `options.id`. Returns at once; the document is stored at the end of the task.
    pub fn create(&self, initial: JsValue, options: JsValue) -> JsResult<DocHandle> {
        self.inner.check_open()?;
        let id = match js_sys::Reflect::get(&options, &"id".into()).ok().filter(|v| !v.is_undefined()) {
            Some(id) => parse_id(&id.as_string().ok_or_else(|| SdkError::invalid_argument("options.id must be a string"))?)?,
            None => new_doc_id(),
        };
        let mut doc = Document::new();
        if !initial.is_undefined() && !initial.is_null() {
            initialise(&mut doc, &value_from_js(&initial)?)?;
        }
        let entry = self.inner.create(id, doc)?;
        Ok(DocHandle { entry, repo: self.inner.clone() })
    }

    /// Opens a stored document. With an endpoint, an id not stored locally opens
    /// empty and fills from the server; without one it is a `not_found` error.
    pub fn find(&self, id: String) -> Promise {
        let repo = self.inner.clone();
        promise(async move {
            repo.check_open()?;
            let id = parse_id(&id)?;
            if let Some(entry) = repo.entry(&id) {
                return Ok(DocHandle { entry, repo }.into());
            }
            let entry = match repo.load(&id).await? {
                Some(entry) => entry,
                None if repo.sync.borrow().is_some() => repo.register(DocEntry::new(id, Document::new(), Default::default())),
                None => return Err(SdkError::new(ErrorCode::NotFound, format!("no document {} in local storage", id.as_str())).into()),
            };
            Ok(DocHandle { entry, repo }.into())
        })
    }

    /// Ids of every document stored on this device (and of open ones not stored yet).
    pub fn list(&self) -> Promise {
        let repo = self.inner.clone();
        promise(async move {
            repo.check_open()?;
            let mut ids = repo.store.list().await?;
            for id in repo.docs.borrow().keys() {
                if !ids.iter().any(|s| s == id.as_str()) {
                    ids.push(id.as_str().to_owned());
                }
            }
            ids.sort();
            Ok(ids.into_iter().map(JsValue::from).collect::<Array>().into())
        })
    }

    /// Deletes a document from this device (memory, storage, other tabs).
    pub fn delete(&self, id: String) -> Promise {
        let repo = self.inner.clone();
        promise(async move {
            repo.check_open()?;
            repo.delete(&parse_id(&id)?).await?;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Resolves once every write made so far is durable in IndexedDB.
    pub fn flush(&self) -> Promise {
        let repo = self.inner.clone();
        promise(async move {
            repo.flush().await?;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Writes everything out, stops syncing and closes every document.
    pub fn close(&self) -> Promise {
        let repo = self.inner.clone();
        promise(async move {
            repo.close().await?;
            Ok(JsValue::UNDEFINED)
        })
    }

    #[wasm_bindgen(getter)]
    pub fn status(&self) -> JsValue {
        self.inner.status().to_js()
    }

    /// Calls `listener(status)` whenever the repo's status changes; returns the unsubscribe function.
    #[wasm_bindgen(js_name = onStatus)]
    pub fn on_status(&self, listener: Function) -> Function {
        self.inner.on_status(&listener);
        let repo = Rc::downgrade(&self.inner);
        unsubscriber(move || {
            if let Some(repo) = repo.upgrade() {
                repo.off_status(&listener);
            }
        })
    }

    /// Bytes stored in IndexedDB for a document.
    #[wasm_bindgen(js_name = storedBytes)]
    pub fn stored_bytes(&self, id: String) -> Promise {
        let repo = self.inner.clone();
        promise(async move {
            let id = parse_id(&id)?;
            Ok((repo.store.stored_bytes(&id).await? as f64).into())
        })
    }
}

impl DocHandle {
    fn write(&self, op: impl FnOnce(&mut Document) -> Result<(), SdkError>) -> JsResult<()> {
        self.entry.check_open()?;
        op(&mut self.entry.doc.borrow_mut())?;
        self.repo.local_write(&self.entry);
        self.entry.notify(Origin::Local);
        Ok(())
    }
}

fn values_from_js(values: &JsValue) -> Result<Vec<NewValue>, SdkError> {
    let array = values.dyn_ref::<Array>().ok_or_else(|| SdkError::invalid_argument("expected an array of values"))?;
    array.iter().map(|v| value_from_js(&v)).collect()
}

#[wasm_bindgen]
impl DocHandle {
    #[wasm_bindgen(getter)]
    pub fn id(&self) -> String {
        self.entry.id.as_str().to_owned()
    }

    /// The whole document as a frozen plain value (materialised once per change).
    pub fn value(&self) -> JsResult<JsValue> {
        self.entry.check_open()?;
        Ok(self.entry.value()?)
    }

    /// The value at `path`, or undefined if there is none.
    pub fn get(&self, path: JsValue) -> JsResult<JsValue> {
        self.entry.check_open()?;
        let path = path_from_js(&path)?;
        let Some((parent, last)) = path.split_last() else { return self.value() };
        let mut doc = self.entry.doc.borrow_mut();
        let (obj, obj_type) = doc.resolve(&parent)?;
        let prop = match (obj_type, last) {
            (ObjType::List, crate::path::PathSeg::Index(i)) => Prop::Seq(*i),
            (ObjType::Map | ObjType::Table, crate::path::PathSeg::Key(k)) => Prop::Map(k.clone()),
            _ => return Ok(JsValue::UNDEFINED),
        };
        let am = doc.doc();
        Ok(match am.get(&obj, prop).map_err(SdkError::from)? {
            None => JsValue::UNDEFINED,
            Some((automerge::Value::Scalar(s), _)) => scalar_to_js(&s),
            Some((automerge::Value::Object(t), id)) => object_to_js(am, &id, t)?,
        })
    }

    /// Sets a map key or list element (index = length appends).
    pub fn set(&self, path: JsValue, value: JsValue) -> JsResult<()> {
        let path = path_from_js(&path)?;
        let value = value_from_js(&value)?;
        self.write(|doc| doc.set(&path, &value))
    }

    /// Deletes a map key or list element.
    pub fn delete(&self, path: JsValue) -> JsResult<()> {
        let path = path_from_js(&path)?;
        self.write(|doc| doc.delete(&path))
    }

    /// Inserts `value` into the list at `path` before `index`.
    pub fn insert(&self, path: JsValue, index: f64, value: JsValue) -> JsResult<()> {
        let path = path_from_js(&path)?;
        let index = index_from_js(index, "index")?;
        let value = value_from_js(&value)?;
        self.write(|doc| doc.insert(&path, index, std::slice::from_ref(&value)))
    }

    /// Appends `value` to the list at `path`.
    pub fn push(&self, path: JsValue, value: JsValue) -> JsResult<()> {
        let path = path_from_js(&path)?;
        let value = value_from_js(&value)?;
        self.write(|doc| doc.push(&path, std::slice::from_ref(&value)))
    }

    /// Moves the list element at `from` to index `to`.
    #[wasm_bindgen(js_name = "move")]
    pub fn move_item(&self, path: JsValue, from: f64, to: f64) -> JsResult<()> {
        let path = path_from_js(&path)?;
        let (from, to) = (index_from_js(from, "from")?, index_from_js(to, "to")?);
        self.write(|doc| doc.move_item(&path, from, to))
    }

    /// Splices the text (insert: a string) or list (insert: an array) at `path`.
    pub fn splice(&self, path: JsValue, index: f64, delete_count: f64, insert: JsValue) -> JsResult<()> {
        let path = path_from_js(&path)?;
        let index = index_from_js(index, "index")?;
        let delete = index_from_js(delete_count, "deleteCount")?;
        if let Some(text) = insert.as_string() {
            return self.write(|doc| doc.splice_text(&path, index, delete, &text));
        }
        if insert.is_undefined() || insert.is_null() {
            // Deleting only: works on texts and lists alike.
            let is_text = self.entry.doc.borrow_mut().resolve(&path).map(|(_, t)| t == ObjType::Text)?;
            return if is_text {
                self.write(|doc| doc.splice_text(&path, index, delete, ""))
            } else {
                self.write(|doc| doc.splice_list(&path, index, delete, &[]))
            };
        }
        let values = values_from_js(&insert)?;
        self.write(|doc| doc.splice_list(&path, index, delete, &values))
    }

    /// Adds `by` (default 1) to the counter at `path`.
    pub fn increment(&self, path: JsValue, by: Option<f64>) -> JsResult<()> {
        let path = path_from_js(&path)?;
        let by = by.unwrap_or(1.0);
        if by.fract() != 0.0 || by.abs() > 9_007_199_254_740_991.0 {
            return Err(SdkError::invalid_argument(format!("increment needs a safe integer, got {}", number_text(by))).into());
        }
        self.write(|doc| doc.increment(&path, by as i64))
    }

    /// Calls `callback({ value, origin })` after every change (local, other tab,
    /// remote); `value` is materialised on first access. Returns the unsubscribe function.
    pub fn subscribe(&self, callback: Function) -> JsResult<Function> {
        self.entry.check_open()?;
        self.entry.subscribe(&callback);
        let entry = Rc::downgrade(&self.entry);
        Ok(unsubscriber(move || {
            if let Some(entry) = entry.upgrade() {
                entry.unsubscribe(&callback);
            }
        }))
    }

    #[wasm_bindgen(getter)]
    pub fn status(&self) -> JsValue {
        self.entry.status.borrow().to_js()
    }

    /// Calls `listener(status)` whenever this document's sync status changes.
    #[wasm_bindgen(js_name = onStatus)]
    pub fn on_status(&self, listener: Function) -> Function {
        self.entry.on_status(&listener);
        let entry = Rc::downgrade(&self.entry);
        unsubscriber(move || {
            if let Some(entry) = entry.upgrade() {
                entry.off_status(&listener);
            }
        })
    }

    /// The document's current heads (hex change hashes).
    pub fn heads(&self) -> JsResult<Array> {
        self.entry.check_open()?;
        Ok(self.entry.heads_hex().into_iter().map(JsValue::from).collect())
    }

    /// Whether the handle's document is closed.
    #[wasm_bindgen(getter)]
    pub fn closed(&self) -> bool {
        self.entry.is_closed()
    }

    /// Writes the document out and closes it (for every handle on it).
    pub fn close(&self) -> Promise {
        let entry = self.entry.clone();
        let repo = self.repo.clone();
        promise(async move {
            if !entry.is_closed() {
                repo.close_doc(&entry).await?;
            }
            Ok(JsValue::UNDEFINED)
        })
    }
}

use wasm_bindgen::JsCast;

