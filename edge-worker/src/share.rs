//! Sharing what this isolate learned (latency estimates, ejections) with the
//! other isolates of the same data center through the Cache API, which is local
//! to a data center: a new isolate starts from its neighbours' knowledge
//! instead of blind. Global configuration stays in `wrangler.toml`.

use crate::clock;
use crate::isolate::{self, with_engine};
use edge_routing::snapshot::{MAX_SNAPSHOT_BYTES, Snapshot};
use worker::{Cache, Context, Headers, Response};

/// Cache key of the snapshot for one configuration (never a real host).
fn key(fingerprint: &str) -> String {
    format!("https://edge-state.edgesync.invalid/v1/{fingerprint}")
}

fn enabled() -> bool {
    with_engine(|e| e.config().share.enabled).unwrap_or(false)
}

/// On an isolate's first request, adopts the snapshot its neighbours left.
pub async fn load_once() {
    if !enabled() {
        return;
    }
    let key = isolate::with(|iso| {
        let first = !iso.share_loaded;
        iso.share_loaded = true;
        first.then(|| key(&iso.fingerprint))
    })
    .flatten();
    if let Some(key) = key {
        merge_from_cache(&key).await;
    }
}

/// Every `share.interval_ms`: merge the neighbours' snapshot, then publish ours.
pub fn schedule(ctx: &Context) {
    if !enabled() {
        return;
    }
    let now = clock::now();
    let Some(interval) = with_engine(|e| e.config().share.interval()) else {
        return;
    };
    let due = isolate::with(|iso| {
        let due = !iso.share_in_flight
            && iso
                .share_synced_at
                .is_none_or(|at| now.since(at) >= interval);
        if due {
            iso.share_in_flight = true;
            iso.share_synced_at = Some(now);
        }
        due.then(|| key(&iso.fingerprint))
    })
    .flatten();
    if let Some(key) = due {
        ctx.wait_until(async move {
            merge_from_cache(&key).await;
            publish(&key).await;
            isolate::with(|iso| iso.share_in_flight = false);
        });
    }
}

async fn merge_from_cache(key: &str) {
    let Ok(Some(mut cached)) = Cache::default().get(key, true).await else {
        return;
    };
    let Ok(text) = cached.text().await else {
        return;
    };
    if text.len() > MAX_SNAPSHOT_BYTES {
        return;
    }
    if let Ok(snapshot) = Snapshot::from_json(&text) {
        let now = clock::now();
        with_engine(|e| e.merge_snapshot(&snapshot, now));
    }
}

async fn publish(key: &str) {
    let Some(json) = with_engine(|e| e.snapshot(clock::now()).to_json()) else {
        return;
    };
    let headers = Headers::new();
    let _ = headers.set("content-type", "application/json");
    // Stale knowledge is worse than none: let the cache drop it soon.
    let _ = headers.set("cache-control", "max-age=60");
    let response = Response::builder()
        .with_headers(headers)
        .fixed(json.into_bytes());
    let _ = Cache::default().put(key, response).await;
}
