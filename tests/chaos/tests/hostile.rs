//! Hostile requests, table-driven, against the real edge in workerd and a real
//! region server (each row is sent both ways unless it only makes sense for
//! one): oversized bodies, truncated and garbage sync messages, wrong content
//! types, path traversal in document ids, spoofed internal headers, attempts
//! to make the edge fetch another host, bad tokens (expired, forged, wrong
//! algorithm, `alg: none`) and a token for one document used on another.
//!
//! Every row must get its 4xx (or, for a batch, its per-document error), a
//! canary server standing in for "another host" must never be contacted, and
//! afterwards no region may have stored anything — checked against a positive
//! control: one legitimate write at the end that every region then holds.
//!
//! Run by scripts/test.d/60-reliability.sh (`cargo test -p chaos --test hostile`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use automerge::transaction::Transactable;
use automerge::{Automerge, ROOT};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chaos::raw_http::{RawResponse, send};
use chaos::sync_client::{Endpoint, LocalDoc, dev_token, sync_until_quiet};
use chaos::world::{RunWorld, default_artifacts};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use local_world::loopback_client;
use serde_json::json;
use sync_protocol::http::{CONTENT_TYPE_BATCH, CONTENT_TYPE_SYNC_MESSAGE};
use sync_protocol::{ClientSync, DocId, DocMessage, RoundAccess, SyncBatchRequest, serve_round};

/// The documented development secret (`region-server --dev`).
const DEV_SECRET: &[u8] = b"edgesync-dev-secret";
const DOC_A: &str = "hostile-a";
const DOC_B: &str = "hostile-b";
/// The edge's and the regions' default body limit (16 MiB).
const LIMIT: usize = 16 * 1024 * 1024;
const TIMEOUT: Duration = Duration::from_secs(30);

/// Where a row is sent.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Via {
    Edge,
    Both,
}

/// What counts as the right answer.
#[derive(Clone, Debug)]
enum Expect {
    /// One of these statuses; with a JSON error body, this code (when given).
    Status(&'static [u16], Option<&'static str>),
    /// 200 with this error code in the batch's only entry.
    EntryError(&'static str),
    /// Refused by the runtime before the worker runs: workerd (under `wrangler
    /// dev`) answers 500 for absolute-form targets ("invalid URL") and CONNECT
    /// ("Incoming CONNECT on a worker not supported"); Cloudflare's front end
    /// refuses them in production. Proven refused rather than served: no
    /// `x-edge-*` header, and the canary is never contacted.
    RuntimeRefusal,
}

struct Case {
    name: &'static str,
    via: Via,
    /// Request line and headers; `{token}` and `{canary}` are filled in.
    head: String,
    body: Vec<u8>,
    expect: Expect,
}

fn case(name: &'static str, via: Via, head: &str, body: Vec<u8>, expect: Expect) -> Case {
    Case { name, via, head: head.to_owned(), body, expect }
}

fn status(codes: &'static [u16], code: &'static str) -> Expect {
    Expect::Status(codes, Some(code))
}

/// A sync message for `doc` that carries a real change: what a client sends
/// in its second round. If any row stored it, a region would hold `doc`.
fn message_with_change(doc: &str) -> Vec<u8> {
    let mut client = Automerge::new();
    let mut tx = client.transaction();
    tx.put(ROOT, "hostile", doc).expect("put");
    tx.commit();
    let mut sync = ClientSync::new();
    let first = sync.next_request(&mut client).expect("first message");
    let mut server = Automerge::new();
    let round = serve_round(&mut server, first, RoundAccess::ReadWrite).expect("round");
    sync.receive_reply(&mut client, round.reply).expect("reply");
    let second = sync.next_request(&mut client).expect("second message");
    let check = serve_round(&mut Automerge::new(), second.clone(), RoundAccess::ReadWrite).expect("check");
    assert!(!check.applied.is_empty(), "the message must carry a change");
    second.encode()
}

fn batch(doc: &str, message: Vec<u8>) -> Vec<u8> {
    SyncBatchRequest { entries: vec![DocMessage { doc: DocId::parse(doc).expect("id"), message }] }.encode()
}

fn now_s() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

fn claims(exp: u64) -> serde_json::Value {
    json!({ "sub": "mallory", "exp": exp, "read": [DOC_A, DOC_B], "write": [DOC_A, DOC_B] })
}

fn sign(alg: Algorithm, secret: &[u8], claims: &serde_json::Value) -> String {
    jsonwebtoken::encode(&Header::new(alg), claims, &EncodingKey::from_secret(secret)).expect("sign")
}

/// A token whose header says `alg` but carries `signature` as given.
fn unsigned(alg: &str, claims: &serde_json::Value, signature: &str) -> String {
    let header = URL_SAFE_NO_PAD.encode(json!({ "alg": alg, "typ": "JWT" }).to_string());
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    format!("{header}.{payload}.{signature}")
}

fn post(path: &str, content_type: &str, token: &str, length: usize) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: {{host}}\r\nAuthorization: Bearer {token}\r\nContent-Type: {content_type}\r\nContent-Length: {length}\r\nIdempotency-Key: hostile-{}\r\n",
        rand::random::<u32>()
    )
}

