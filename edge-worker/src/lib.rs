//! The edge: a thin workers-rs adapter around the `edge-routing` engine.
//!
//! Every decision (which region, how long to wait, whether to retry) is made by
//! the runtime-free engine; this crate only performs I/O for it: fetches with
//! abort signals, timers, `ctx.wait_until` for probes, and the Cache API for
//! sharing what the isolate learned. See `README.md` for the configuration.
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

use worker::{Context, Env, Request, Response, event};

#[event(fetch)]
pub async fn fetch(req: Request, env: Env, ctx: Context) -> worker::Result<Response> {
    // Every failure becomes a JSON answer; nothing escapes as a bare 500.
    Ok(handle(req, env, ctx)
        .await
        .unwrap_or_else(|e| reply::internal_error(&e)))
}

async fn handle(req: Request, env: Env, ctx: Context) -> worker::Result<Response> {
    let settings = isolate::Settings::from_env(&env);
    isolate::ensure_config(&settings.config_text, clock::now());
    let head = request::Head::read(&req, settings.dev)?;
    let disposition = match isolate::classify(&head) {
        Ok(disposition) => disposition,
        Err(failure) => return reply::refusal(&failure, &head.request_id),
    };
    share::load_once().await;
    let response = match disposition {
        edge_routing::Disposition::EdgeStatus => reply::status(),
        edge_routing::Disposition::EdgeNotFound => {
            reply::error(404, "not_found", "no such edge endpoint", &head.request_id)
        }
        edge_routing::Disposition::Assets => reply::assets(&env, req).await,
        edge_routing::Disposition::Proxy(proxied) => proxy::forward(req, &head, proxied).await,
    };
    probes::schedule(&ctx);
    share::schedule(&ctx);
    log::flush_health_events();
    response
}
