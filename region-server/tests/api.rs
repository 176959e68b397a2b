//! The HTTP API of one region process: access control, bad input, watch, operations.

mod common;

use std::time::{Duration, Instant};

use automerge::sync::SyncDoc;
use automerge::Automerge;
use common::{dev_token, doc_id, Cluster, TestClient};
use sync_protocol::http::{CONTENT_TYPE_BATCH, CONTENT_TYPE_SYNC_MESSAGE};
use sync_protocol::{DocMessage, ErrorBody, ErrorCode, SyncBatchRequest, SyncBatchResponse};

async fn error_of(response: reqwest::Response) -> (u16, ErrorCode) {
    let status = response.status().as_u16();
    let body: ErrorBody = response.json().await.expect("JSON error body");
    (status, body.error.code)
}

fn first_message() -> Vec<u8> {
    let doc = Automerge::new();
    doc.generate_sync_message(&mut automerge::sync::State::new()).expect("first message").encode()
}

async fn post(url: &str, token: Option<&str>, content_type: &str, body: Vec<u8>) -> reqwest::Response {
    let mut request = reqwest::Client::new().post(url).header("content-type", content_type).body(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.expect("request")
}

async fn documents_stored(url: &str) -> u64 {
    let status: serde_json::Value = reqwest::get(format!("{url}/v1/status")).await.unwrap().json().await.unwrap();
    status["storage"]["documents"].as_u64().expect("documents count")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthorized_requests_are_refused_with_clear_errors() {
    let cluster = Cluster::start(&["solo"], &["--max-body-bytes", "4096"]).await;
    let url = cluster.regions[0].url();
    let sync = format!("{url}/v1/sync");
    let batch = SyncBatchRequest { entries: vec![DocMessage { doc: doc_id("secret"), message: first_message() }] }.encode();

    assert_eq!(error_of(post(&sync, None, CONTENT_TYPE_BATCH, batch.clone()).await).await, (401, ErrorCode::Unauthenticated));
    assert_eq!(
        error_of(post(&sync, Some("garbage"), CONTENT_TYPE_BATCH, batch.clone()).await).await,
        (401, ErrorCode::Unauthenticated)
    );
    let forged = {
        let key = jsonwebtoken::EncodingKey::from_secret(b"not-the-secret");
        let claims = serde_json::json!({"sub": "mallory", "exp": 4_000_000_000u64, "write": ["*"]});
        jsonwebtoken::encode(&jsonwebtoken::Header::default(), &claims, &key).unwrap()
    };
    assert_eq!(
        error_of(post(&sync, Some(&forged), CONTENT_TYPE_BATCH, batch.clone()).await).await,
        (401, ErrorCode::Unauthenticated)
    );

    // A valid token without access: 403 for one document, an error entry in a batch.
    let bob = dev_token(&url, "bob", &["public-*"], &[]).await;
    let single = format!("{url}/v1/docs/secret/sync");
    assert_eq!(
        error_of(post(&single, Some(&bob), CONTENT_TYPE_SYNC_MESSAGE, first_message()).await).await,
        (403, ErrorCode::Forbidden)
    );
    let response = post(&sync, Some(&bob), CONTENT_TYPE_BATCH, batch.clone()).await;
    assert_eq!(response.status(), 200);
    let decoded = SyncBatchResponse::decode(&response.bytes().await.unwrap()).unwrap();
    assert_eq!(decoded.entries[0].outcome.as_ref().unwrap_err().code, ErrorCode::Forbidden);

    // Client tokens cannot replicate; nothing above stored anything.
    assert_eq!(
        error_of(post(&format!("{url}/v1/replicate"), Some(&bob), CONTENT_TYPE_BATCH, batch).await).await,
        (401, ErrorCode::Unauthenticated)
    );
    assert_eq!(documents_stored(&url).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_input_gets_a_4xx_and_stores_nothing() {
    let cluster = Cluster::start(&["solo"], &["--max-body-bytes", "4096"]).await;
    let url = cluster.regions[0].url();
    let token = dev_token(&url, "t", &[], &["*"]).await;
    let sync = format!("{url}/v1/sync");
    let t = Some(token.as_str());

    let cases: Vec<(&str, String, &str, Vec<u8>, (u16, ErrorCode))> = vec![
        ("garbage batch", sync.clone(), CONTENT_TYPE_BATCH, b"hello".to_vec(), (400, ErrorCode::MalformedMessage)),
        ("future version", sync.clone(), CONTENT_TYPE_BATCH, b"EDGS\x09\x01\x00".to_vec(), (400, ErrorCode::UnsupportedVersion)),
        ("truncated", sync.clone(), CONTENT_TYPE_BATCH, b"EDGS\x01\x01\x01\x05ab".to_vec(), (400, ErrorCode::MalformedMessage)),
        ("wrong type", sync.clone(), "text/plain", b"EDGS\x01\x01\x00".to_vec(), (415, ErrorCode::UnsupportedMediaType)),
        ("oversized", sync.clone(), CONTENT_TYPE_BATCH, vec![0u8; 10_000], (413, ErrorCode::BodyTooLarge)),
        ("bad id", format!("{url}/v1/docs/bad.id/sync"), CONTENT_TYPE_SYNC_MESSAGE, first_message(), (400, ErrorCode::InvalidDocId)),
        ("bad message", format!("{url}/v1/docs/ok/sync"), CONTENT_TYPE_SYNC_MESSAGE, b"\x42\xff\xff".to_vec(), (400, ErrorCode::MalformedMessage)),
        ("bad watch", format!("{url}/v1/watch"), "application/json", b"{\"docs\":{}}".to_vec(), (400, ErrorCode::InvalidRequest)),
        ("unknown path", format!("{url}/v2/whatever"), "application/json", vec![], (404, ErrorCode::NotFound)),
    ];
    for (name, target, content_type, body, expected) in cases {
        assert_eq!(error_of(post(&target, t, content_type, body).await).await, expected, "{name}");
    }

    // A corrupt message is an error entry; its valid neighbour is served.
    let batch = SyncBatchRequest {
        entries: vec![
            DocMessage { doc: doc_id("broken"), message: b"\x42\x01".to_vec() },
            DocMessage { doc: doc_id("fine"), message: first_message() },
        ],
    };
    let response = post(&sync, t, CONTENT_TYPE_BATCH, batch.encode()).await;
    let decoded = SyncBatchResponse::decode(&response.bytes().await.unwrap()).unwrap();
    assert_eq!(decoded.entries[0].outcome.as_ref().unwrap_err().code, ErrorCode::MalformedMessage);
    assert!(decoded.entries[1].outcome.is_ok());
    assert_eq!(documents_stored(&url).await, 0);
    assert!(reqwest::get(format!("{url}/healthz")).await.unwrap().status().is_success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_tokens_read_but_never_write() {
    let cluster = Cluster::start(&["solo"], &[]).await;
    let url = cluster.regions[0].url();
    let doc = doc_id("notice");
    let mut editor = TestClient::new(dev_token(&url, "ed", &[], &["notice"]).await, 1);
    editor.put(&doc, "text", "official");
    editor.sync(&url, std::slice::from_ref(&doc)).await.unwrap();

    let mut reader = TestClient::new(dev_token(&url, "rd", &["notice"], &[]).await, 2);
    reader.sync(&url, std::slice::from_ref(&doc)).await.unwrap();
    assert_eq!(reader.get(&doc, "text").as_deref(), Some("official"));
    reader.put(&doc, "text", "vandalized");
    reader.sync(&url, std::slice::from_ref(&doc)).await.unwrap();
    let mut check = TestClient::new(dev_token(&url, "c", &["*"], &[]).await, 3);
    check.sync(&url, std::slice::from_ref(&doc)).await.unwrap();
    assert_eq!(check.get(&doc, "text").as_deref(), Some("official"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_answers_when_another_client_writes() {
    let cluster = Cluster::start(&["solo"], &[]).await;
    let url = cluster.regions[0].url();
    let token = dev_token(&url, "w", &[], &["*"]).await;
    let doc = doc_id("live");
    let mut a = TestClient::new(token.clone(), 1);
    a.put(&doc, "n", "1");
    a.sync(&url, std::slice::from_ref(&doc)).await.unwrap();
    let heads: Vec<String> = a.heads(&doc).iter().map(|h| h.to_string()).collect();
    let watch = |wait_ms: u64| {
        reqwest::Client::new()
            .post(format!("{url}/v1/watch"))
            .bearer_auth(&token)
            .json(&serde_json::json!({"docs": {"live": heads}, "wait_ms": wait_ms}))
            .send()
    };

    // Nothing new: answers empty after wait_ms.
    let started = Instant::now();
    let body: serde_json::Value = watch(300).await.unwrap().json().await.unwrap();
    assert_eq!(body, serde_json::json!({"changed": []}));
    assert!(started.elapsed() >= Duration::from_millis(250));

    // A write by someone else wakes a waiting watch.
    let pending = tokio::spawn(watch(20_000));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut b = TestClient::new(token.clone(), 2);
    b.sync(&url, std::slice::from_ref(&doc)).await.unwrap();
    b.put(&doc, "n", "2");
    b.sync(&url, std::slice::from_ref(&doc)).await.unwrap();
    let answered = tokio::time::timeout(Duration::from_secs(10), pending).await.expect("watch answered").unwrap();
    let body: serde_json::Value = answered.unwrap().json().await.unwrap();
    assert_eq!(body, serde_json::json!({"changed": ["live"]}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operations_endpoints_report_health_metrics_status_and_cors() {
    let cluster = Cluster::start(&["us", "eu"], &[]).await;
    let url = cluster.regions[0].url();
    let token = dev_token(&url, "o", &[], &["*"]).await;
    let mut client = TestClient::new(token, 1);
    let doc = doc_id("m");
    client.put(&doc, "k", "v");
    client.sync(&url, std::slice::from_ref(&doc)).await.unwrap();

    let ready = reqwest::get(format!("{url}/readyz")).await.unwrap();
    assert_eq!(ready.status(), 200);
    assert_eq!(ready.headers()["x-edgesync-region"], "us");
    let metrics = reqwest::get(format!("{url}/metrics")).await.unwrap().text().await.unwrap();
    for name in [
        "edgesync_http_requests_total",
        "edgesync_http_request_duration_seconds_bucket",
        "edgesync_sync_rounds_total",
        "edgesync_sync_bytes_total",
        "edgesync_replication_lag_seconds",
        "edgesync_replication_docs_behind",
        "edgesync_storage_commits_total",
    ] {
        assert!(metrics.contains(name), "metrics lack {name}:\n{metrics}");
    }
    let status: serde_json::Value = reqwest::get(format!("{url}/v1/status")).await.unwrap().json().await.unwrap();
    assert_eq!(status["region"], "us");
    assert_eq!(status["peers"][0]["name"], "eu");
    assert!(status["peers"][0]["docs_behind"].is_u64());

    let preflight = reqwest::Client::new()
        .request(reqwest::Method::OPTIONS, format!("{url}/v1/sync"))
        .header("origin", "http://localhost:5173")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "authorization,content-type")
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success());
    assert_eq!(preflight.headers()["access-control-allow-origin"], "http://localhost:5173");
}