fn table(token_a: &str) -> Vec<Case> {
    use Via::*;
    let change_a = message_with_change(DOC_A);
    let change_b = message_with_change(DOC_B);
    let batch_a = batch(DOC_A, change_a.clone());
    let single_a = format!("/v1/docs/{DOC_A}/sync");
    let sync = |token: &str| post(&single_a, CONTENT_TYPE_SYNC_MESSAGE, token, change_a.len());
    let batch_post = |body: &[u8], content_type: &str| post("/v1/sync", content_type, token_a, body.len());
    let unauthenticated = status(&[401], "unauthenticated");
    let far = now_s() + 3600;

    let mut garbage = vec![0u8; 64];
    rand::fill(&mut garbage[..]);
    let mut future_version = batch_a.clone();
    future_version[4] = 2;
    let truncated = batch_a[..batch_a.len() / 2].to_vec();
    let oversized = vec![b'E'; LIMIT + 1];
    let traversal_in_batch = {
        // A valid envelope but for the id: `..%2F..%2Fetc` cannot be a DocId, so it is written by hand.
        let mut b = b"EDGS\x01\x01\x01".to_vec();
        let id = b"../../etc/passwd";
        b.push(id.len() as u8);
        b.extend_from_slice(id);
        b.push(0);
        b.extend_from_slice(&uleb128(change_a.len()));
        b.extend_from_slice(&change_a);
        b
    };
    let long_id = "a".repeat(129);

    vec![
        // Sizes.
        case("body one byte over the limit", Both, &batch_post(&oversized, CONTENT_TYPE_BATCH), oversized.clone(), status(&[413], "body_too_large")),
        case(
            "chunked body over the limit (no length given)",
            Both,
            &format!("POST /v1/sync HTTP/1.1\r\nHost: {{host}}\r\nAuthorization: Bearer {token_a}\r\nContent-Type: {CONTENT_TYPE_BATCH}\r\nTransfer-Encoding: chunked\r\n"),
            chunked(&oversized),
            status(&[413], "body_too_large"),
        ),
        // Malformed sync messages (with a valid token: only the format stops them).
        case("truncated batch", Both, &batch_post(&truncated, CONTENT_TYPE_BATCH), truncated.clone(), status(&[400], "malformed_message")),
        case("garbage batch", Both, &batch_post(&garbage, CONTENT_TYPE_BATCH), garbage.clone(), status(&[400], "malformed_message")),
        case("batch of a future protocol version", Both, &batch_post(&future_version, CONTENT_TYPE_BATCH), future_version.clone(), status(&[400], "unsupported_version")),
        case("empty body", Both, &batch_post(&[], CONTENT_TYPE_BATCH), Vec::new(), status(&[400], "malformed_message")),
        case(
            "garbage automerge message",
            Both,
            &post(&single_a, CONTENT_TYPE_SYNC_MESSAGE, token_a, garbage.len()),
            garbage.clone(),
            status(&[400], "malformed_message"),
        ),
        case(
            "truncated automerge message in a valid batch",
            Both,
            &batch_post(&batch(DOC_A, change_a[..change_a.len() / 2].to_vec()), CONTENT_TYPE_BATCH),
            batch(DOC_A, change_a[..change_a.len() / 2].to_vec()),
            Expect::EntryError("malformed_message"),
        ),
        case("watch request that is not JSON", Both, &post("/v1/watch", "application/json", token_a, garbage.len()), garbage.clone(), status(&[400], "malformed_message")),
        // Content types: a valid, authorised write labelled as something else.
        case("batch sent as text/plain", Both, &batch_post(&batch_a, "text/plain"), batch_a.clone(), status(&[415], "unsupported_media_type")),
        case("batch sent as JSON", Both, &batch_post(&batch_a, "application/json"), batch_a.clone(), status(&[415], "unsupported_media_type")),
        case(
            "batch without a content type",
            Both,
            &format!("POST /v1/sync HTTP/1.1\r\nHost: {{host}}\r\nAuthorization: Bearer {token_a}\r\nContent-Length: {}\r\n", batch_a.len()),
            batch_a.clone(),
            status(&[415], "unsupported_media_type"),
        ),
        case("single-document message sent as a batch type", Both, &post(&single_a, CONTENT_TYPE_BATCH, token_a, change_a.len()), change_a.clone(), status(&[415], "unsupported_media_type")),
        // Path traversal in document ids.
        case("encoded ../ in a document id", Both, &post("/v1/docs/..%2F..%2Fetc%2Fpasswd/sync", CONTENT_TYPE_SYNC_MESSAGE, token_a, change_a.len()), change_a.clone(), status(&[400], "invalid_doc_id")),
        // The edge's runtime normalises `%2e%2e` as a dot segment (WHATWG URL), so
        // through the edge this reaches /v1/sync, which refuses the content type.
        case("encoded .. as the document id", Both, &post("/v1/docs/%2e%2e/sync", CONTENT_TYPE_SYNC_MESSAGE, token_a, change_a.len()), change_a.clone(), Expect::Status(&[400, 404, 415], None)),
        case("raw ../ segments", Both, &post("/v1/docs/../../../etc/passwd/sync", CONTENT_TYPE_SYNC_MESSAGE, token_a, change_a.len()), change_a.clone(), Expect::Status(&[400, 404, 405], None)),
        case("NUL in a document id", Both, &post("/v1/docs/a%00b/sync", CONTENT_TYPE_SYNC_MESSAGE, token_a, change_a.len()), change_a.clone(), status(&[400], "invalid_doc_id")),
        case("document id over 128 bytes", Both, &post(&format!("/v1/docs/{long_id}/sync"), CONTENT_TYPE_SYNC_MESSAGE, token_a, change_a.len()), change_a.clone(), status(&[400], "invalid_doc_id")),
        case("../ as a document id inside a batch", Both, &batch_post(&traversal_in_batch, CONTENT_TYPE_BATCH), traversal_in_batch.clone(), status(&[400], "malformed_message")),
        // Spoofed internal headers: a client dressing up as the edge or a region.
        case(
            "client token on the replication endpoint, with edge and region headers",
            Both,
            &format!(
                "{}X-Edge-Region: us-east\r\nX-Edge-Request-Id: spoofed\r\nX-Edgesync-Region: eu-west\r\nX-Forwarded-For: 10.0.0.1\r\nForwarded: for=10.0.0.1\r\nCF-Connecting-IP: 10.0.0.1\r\n",
                post("/v1/replicate", CONTENT_TYPE_BATCH, token_a, batch_a.len())
            ),
            batch_a.clone(),
            // PROTOCOL.md: a token of the wrong kind is `unauthenticated`.
            status(&[401], "unauthenticated"),
        ),
        case(
            "no token, with edge and region headers",
            Both,
            &format!(
                "POST /v1/sync HTTP/1.1\r\nHost: {{host}}\r\nContent-Type: {CONTENT_TYPE_BATCH}\r\nContent-Length: {}\r\nX-Edge-Region: us-east\r\nX-Edge-Attempts: 1\r\nX-Edgesync-Region: us-east\r\n",
                batch_a.len()
            ),
            batch_a.clone(),
            unauthenticated.clone(),
        ),
        // Making the edge fetch a host that is not a region (the canary).
        case("absolute-form target naming another host", Edge, &format!("POST http://{{canary}}/v1/sync HTTP/1.1\r\nHost: {{canary}}\r\nContent-Type: {CONTENT_TYPE_BATCH}\r\nContent-Length: {}\r\n", batch_a.len()), batch_a.clone(), Expect::RuntimeRefusal),
        case("Host header naming another host", Edge, &format!("POST /v1/sync HTTP/1.1\r\nHost: {{canary}}\r\nContent-Type: {CONTENT_TYPE_BATCH}\r\nContent-Length: {}\r\n", batch_a.len()), batch_a.clone(), unauthenticated.clone()),
        case("X-Forwarded-Host naming another host", Edge, &format!("POST /v1/sync HTTP/1.1\r\nHost: {{host}}\r\nX-Forwarded-Host: {{canary}}\r\nContent-Type: {CONTENT_TYPE_BATCH}\r\nContent-Length: {}\r\n", batch_a.len()), batch_a.clone(), unauthenticated.clone()),
        case("//host path under /v1", Edge, &format!("POST /v1//{{canary}}/sync HTTP/1.1\r\nHost: {{host}}\r\nContent-Type: {CONTENT_TYPE_BATCH}\r\nContent-Length: {}\r\n", batch_a.len()), batch_a.clone(), Expect::Status(&[400, 401, 404], None)),
        case("//host path", Edge, &format!("POST //{{canary}}/v1/sync HTTP/1.1\r\nHost: {{host}}\r\nContent-Type: {CONTENT_TYPE_BATCH}\r\nContent-Length: {}\r\n", batch_a.len()), batch_a.clone(), Expect::Status(&[400, 404, 405], None)),
        case("userinfo@host path", Edge, &format!("POST /v1/@{{canary}}/sync HTTP/1.1\r\nHost: {{host}}\r\nContent-Type: {CONTENT_TYPE_BATCH}\r\nContent-Length: {}\r\n", batch_a.len()), batch_a.clone(), Expect::Status(&[400, 401, 404], None)),
        case("CONNECT to another host", Edge, "CONNECT {canary} HTTP/1.1\r\nHost: {canary}\r\n", Vec::new(), Expect::RuntimeRefusal),
        // Tokens.
        case("no token", Both, &sync("").replace("Authorization: Bearer \r\n", ""), change_a.clone(), unauthenticated.clone()),
        case("garbage token", Both, &sync("not.a.token"), change_a.clone(), unauthenticated.clone()),
        case("expired token", Both, &sync(&sign(Algorithm::HS256, DEV_SECRET, &claims(now_s() - 3600))), change_a.clone(), unauthenticated.clone()),
        case("token signed with another secret", Both, &sync(&sign(Algorithm::HS256, b"not-the-secret", &claims(far))), change_a.clone(), unauthenticated.clone()),
        case("token of another algorithm (HS512, right secret)", Both, &sync(&sign(Algorithm::HS512, DEV_SECRET, &claims(far))), change_a.clone(), unauthenticated.clone()),
        case("alg: none, no signature", Both, &sync(&unsigned("none", &claims(far), "")), change_a.clone(), unauthenticated.clone()),
        case("alg: none with a signature", Both, &sync(&unsigned("none", &claims(far), "c2lnbmF0dXJl")), change_a.clone(), unauthenticated.clone()),
        case("RS256 header over an HMAC signature", Both, &sync(&{
            let hs = sign(Algorithm::HS256, DEV_SECRET, &claims(far));
            unsigned("RS256", &claims(far), hs.rsplit('.').next().unwrap_or_default())
        }), change_a.clone(), unauthenticated.clone()),
        case("token without exp", Both, &sync(&sign(Algorithm::HS256, DEV_SECRET, &json!({"sub": "mallory", "write": ["*"]}))), change_a.clone(), unauthenticated.clone()),
        case(
            "token for document A used on document B",
            Both,
            &post(&format!("/v1/docs/{DOC_B}/sync"), CONTENT_TYPE_SYNC_MESSAGE, token_a, change_b.len()),
            change_b.clone(),
            status(&[403], "forbidden"),
        ),
        case("token for document A used on B in a batch", Both, &batch_post(&batch(DOC_B, change_b.clone()), CONTENT_TYPE_BATCH), batch(DOC_B, change_b.clone()), Expect::EntryError("forbidden")),
        case(
            "token for document A watching document B",
            Both,
            &post("/v1/watch", "application/json", token_a, watch_b().len()),
            watch_b(),
            status(&[403], "forbidden"),
        ),
    ]
}

