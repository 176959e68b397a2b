//! IndexedDB requests and transactions as futures. Awaiting one IndexedDB request
//! after another inside a transaction is fine (the continuation runs in the same
//! microtask checkpoint, while the transaction is still active); awaiting anything
//! else in between is not, and the code using this module never does.

use js_sys::{Function, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{IdbDatabase, IdbFactory, IdbOpenDbRequest, IdbRequest, IdbTransaction};

use crate::error::{ErrorCode, SdkError};

fn storage_error(what: &str, err: JsValue) -> SdkError {
    let detail = Reflect::get(&err, &"message".into())
        .ok()
        .and_then(|m| m.as_string())
        .or_else(|| err.as_string())
        .unwrap_or_else(|| "unknown error".into());
    SdkError::new(ErrorCode::Storage, format!("IndexedDB {what} failed: {detail}"))
}

/// The error of a failed request, or of the transaction that was aborted.
fn event_error(target: &JsValue) -> JsValue {
    Reflect::get(target, &"error".into()).unwrap_or(JsValue::NULL)
}

/// Resolves with the request's result once it succeeds.
pub async fn request(req: &IdbRequest, what: &str) -> Result<JsValue, SdkError> {
    let req_for_error = req.clone();
    let promise = Promise::new(&mut |resolve: Function, reject: Function| {
        let req_ok = req_for_error.clone();
        let on_success = Closure::once_into_js(move || {
            let _ = resolve.call1(&JsValue::UNDEFINED, &req_ok.result().unwrap_or(JsValue::UNDEFINED));
        });
        let req_err = req_for_error.clone();
        let on_error = Closure::once_into_js(move || {
            let _ = reject.call1(&JsValue::UNDEFINED, &event_error(&req_err));
        });
        req_for_error.set_onsuccess(Some(on_success.unchecked_ref()));
        req_for_error.set_onerror(Some(on_error.unchecked_ref()));
    });
    JsFuture::from(promise).await.map_err(|e| storage_error(what, e))
}

/// Resolves once the transaction has committed.
pub async fn committed(tx: &IdbTransaction, what: &str) -> Result<(), SdkError> {
    let tx = tx.clone();
    let promise = Promise::new(&mut |resolve: Function, reject: Function| {
        let on_complete = Closure::once_into_js(move || {
            let _ = resolve.call0(&JsValue::UNDEFINED);
        });
        let tx_err = tx.clone();
        let reject_abort = reject.clone();
        let on_error = Closure::once_into_js(move || {
            let _ = reject.call1(&JsValue::UNDEFINED, &event_error(&tx_err));
        });
        let tx_abort = tx.clone();
        let on_abort = Closure::once_into_js(move || {
            let _ = reject_abort.call1(&JsValue::UNDEFINED, &event_error(&tx_abort));
        });
        tx.set_oncomplete(Some(on_complete.unchecked_ref()));
        tx.set_onerror(Some(on_error.unchecked_ref()));
        tx.set_onabort(Some(on_abort.unchecked_ref()));
    });
    JsFuture::from(promise).await.map(|_| ()).map_err(|e| storage_error(what, e))
}

/// Opens (creating or upgrading) the database `name` at `version`; `upgrade`
/// creates the object stores.
pub async fn open(name: &str, version: u32, upgrade: fn(&IdbDatabase) -> Result<(), JsValue>) -> Result<IdbDatabase, SdkError> {
    let factory: IdbFactory = Reflect::get(&js_sys::global(), &"indexedDB".into())
        .ok()
        .filter(|f| !f.is_undefined() && !f.is_null())
        .ok_or_else(|| SdkError::new(ErrorCode::Storage, "IndexedDB is not available in this environment"))?
        .unchecked_into();
    let req: IdbOpenDbRequest = factory.open_with_u32(name, version).map_err(|e| storage_error("open", e))?;
    let req_upgrade = req.clone();
    let on_upgrade = Closure::once_into_js(move || {
        if let Ok(db) = req_upgrade.result() {
            // An exception here aborts the upgrade, which fails the open request below.
            let _ = upgrade(db.unchecked_ref());
        }
    });
    req.set_onupgradeneeded(Some(on_upgrade.unchecked_ref()));
    let db: IdbDatabase = request(&req, "open").await?.unchecked_into();
    // Another tab upgrading the schema must not be blocked by this connection.
    let db_for_close = db.clone();
    let on_version_change = Closure::<dyn FnMut()>::new(move || db_for_close.close());
    db.set_onversionchange(Some(on_version_change.as_ref().unchecked_ref()));
    on_version_change.forget();
    Ok(db)
}
