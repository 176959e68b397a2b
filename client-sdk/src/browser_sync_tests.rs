//! Sync against a real region server (started by scripts/test.d/30-sdk-browser.sh,
//! which bakes its URL into this build as EDGESYNC_TEST_REGION), in headless Chromium.

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::{Array, Function, Object, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

use crate::api::{DocHandle, Repo};
use crate::test_support::{eventually, sleep, unique_name};

wasm_bindgen_test_configure!(run_in_browser);

fn region() -> &'static str {
    option_env!("EDGESYNC_TEST_REGION")
        .expect("EDGESYNC_TEST_REGION must name a `region-server --dev` URL; scripts/test.d/30-sdk-browser.sh starts one")
}

/// A token callback that mints a dev token (write access to everything).
fn dev_token_provider() -> Function {
    token_provider_writing("*")
}

/// A token callback that mints a dev token with write access to the documents `pattern` names.
fn token_provider_writing(pattern: &str) -> Function {
    Function::new_with_args(
        "force",
        &format!(
            "return fetch('{}/v1/dev/token', {{method: 'POST', headers: {{'content-type': 'application/json'}}, \
             body: JSON.stringify({{sub: 'sdk-test', write: ['{pattern}']}})}}).then(r => r.json()).then(j => j.token)",
            region()
        ),
    )
}

async fn open_synced(label: &str, token: Function) -> Repo {
    let options = Object::new();
    for (key, value) in [
        ("name", JsValue::from(unique_name(label))),
        ("endpoint", region().into()),
        ("token", token.into()),
        ("minBackoffMs", 50.into()),
        ("maxBackoffMs", 500.into()),
        ("watchWaitMs", 2000.into()),
    ] {
        Reflect::set(&options, &key.into(), &value).unwrap();
    }
    Repo::open_async(&options.into()).await.unwrap()
}

fn status_field(status: &JsValue, key: &str) -> JsValue {
    Reflect::get(status, &key.into()).unwrap()
}

fn set_browser_online(online: bool) {
    let window: web_sys::Window = js_sys::global().unchecked_into();
    let event = web_sys::Event::new(if online { "online" } else { "offline" }).unwrap();
    window.dispatch_event(&event).unwrap();
}

fn text_of(doc: &DocHandle) -> String {
    doc.get("text".into()).unwrap().as_string().unwrap_or_default()
}

async fn find(repo: &Repo, id: &str) -> DocHandle {
    JsFuture::from(repo.find(id.into())).await.unwrap();
    repo.open_handle(id).unwrap()
}