fn uleb128(mut n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return out;
        }
        out.push(byte | 0x80);
    }
}

fn watch_b() -> Vec<u8> {
    json!({ "docs": { DOC_B: [] }, "wait_ms": 1 }).to_string().into_bytes()
}

fn chunked(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 1024);
    for chunk in body.chunks(1 << 20) {
        out.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        out.extend_from_slice(chunk);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

/// A TCP server that only counts who connects: "another host".
async fn canary() -> (SocketAddr, Arc<AtomicU64>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("canary");
    let addr = listener.local_addr().expect("canary addr");
    let hits = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&hits);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::Relaxed);
            drop(stream);
        }
    });
    (addr, hits)
}

fn judge(expect: &Expect, answer: &RawResponse) -> Result<(), String> {
    let code = answer.error_code();
    let ok = match expect {
        Expect::Status(statuses, wanted) => {
            statuses.contains(&answer.status) && wanted.is_none_or(|w| code.as_deref() == Some(w))
        }
        Expect::RuntimeRefusal => {
            (answer.status == 500 || (400..500).contains(&answer.status))
                && answer.headers.iter().all(|(name, _)| !name.starts_with("x-edge-"))
        }
        Expect::EntryError(wanted) => {
            answer.status == 200
                && sync_protocol::SyncBatchResponse::decode(&answer.body).is_ok_and(|r| {
                    r.entries.len() == 1 && r.entries[0].outcome.as_ref().is_err_and(|e| e.code.as_str() == *wanted)
                })
        }
    };
    if ok {
        Ok(())
    } else {
        let body = answer.body_text();
        Err(format!("expected {expect:?}, got {} {}", answer.status, &body[..body.len().min(200)]))
    }
}

