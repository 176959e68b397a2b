//! Documents in IndexedDB.
//!
//! Object store `chunks`, key `[docId, chunkKey]`: automerge bytes (a snapshot or
//! incremental changes); a document is the concatenation of its chunks, in any
//! order. Each tab only ever adds chunks under fresh keys, so tabs never overwrite
//! each other; compaction replaces the chunks it has read (and merged) by one
//! snapshot, inside one transaction.
//!
//! Object store `docs`, key `docId`: `{ format, acked, sync }`: which heads a
//! region acknowledged and the saved client sync state. Listing reads this store.

use js_sys::{Array, Object, Reflect, Uint8Array};
use sync_protocol::DocId;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{IdbDatabase, IdbKeyRange, IdbObjectStore, IdbTransactionMode};

use crate::error::{ErrorCode, SdkError};
use crate::idb;

const DB_VERSION: u32 = 1;
const CHUNKS: &str = "chunks";
const DOCS: &str = "docs";
const META_FORMAT: u32 = 1;

pub struct Store {
    db: IdbDatabase,
}

/// What is stored about a document besides its content.
#[derive(Debug, Clone, Default)]
pub struct DocMeta {
    /// Hex change hashes below which a region has acknowledged everything.
    pub acked: Vec<String>,
    /// `ClientSync::save` bytes.
    pub sync_state: Option<Vec<u8>>,
}

/// A document's stored chunks and metadata.
pub struct StoredDoc {
    pub chunks: Vec<Vec<u8>>,
    pub meta: Option<DocMeta>,
}

/// One document's share of a persistence batch.
pub struct DocWrite {
    pub id: DocId,
    pub chunk: Option<Vec<u8>>,
    pub meta: DocMeta,
}

fn upgrade(db: &IdbDatabase) -> Result<(), JsValue> {
    let names = db.object_store_names();
    if !names.contains(CHUNKS) {
        db.create_object_store(CHUNKS)?;
    }
    if !names.contains(DOCS) {
        db.create_object_store(DOCS)?;
    }
    Ok(())
}

fn js_err(what: &str) -> impl Fn(JsValue) -> SdkError + '_ {
    move |err| {
        let detail = Reflect::get(&err, &"message".into()).ok().and_then(|m| m.as_string()).unwrap_or_default();
        SdkError::new(ErrorCode::Storage, format!("IndexedDB {what} failed: {detail}"))
    }
}

/// All chunk keys of one document: `[id]` sorts before `[id, anything]`, and
/// `[id, []]` after every `[id, string]`.
fn doc_range(id: &DocId) -> Result<IdbKeyRange, SdkError> {
    let lower = Array::of1(&id.as_str().into());
    let upper = Array::of2(&id.as_str().into(), &Array::new());
    IdbKeyRange::bound(&lower, &upper).map_err(js_err("key range"))
}

/// A fresh chunk key: time-ordered (so loading follows history roughly) and random.
fn new_chunk_key(id: &DocId) -> JsValue {
    let mut random = [0u8; 6];
    // Without randomness (never in a browser) the time part still orders keys.
    let _ = getrandom::fill(&mut random);
    let suffix: String = random.iter().map(|b| format!("{b:02x}")).collect();
    // Milliseconds are integral; formatting them as an integer keeps float printing out of the wasm.
    let key = format!("{:013}-{suffix}", js_sys::Date::now() as u64);
    Array::of2(&id.as_str().into(), &key.into()).into()
}

impl Store {
    pub async fn open(name: &str) -> Result<Store, SdkError> {
        let db = idb::open(name, DB_VERSION, upgrade).await?;
        Ok(Store { db })
    }

    fn transaction(&self, mode: IdbTransactionMode) -> Result<web_sys::IdbTransaction, SdkError> {
        let stores = Array::of2(&CHUNKS.into(), &DOCS.into());
        self.db.transaction_with_str_sequence_and_mode(&stores, mode).map_err(js_err("transaction"))
    }

    fn store(tx: &web_sys::IdbTransaction, name: &str) -> Result<IdbObjectStore, SdkError> {
        tx.object_store(name).map_err(js_err("object store"))
    }

    /// The stored chunks and metadata of a document, or `None` if it has none.
    pub async fn load(&self, id: &DocId) -> Result<Option<StoredDoc>, SdkError> {
        let tx = self.transaction(IdbTransactionMode::Readonly)?;
        let chunks = Self::store(&tx, CHUNKS)?;
        let range = doc_range(id)?;
        let values_req = chunks.get_all_with_key(&range).map_err(js_err("read"))?;
        let meta_req = Self::store(&tx, DOCS)?.get(&id.as_str().into()).map_err(js_err("read"))?;
        let values: Array = idb::request(&values_req, "read").await?.unchecked_into();
        let meta = idb::request(&meta_req, "read").await?;
        if values.length() == 0 && meta.is_undefined() {
            return Ok(None);
        }
        let mut stored = StoredDoc { chunks: Vec::new(), meta: meta_from_js(&meta) };
        for value in values.iter() {
            let bytes = value.dyn_into::<Uint8Array>().map_err(|_| {
                SdkError::new(ErrorCode::CorruptStorage, format!("document {}: a stored chunk is not binary data", id.as_str()))
            })?;
            stored.chunks.push(bytes.to_vec());
        }
        Ok(Some(stored))
    }