#[wasm_bindgen_test]
async fn offline_writes_queue_and_flush_when_back_online() {
    let device = open_synced("offline", dev_token_provider()).await;
    let doc = device.create(js_sys::JSON::parse(r#"{"text":""}"#).unwrap(), JsValue::UNDEFINED).unwrap();
    eventually(|| status_field(&doc.status(), "pendingChanges") == 0.0, "the first change to be acknowledged").await;
    assert!(status_field(&doc.status(), "lastSyncAt").as_f64().is_some());
    assert!(status_field(&doc.status(), "region").as_string().is_some(), "the serving region is reported");

    set_browser_online(false);
    for (i, c) in "offline".chars().enumerate() {
        doc.splice("text".into(), i as f64, 0.0, c.to_string().into()).unwrap();
        sleep(20).await; // separate tasks: separate changes
    }
    sleep(300).await;
    assert_eq!(status_field(&doc.status(), "online"), JsValue::FALSE);
    let pending = status_field(&doc.status(), "pendingChanges").as_f64().unwrap();
    assert!(pending >= 7.0, "{pending} changes waiting while offline");

    set_browser_online(true);
    eventually(|| status_field(&doc.status(), "pendingChanges") == 0.0, "queued changes to be acknowledged").await;

    // Another device (its own storage) gets everything from the region.
    let other = open_synced("offline-reader", dev_token_provider()).await;
    let copy = find(&other, &doc.id()).await;
    eventually(|| text_of(&copy) == "offline", "the other device to receive the offline writes").await;
    JsFuture::from(device.close()).await.unwrap();
    JsFuture::from(other.close()).await.unwrap();
}

#[wasm_bindgen_test]
async fn two_devices_converge_after_concurrent_edits() {
    let a = open_synced("converge-a", dev_token_provider()).await;
    let b = open_synced("converge-b", dev_token_provider()).await;
    let doc_a = a.create(js_sys::JSON::parse(r#"{"text":"middle","items":[]}"#).unwrap(), JsValue::UNDEFINED).unwrap();
    let doc_b = find(&b, &doc_a.id()).await;
    eventually(|| text_of(&doc_b) == "middle", "B to load A's document").await;

    set_browser_online(false);
    doc_a.splice("text".into(), 0.0, 0.0, "start ".into()).unwrap();
    doc_a.push("items".into(), "from A".into()).unwrap();
    doc_b.splice("text".into(), 6.0, 0.0, " end".into()).unwrap();
    doc_b.push("items".into(), "from B".into()).unwrap();
    sleep(100).await;
    set_browser_online(true);

    let json = |doc: &DocHandle| js_sys::JSON::stringify(&doc.value().unwrap()).unwrap().as_string().unwrap();
    eventually(|| json(&doc_a) == json(&doc_b) && text_of(&doc_a) == "start middle end", "both devices to converge").await;
    let items: Array = doc_a.get("items".into()).unwrap().unchecked_into();
    assert_eq!(items.length(), 2);
    JsFuture::from(a.close()).await.unwrap();
    JsFuture::from(b.close()).await.unwrap();
}

#[wasm_bindgen_test]
async fn a_401_refreshes_the_token_once_then_surfaces_in_the_status() {
    // First call returns a forged token; the forced refresh returns a real one.
    let calls: Rc<RefCell<Vec<bool>>> = Rc::default();
    let log = calls.clone();
    let real = dev_token_provider();
    let provider = Closure::<dyn Fn(JsValue) -> JsValue>::new(move |force: JsValue| {
        let force = force.as_bool().unwrap_or(false);
        log.borrow_mut().push(force);
        if force { real.call1(&JsValue::NULL, &JsValue::TRUE).unwrap() } else { JsValue::from("forged.token.value") }
    });
    let repo = open_synced("refresh", provider.as_ref().unchecked_ref::<Function>().clone()).await;
    let doc = repo.create(js_sys::JSON::parse(r#"{"n":1}"#).unwrap(), JsValue::UNDEFINED).unwrap();
    eventually(|| status_field(&doc.status(), "pendingChanges") == 0.0, "sync after the refresh").await;
    assert_eq!(calls.borrow()[..2], [false, true]);
    JsFuture::from(repo.close()).await.unwrap();

    // A provider that only ever returns a bad token: the error reaches the status.
    let always_bad = Function::new_with_args("force", "return 'forged.token.value'");
    let repo = open_synced("unauthenticated", always_bad).await;
    let doc = repo.create(js_sys::JSON::parse(r#"{"n":1}"#).unwrap(), JsValue::UNDEFINED).unwrap();
    eventually(|| !status_field(&repo.status(), "lastError").is_null(), "the 401 to surface").await;
    let error = status_field(&doc.status(), "lastError");
    assert_eq!(status_field(&error, "code").as_string().unwrap(), "unauthenticated");
    assert_eq!(status_field(&doc.status(), "pendingChanges").as_f64().unwrap(), 1.0);
    JsFuture::from(repo.close()).await.unwrap();
}

#[wasm_bindgen_test]
async fn a_document_outside_the_token_is_refused_alone() {
    // One batch carries both documents; the region refuses one entry (a JSON error
    // payload inside the binary batch) and syncs the other.
    let repo = open_synced("forbidden", token_provider_writing("mine-*")).await;
    let options = |id: &str| {
        let options = Object::new();
        Reflect::set(&options, &"id".into(), &id.into()).unwrap();
        JsValue::from(options)
    };
    let suffix = unique_name("doc");
    let initial = || js_sys::JSON::parse(r#"{"n":1}"#).unwrap();
    let mine = repo.create(initial(), options(&format!("mine-{suffix}"))).unwrap();
    let theirs = repo.create(initial(), options(&format!("theirs-{suffix}"))).unwrap();
    eventually(|| !status_field(&theirs.status(), "lastError").is_null(), "the refusal to reach the status").await;
    let error = status_field(&theirs.status(), "lastError");
    assert_eq!(status_field(&error, "code").as_string().unwrap(), "forbidden");
    let message = status_field(&error, "message").as_string().unwrap();
    assert!(message.contains(&format!("theirs-{suffix}")) && message.contains("grants no access"), "{message}");
    eventually(|| status_field(&mine.status(), "pendingChanges") == 0.0, "the allowed document to sync").await;
    assert!(status_field(&mine.status(), "lastError").is_null());
    assert_eq!(status_field(&theirs.status(), "pendingChanges").as_f64().unwrap(), 1.0);
    JsFuture::from(repo.close()).await.unwrap();
}
