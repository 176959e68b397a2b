//! Tests in real headless Chromium (scripts/test.d/30-sdk-browser.sh): IndexedDB,
//! BroadcastChannel, Web Locks and fetch are the browser's own.

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::{Array, Function, Object, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

use crate::api::{DocHandle, Repo};
use crate::test_support::{eventually, sleep, unique_name};

wasm_bindgen_test_configure!(run_in_browser);

fn options(pairs: &[(&str, JsValue)]) -> JsValue {
    let object = Object::new();
    for (key, value) in pairs {
        Reflect::set(&object, &(*key).into(), value).unwrap();
    }
    object.into()
}

async fn open(name: &str) -> Repo {
    Repo::open_async(&options(&[("name", name.into())])).await.unwrap()
}

async fn wait(promise: js_sys::Promise) -> JsValue {
    JsFuture::from(promise).await.unwrap()
}

fn json(value: &JsValue) -> String {
    js_sys::JSON::stringify(value).unwrap().as_string().unwrap()
}

fn path(segments: &[JsValue]) -> JsValue {
    segments.iter().collect::<Array>().into()
}

async fn find(repo: &Repo, id: &str) -> Result<DocHandle, JsValue> {
    let handle = JsFuture::from(repo.find(id.into())).await?;
    // The handle crossed into JS and back: re-find it through the repo's open entry.
    let _ = handle;
    Ok(repo.open_handle(id).expect("find registered the document"))
}

fn error_code(err: &JsValue) -> String {
    Reflect::get(err, &"code".into()).unwrap().as_string().unwrap_or_default()
}

#[wasm_bindgen_test]
async fn writes_persist_across_reopen() {
    let name = unique_name("reopen");
    let repo = open(&name).await;
    let doc = repo.create(js_sys::JSON::parse(r#"{"title":"draft","todos":[]}"#).unwrap(), JsValue::UNDEFINED).unwrap();
    let id = doc.id();
    doc.push("todos".into(), js_sys::JSON::parse(r#"{"text":"milk","done":false}"#).unwrap()).unwrap();
    doc.splice(path(&["title".into()]), 5.0, 0.0, " one".into()).unwrap();
    doc.set(path(&["todos".into(), 0.into(), "done".into()]), true.into()).unwrap();
    let before = json(&doc.value().unwrap());
    wait(repo.close()).await;

    let reopened = open(&name).await;
    let ids = wait(reopened.list()).await;
    assert_eq!(json(&ids), format!("[\"{id}\"]"));
    let doc = find(&reopened, &id).await.unwrap();
    assert_eq!(json(&doc.value().unwrap()), before);
    assert_eq!(before, r#"{"title":"draft one","todos":[{"done":true,"text":"milk"}]}"#);
    wait(reopened.close()).await;
}

#[wasm_bindgen_test]
async fn many_tasks_of_writes_persist_and_compact() {
    let name = unique_name("compact");
    let repo = open(&name).await;
    let doc = repo.create(js_sys::JSON::parse(r#"{"text":""}"#).unwrap(), JsValue::UNDEFINED).unwrap();
    let id = doc.id();
    // Enough separately persisted batches to trigger compaction.
    for i in 0..80u32 {
        doc.splice("text".into(), i as f64, 0.0, "x".into()).unwrap();
        wait(repo.flush()).await;
    }
    sleep(200).await;
    wait(repo.close()).await;
    let reopened = open(&name).await;
    let doc = find(&reopened, &id).await.unwrap();
    assert_eq!(doc.get("text".into()).unwrap().as_string().unwrap(), "x".repeat(80));
    wait(reopened.close()).await;
}

#[wasm_bindgen_test]
async fn bad_input_gives_clear_errors_and_changes_nothing() {
    let repo = open(&unique_name("bad")).await;
    let doc = repo.create(js_sys::JSON::parse(r#"{"list":[1,2],"text":"abc"}"#).unwrap(), JsValue::UNDEFINED).unwrap();
    let before = json(&doc.value().unwrap());

    let err = doc.set(path(&["list".into(), "x".into()]), 1.into()).unwrap_err();
    assert_eq!(error_code(&err), "invalid_path");
    let err = doc.set("f".into(), Function::new_no_args("return 1").into()).unwrap_err();
    assert_eq!(error_code(&err), "invalid_value");
    let err = doc.set("u".into(), JsValue::UNDEFINED).unwrap_err();
    assert_eq!(error_code(&err), "invalid_value");
    let map = js_sys::Map::new();
    let err = doc.set("m".into(), map.into()).unwrap_err();
    assert!(Reflect::get(&err, &"message".into()).unwrap().as_string().unwrap().contains("Map"));
    let cyclic = Object::new();
    Reflect::set(&cyclic, &"self".into(), &cyclic).unwrap();
    assert_eq!(error_code(&doc.set("c".into(), cyclic.into()).unwrap_err()), "invalid_value");
    assert_eq!(error_code(&doc.splice("text".into(), 2.0, 5.0, "".into()).unwrap_err()), "invalid_path");
    assert_eq!(error_code(&doc.splice("text".into(), -1.0, 0.0, "".into()).unwrap_err()), "invalid_argument");
    assert_eq!(error_code(&doc.delete(path(&["list".into(), 7.into()])).unwrap_err()), "invalid_path");
    assert_eq!(error_code(&doc.increment("list".into(), None).unwrap_err()), "invalid_path");
    assert_eq!(error_code(&doc.set(Object::new().into(), 1.into()).unwrap_err()), "invalid_path");
    assert_eq!(error_code(&JsFuture::from(repo.find("no/such id".into())).await.unwrap_err()), "invalid_argument");
    assert_eq!(error_code(&JsFuture::from(repo.find("missing".into())).await.unwrap_err()), "not_found");

    assert_eq!(json(&doc.value().unwrap()), before);
    wait(repo.close()).await;
}

#[wasm_bindgen_test]
async fn corrupt_storage_is_reported_and_kept() {
    let name = unique_name("corrupt");
    let repo = open(&name).await;
    let doc = repo.create(js_sys::JSON::parse(r#"{"a":1}"#).unwrap(), JsValue::UNDEFINED).unwrap();
    let id = doc.id();
    wait(repo.close()).await;

    // Append garbage as one more chunk of the document, the way a broken write would.
    let store = crate::storage::Store::open(&name).await.unwrap();
    store.write(&[crate::storage::DocWrite {
        id: sync_protocol::DocId::parse(&id).unwrap(),
        chunk: Some(b"definitely not automerge".to_vec()),
        meta: Default::default(),
    }]).await.unwrap();
    let bytes_before = store.stored_bytes(&sync_protocol::DocId::parse(&id).unwrap()).await.unwrap();
    store.close();

    let reopened = open(&name).await;
    let err = JsFuture::from(reopened.find(id.clone())).await.unwrap_err();
    assert_eq!(error_code(&err), "corrupt_storage");
    assert_eq!(json(&wait(reopened.list()).await), format!("[\"{id}\"]"), "the document is still listed");
    let bytes_after = wait(reopened.stored_bytes(id.clone())).await.as_f64().unwrap() as usize;
    assert_eq!(bytes_after, bytes_before, "nothing was dropped");
    wait(reopened.close()).await;
}

#[wasm_bindgen_test]
async fn subscribers_see_every_write_at_once() {
    let repo = open(&unique_name("subscribe")).await;
    let doc = repo.create(js_sys::JSON::parse(r#"{"n":0,"text":""}"#).unwrap(), JsValue::UNDEFINED).unwrap();
    let seen: Rc<RefCell<Vec<String>>> = Rc::default();
    let sink = seen.clone();
    let callback = Closure::<dyn Fn(JsValue)>::new(move |event: JsValue| {
        let value = Reflect::get(&event, &"value".into()).unwrap();
        sink.borrow_mut().push(json(&value));
    });
    let unsubscribe = doc.subscribe(callback.as_ref().unchecked_ref::<Function>().clone()).unwrap();
    doc.set("n".into(), 1.into()).unwrap();
    doc.splice("text".into(), 0.0, 0.0, "hi".into()).unwrap();
    assert_eq!(*seen.borrow(), vec![r#"{"n":1,"text":""}"#.to_string(), r#"{"n":1,"text":"hi"}"#.to_string()]);
    unsubscribe.call0(&JsValue::UNDEFINED).unwrap();
    doc.set("n".into(), 2.into()).unwrap();
    assert_eq!(seen.borrow().len(), 2);
    wait(repo.close()).await;
}

#[wasm_bindgen_test]
async fn two_repos_on_one_channel_see_each_others_writes() {
    let name = unique_name("tabs");
    let tab_a = open(&name).await;
    let tab_b = open(&name).await;
    let doc_a = tab_a.create(js_sys::JSON::parse(r#"{"text":"shared"}"#).unwrap(), JsValue::UNDEFINED).unwrap();
    wait(tab_a.flush()).await;
    let doc_b = find(&tab_b, &doc_a.id()).await.unwrap();
    assert_eq!(doc_b.get("text".into()).unwrap().as_string().unwrap(), "shared");

    doc_a.splice("text".into(), 6.0, 0.0, " by A".into()).unwrap();
    eventually(|| doc_b.get("text".into()).unwrap().as_string().unwrap() == "shared by A", "B to see A's write").await;
    doc_b.set("fromB".into(), true.into()).unwrap();
    eventually(|| doc_a.get("fromB".into()).unwrap() == JsValue::TRUE, "A to see B's write").await;
    wait(tab_a.close()).await;
    wait(tab_b.close()).await;
}

#[wasm_bindgen_test]
async fn failing_endpoint_backs_off_instead_of_busy_looping() {
    // Nothing listens on port 9 of loopback: every round fails at once.
    let repo = Repo::open_async(&options(&[
        ("name", unique_name("backoff").into()),
        ("endpoint", "http://127.0.0.1:9".into()),
        ("minBackoffMs", 100.into()),
        ("maxBackoffMs", 400.into()),
        ("watch", false.into()),
    ]))
    .await
    .unwrap();
    let attempts = Rc::new(RefCell::new(0u32));
    let counter = attempts.clone();
    let listener = Closure::<dyn Fn(JsValue)>::new(move |status: JsValue| {
        if Reflect::get(&status, &"syncing".into()).unwrap() == JsValue::TRUE {
            *counter.borrow_mut() += 1;
        }
    });
    let _off = repo.on_status(listener.as_ref().unchecked_ref::<Function>().clone());
    let doc = repo.create(js_sys::JSON::parse(r#"{"n":1}"#).unwrap(), JsValue::UNDEFINED).unwrap();
    // Keep writing, as a user would: writes must not cut the back-off short.
    for i in 0..30 {
        doc.set("n".into(), i.into()).unwrap();
        sleep(50).await;
    }
    let attempts = *attempts.borrow();
    // 1.5 s with delays of 50-100, 100-200, then 200-400 ms: about 4 to 8 rounds; a busy loop makes hundreds.
    assert!((2..=12).contains(&attempts), "{attempts} rounds in 1.5 s");
    let status = repo.status();
    assert_eq!(error_code(&Reflect::get(&status, &"lastError".into()).unwrap()), "network");
    assert!(Reflect::get(&status, &"pendingChanges".into()).unwrap().as_f64().unwrap() >= 1.0);
    wait(repo.close()).await;
}

#[wasm_bindgen_test]
async fn only_one_tab_syncs_a_document_and_another_takes_over() {
    let name = unique_name("owner");
    let synced = |name: &str| {
        options(&[
            ("name", name.into()),
            // Nothing listens there; ownership, not sync success, is under test.
            ("endpoint", "http://127.0.0.1:9".into()),
            ("watch", false.into()),
            ("minBackoffMs", 1000.into()),
        ])
    };
    let tab_a = Repo::open_async(&synced(&name)).await.unwrap();
    let tab_b = Repo::open_async(&synced(&name)).await.unwrap();
    let doc_a = tab_a.create(js_sys::JSON::parse(r#"{"n":1}"#).unwrap(), JsValue::UNDEFINED).unwrap();
    wait(tab_a.flush()).await;
    let doc_b = find(&tab_b, &doc_a.id()).await.unwrap();
    eventually(|| doc_a.entry.sync_owner.get(), "the creating tab to own sync").await;
    sleep(100).await;
    assert!(!doc_b.entry.sync_owner.get(), "two tabs sync the same document");

    wait(tab_a.close()).await;
    eventually(|| doc_b.entry.sync_owner.get(), "the other tab to take over sync").await;
    wait(tab_b.close()).await;
}