async fn storage(http: &reqwest::Client, region_url: &str) -> serde_json::Value {
    let status: serde_json::Value =
        http.get(format!("{region_url}/v1/status")).send().await.expect("status").json().await.expect("status json");
    status["storage"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_requests_get_the_right_4xx_and_store_nothing() {
    let started = Instant::now();
    let progress = move |line: &str| eprintln!("[{:6.1}s] {line}", started.elapsed().as_secs_f64());
    let run_world = RunWorld::start(&default_artifacts("hostile"), "hostile", None, &progress).await.expect("world");
    let world = Arc::clone(&run_world.world);
    let http = loopback_client();
    let regions: Vec<(String, String)> =
        world.region_ids().into_iter().map(|id| (world.region_url(&id).expect("url"), id)).map(|(u, id)| (id, u)).collect();
    let token_a = dev_token(&http, &regions[0].1, "alice", &[DOC_A], &[DOC_A], Duration::from_secs(3600)).await.expect("token");
    let (canary_addr, canary_hits) = canary().await;
    let edge_url = run_world.edge_url().expect("edge");
    let edge_addr: SocketAddr = edge_url.trim_start_matches("http://").parse().expect("edge addr");
    let region_addr: SocketAddr = regions[0].1.trim_start_matches("http://").parse().expect("region addr");
    let region_names: Vec<&str> = regions.iter().map(|(id, _)| id.as_str()).collect();

    let mut failures = Vec::new();
    let mut rows = 0;
    // Requests the runtime itself refuses go last: under wrangler dev, workerd's
    // uncaught exception for them restarts the worker, and a request in flight
    // meanwhile would get wrangler's 503 "worker restarted mid-request".
    let mut cases = table(&token_a);
    cases.sort_by_key(|c| matches!(c.expect, Expect::RuntimeRefusal));
    for case in cases {
        let targets: &[(&str, SocketAddr)] = match case.via {
            Via::Edge => &[("edge", edge_addr)],
            Via::Both => &[("edge", edge_addr), ("region", region_addr)],
        };
        for (via, addr) in targets {
            rows += 1;
            let sent_at = Instant::now();
            let head = case.head.replace("{host}", &addr.to_string()).replace("{canary}", &canary_addr.to_string());
            let verdict = match send(*addr, &head, &case.body, TIMEOUT).await {
                Ok(answer) => judge(&case.expect, &answer).and_then(|()| {
                    // Whatever the edge answers names a configured region or none: never a spoofed one.
                    match answer.header("x-edge-region") {
                        Some(r) if !region_names.contains(&r) => Err(format!("answered as region {r:?}")),
                        _ => Ok(answer.status),
                    }
                }),
                Err(e) => Err(e.to_string()),
            };
            match verdict {
                Ok(status) => eprintln!("  ok   {via:<6} {status} {:>6} ms  {}", sent_at.elapsed().as_millis(), case.name),
                Err(why) => {
                    eprintln!("  FAIL {via:<6} {:>6} ms  {}: {why}", sent_at.elapsed().as_millis(), case.name);
                    failures.push(format!("{} via {via}: {why}", case.name));
                }
            }
        }
    }
    eprintln!("{rows} hostile requests, {} failed", failures.len());

    // Nothing reached the canary, and no region stored anything.
    let hits = canary_hits.load(Ordering::Relaxed);
    if hits > 0 {
        failures.push(format!("the canary host was contacted {hits} times"));
    }
    for (id, url) in &regions {
        let stored = storage(&http, url).await;
        if stored["documents"] != 0 || stored["change_rows"] != 0 {
            failures.push(format!("{id} stored something: {stored}"));
        }
    }

    // Positive control: the same write, done right, is stored and replicated
    // (once the edge answers again after the runtime's refusals).
    local_world::wait_http_ok(&format!("{edge_url}/_edge/status"), TIMEOUT).await.expect("the edge answers again");
    let endpoint = Endpoint { http: http.clone(), base: edge_url.clone(), token: token_a.clone(), timeout: TIMEOUT };
    let mut docs = vec![LocalDoc::new(DocId::parse(DOC_A).expect("id"), automerge::ActorId::random())];
    let mut tx = docs[0].doc.transaction();
    tx.put(ROOT, "legit", 1).expect("put");
    tx.commit();
    let mut attempt = 0;
    while let Err(e) = sync_until_quiet(&endpoint, &mut docs, false, 8, &format!("hostile-control-{attempt}")).await {
        attempt += 1;
        assert!(attempt < 20, "a legitimate write does not go through: {e}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(docs[0].unacknowledged().is_empty(), "the legitimate write was acknowledged");
    let deadline = Instant::now() + Duration::from_secs(60);
    for (id, url) in &regions {
        loop {
            let stored = storage(&http, url).await;
            if stored["documents"] == 1 {
                break;
            }
            assert!(Instant::now() < deadline, "{id} never received the legitimate write: {stored}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    run_world.stop(!failures.is_empty()).await.expect("stop");
    assert!(failures.is_empty(), "{} of {rows} hostile requests misbehaved:\n{}", failures.len(), failures.join("\n"));
}
