//! The edge: a thin workers-rs adapter around the `edge-routing` engine.
//!
//! Every decision (which region, how long to wait, whether to retry) is made by
//! the runtime-free engine; this crate only performs I/O for it: fetches with
//! abort signals, timers, `ctx.wait_until` for probes, and the Cache API for
//! sharing what the isolate learned. See `README.md` for the configuration.
//!
//! The request path works on the runtime's own `Request`/`Response` objects
//! (`web_sys`) rather than the `worker` crate's wrappers: fewer copies across
//! the JavaScript boundary per request.
#![cfg(target_arch = "wasm32")]

mod clock;
mod isolate;
mod log;
mod probes;
mod proxy;
mod reply;
mod request;
mod share;
mod upstream;

use edge_routing::Disposition;
use worker::{Context, Env, event};

#[event(fetch)]
pub async fn fetch(
    req: web_sys::Request,
    env: Env,
    ctx: Context,
) -> worker::Result<web_sys::Response> {
    // Every failure becomes a JSON answer; nothing escapes as a bare 500.
    Ok(handle(req, env, ctx)
        .await
        .unwrap_or_else(|e| reply::internal_error(&e)))
}

async fn handle(
    req: web_sys::Request,
    env: Env,
    ctx: Context,
) -> worker::Result<web_sys::Response> {
    let mode = isolate::refresh(&env, clock::now());
    let head = request::Head::read(&req, mode.dev, mode.wants_location)?;
    let disposition = match isolate::classify(&head) {
        Ok(disposition) => disposition,
        Err(failure) => return Ok(reply::refusal(&failure, &head.request_id)),
    };
    share::load_once().await;
    let response = match disposition {
        Disposition::EdgeStatus => Ok(reply::status()),
        Disposition::EdgeNotFound => Ok(reply::error(
            404,
            "not_found",
            "no such edge endpoint",
            &head.request_id,
        )),
        Disposition::Assets => reply::assets(&env, req).await,
        Disposition::Proxy(proxied) => proxy::forward(&req, &head, proxied, &ctx).await,
    };
    probes::schedule(&ctx);
    share::schedule(&ctx);
    log::flush_health_events();
    response
}