    /// Writes a batch (new chunks and metadata of several documents) in one transaction.
    pub async fn write(&self, batch: &[DocWrite]) -> Result<(), SdkError> {
        if batch.is_empty() {
            return Ok(());
        }
        let tx = self.transaction(IdbTransactionMode::Readwrite)?;
        let chunks = Self::store(&tx, CHUNKS)?;
        let docs = Self::store(&tx, DOCS)?;
        for write in batch {
            if let Some(chunk) = &write.chunk {
                chunks.put_with_key(&Uint8Array::from(chunk.as_slice()), &new_chunk_key(&write.id)).map_err(js_err("write"))?;
            }
            docs.put_with_key(&meta_to_js(&write.meta), &write.id.as_str().into()).map_err(js_err("write"))?;
        }
        idb::committed(&tx, "write").await
    }

    /// Replaces all chunks of a document with one snapshot. `merge` receives the
    /// stored chunks (it must fold them into the live document, which may lack
    /// some written by other tabs) and returns the snapshot to store.
    pub async fn compact(&self, id: &DocId, merge: impl FnOnce(&[Vec<u8>]) -> Result<Vec<u8>, SdkError>) -> Result<usize, SdkError> {
        let tx = self.transaction(IdbTransactionMode::Readwrite)?;
        let chunks = Self::store(&tx, CHUNKS)?;
        let range = doc_range(id)?;
        let keys_req = chunks.get_all_keys_with_key(&range).map_err(js_err("read"))?;
        let values_req = chunks.get_all_with_key(&range).map_err(js_err("read"))?;
        let keys: Array = idb::request(&keys_req, "read").await?.unchecked_into();
        let values: Array = idb::request(&values_req, "read").await?.unchecked_into();
        let stored: Vec<Vec<u8>> = values.iter().filter_map(|v| v.dyn_into::<Uint8Array>().ok()).map(|b| b.to_vec()).collect();
        if stored.len() != values.length() as usize {
            tx.abort().ok();
            return Err(SdkError::new(ErrorCode::CorruptStorage, format!("document {}: a stored chunk is not binary data; not compacting", id.as_str())));
        }
        let snapshot = match merge(&stored) {
            Ok(snapshot) => snapshot,
            Err(err) => {
                tx.abort().ok();
                return Err(err);
            }
        };
        for key in keys.iter() {
            chunks.delete(&key).map_err(js_err("delete"))?;
        }
        chunks.put_with_key(&Uint8Array::from(snapshot.as_slice()), &new_chunk_key(id)).map_err(js_err("write"))?;
        idb::committed(&tx, "compaction").await?;
        Ok(keys.length() as usize)
    }

    /// Ids of every stored document.
    pub async fn list(&self) -> Result<Vec<String>, SdkError> {
        let tx = self.transaction(IdbTransactionMode::Readonly)?;
        let req = Self::store(&tx, DOCS)?.get_all_keys().map_err(js_err("read"))?;
        let keys: Array = idb::request(&req, "read").await?.unchecked_into();
        Ok(keys.iter().filter_map(|k| k.as_string()).collect())
    }

    /// Removes a document's chunks and metadata.
    pub async fn delete(&self, id: &DocId) -> Result<(), SdkError> {
        let tx = self.transaction(IdbTransactionMode::Readwrite)?;
        Self::store(&tx, CHUNKS)?.delete(&doc_range(id)?.into()).map_err(js_err("delete"))?;
        Self::store(&tx, DOCS)?.delete(&id.as_str().into()).map_err(js_err("delete"))?;
        idb::committed(&tx, "delete").await
    }

    /// Total bytes of a document's stored chunks (for diagnostics and benchmarks).
    pub async fn stored_bytes(&self, id: &DocId) -> Result<usize, SdkError> {
        Ok(self.load(id).await?.map_or(0, |s| s.chunks.iter().map(Vec::len).sum()))
    }

    pub fn close(&self) {
        self.db.close();
    }
}

fn meta_to_js(meta: &DocMeta) -> JsValue {
    let object = Object::new();
    let acked: Array = meta.acked.iter().map(|h| JsValue::from_str(h)).collect();
    let sync = match &meta.sync_state {
        Some(bytes) => Uint8Array::from(bytes.as_slice()).into(),
        None => JsValue::NULL,
    };
    let _ = Reflect::set(&object, &"format".into(), &META_FORMAT.into());
    let _ = Reflect::set(&object, &"acked".into(), &acked);
    let _ = Reflect::set(&object, &"sync".into(), &sync);
    object.into()
}

/// Lenient: unreadable metadata only costs a sync round, so it reads as absent.
fn meta_from_js(value: &JsValue) -> Option<DocMeta> {
    if !value.is_object() {
        return None;
    }
    let acked = Reflect::get(value, &"acked".into())
        .ok()
        .and_then(|a| a.dyn_into::<Array>().ok())
        .map(|a| a.iter().filter_map(|h| h.as_string()).collect())
        .unwrap_or_default();
    let sync_state = Reflect::get(value, &"sync".into()).ok().and_then(|s| s.dyn_into::<Uint8Array>().ok()).map(|b| b.to_vec());
    Some(DocMeta { acked, sync_state })
}
