//! Forwards a client request through the engine's exchange: starts tries,
//! waits for answers or timers, and hands the winner back to the client. Tries
//! that timed out and still run when the client is answered are watched in the
//! background (`ctx.wait_until`): their late answers tell a slow region from a
//! dead one.

use crate::clock;
use crate::isolate::with_engine;
use crate::log;
use crate::reply::{self, Provenance};
use crate::request::Head;
use crate::upstream::{self, InFlight, Outgoing};
use edge_routing::hygiene::{self, ForwardContext};
use edge_routing::{
    AttemptId, Exchange, ExchangeError, FailureKind, Linger, Method, ProxyRequest, Step,
};
use futures_util::future::{Either, select};
use futures_util::stream::{FuturesUnordered, StreamExt};
use std::pin::pin;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use worker::Context;

/// A try's response headers, or why it failed.
type TryResult = Result<web_sys::Response, FailureKind>;

pub async fn forward(
    req: &web_sys::Request,
    head: &Head,
    proxied: ProxyRequest,
    ctx: &Context,
) -> worker::Result<web_sys::Response> {
    let Some(max_body) = with_engine(|e| e.config().max_body_bytes) else {
        return Ok(reply::error(
            503,
            "invalid_config",
            "EDGE_CONFIG is not usable",
            &head.request_id,
        ));
    };
    // The body stays a runtime buffer: each attempt's request copies it there.
    let body: Option<js_sys::ArrayBuffer> = match proxied.method {
        Method::Get | Method::Head => None,
        _ => Some(JsFuture::from(req.array_buffer()?).await?.dyn_into()?),
    };
    if body
        .as_ref()
        .is_some_and(|b| f64::from(b.byte_length()) > max_body as f64)
    {
        let message = format!("request body exceeds the edge's limit of {max_body} bytes");
        return Ok(reply::error(
            413,
            "body_too_large",
            message,
            &head.request_id,
        ));
    }
    let context = ForwardContext {
        client_ip: head.client_ip.as_deref(),
        host: &head.host,
        proto: &head.proto,
        request_id: &head.request_id,
    };
    let forward_headers = hygiene::upstream_request_headers(
        head.headers.iter().map(|(n, v)| (n.as_str(), v.as_str())),
        &context,
    );
    let outgoing = Outgoing::new(
        proxied.method.as_str(),
        &forward_headers,
        body.filter(|b| b.byte_length() > 0),
    )
    .map_err(|e| worker::Error::RustError(upstream::error_message(&e)))?;

    let begun = with_engine(|e| e.begin(&proxied, clock::now(), clock::random()));
    let mut exchange = match begun {
        Some(Ok(exchange)) => exchange,
        Some(Err(e)) => {
            return Ok(reply::error(
                400,
                "no_resident_region",
                e.to_string(),
                &head.request_id,
            ));
        }
        None => {
            return Ok(reply::error(
                503,
                "invalid_config",
                "EDGE_CONFIG is not usable",
                &head.request_id,
            ));
        }
    };
    run(&mut exchange, head, &proxied, &outgoing, ctx).await
}

async fn run(
    exchange: &mut Exchange,
    head: &Head,
    proxied: &ProxyRequest,
    outgoing: &Outgoing,
    ctx: &Context,
) -> worker::Result<web_sys::Response> {
    let mut pending = FuturesUnordered::new();
    let mut handles: Vec<Option<InFlight>> = Vec::new();
    let mut answers: Vec<Option<web_sys::Response>> = Vec::new();
    loop {
        let step = with_engine(|e| exchange.poll(e, clock::now())).unwrap_or(Step::Fail {
            error: ExchangeError::DeadlineExceeded,
            abort: Vec::new(),
        });
        match step {
            Step::Start(start) => {
                if let Some(previous) = start.previous {
                    log::failover(head, exchange, previous, start.region, &start.cause);
                }
                let Some(Ok(url)) = with_engine(|e| {
                    e.config()
                        .region(start.region)
                        .origin
                        .url_for(&head.path_and_query)
                }) else {
                    abort(&handles, &(0..handles.len()).collect::<Vec<_>>());
                    return Ok(reply::error(
                        400,
                        "bad_target",
                        "the request target cannot be forwarded",
                        &head.request_id,
                    ));
                };
                debug_assert_eq!(start.id, handles.len());
                answers.push(None);
                match upstream::start(&url, outgoing) {
                    Ok((handle, response)) => {
                        handles.push(Some(handle));
                        let id = start.id;
                        pending.push(async move { (id, response.await) });
                    }
                    Err(e) => {
                        log::internal_error(&upstream::error_message(&e));
                        handles.push(None);
                        with_engine(|en| {
                            exchange.on_failure(en, start.id, FailureKind::Connect, clock::now())
                        });
                    }
                }
            }
            Step::Wait { until } => {
                if pending.is_empty() {
                    clock::sleep_until(until).await;
                    continue;
                }
                let timer = pin!(clock::sleep_until(until));
                if let Either::Left((Some((id, result)), _)) = select(pending.next(), timer).await {
                    record(exchange, &mut answers, id, result);
                }
            }
            Step::Deliver {
                attempt,
                abort: losers,
            } => {
                abort(&handles, &losers);
                watch_lingering(exchange, pending, handles, ctx);
                let Some(answer) = answers.get_mut(attempt).and_then(Option::take) else {
                    return Ok(reply::exchange_error(
                        ExchangeError::DeadlineExceeded,
                        &head.request_id,
                        exchange.attempts_started(),
                    ));
                };
                return deliver(exchange, head, proxied, attempt, answer);
            }
            Step::Fail {
                error,
                abort: losers,
            } => {
                abort(&handles, &losers);
                watch_lingering(exchange, pending, handles, ctx);
                log::request_failed(head, exchange, error);
                return Ok(reply::exchange_error(
                    error,
                    &head.request_id,
                    exchange.attempts_started(),
                ));
            }
        }
    }
}

/// Keeps waiting, after the client got its answer, for the tries that timed
/// out (each until its own bound), and reports their late answers.
fn watch_lingering(
    exchange: &Exchange,
    pending: FuturesUnordered<impl Future<Output = (AttemptId, TryResult)> + 'static>,
    handles: Vec<Option<InFlight>>,
    ctx: &Context,
) {
    let lingering = with_engine(|e| exchange.lingering(e)).unwrap_or_default();
    if lingering.is_empty() {
        return;
    }
    ctx.wait_until(late_answers(pending, handles, lingering));
}

async fn late_answers(
    mut pending: FuturesUnordered<impl Future<Output = (AttemptId, TryResult)>>,
    handles: Vec<Option<InFlight>>,
    mut waiting: Vec<Linger>,
) {
    while let Some(next_bound) = waiting.iter().map(|l| l.until).min() {
        let timer = pin!(clock::sleep_until(next_bound));
        match select(pending.next(), timer).await {
            Either::Left((Some((id, result)), _)) => {
                let Some(pos) = waiting.iter().position(|l| l.attempt == id) else {
                    continue;
                };
                let linger = waiting.swap_remove(pos);
                if let Ok(response) = result {
                    release(&response);
                    if !upstream::is_platform_connect_error(&response) {
                        let now = clock::now();
                        with_engine(|e| {
                            e.record_late_answer(
                                linger.region,
                                response.status(),
                                linger.started,
                                linger.observe_latency,
                                now,
                            )
                        });
                    }
                }
            }
            Either::Left((None, _)) => break,
            Either::Right(_) => {
                let now = clock::now();
                waiting.retain(|l| {
                    let keep = l.until > now;
                    if !keep {
                        abort(&handles, &[l.attempt]);
                    }
                    keep
                });
            }
        }
    }
    log::flush_health_events();
}

/// Lets go of an answer nobody will read, so its connection is freed.
pub fn release(response: &web_sys::Response) {
    if let Some(body) = response.body() {
        let _ = body.cancel();
    }
}

fn record(
    exchange: &mut Exchange,
    answers: &mut [Option<web_sys::Response>],
    id: AttemptId,
    result: TryResult,
) {
    let now = clock::now();
    match result {
        Ok(response) if upstream::is_platform_connect_error(&response) => {
            with_engine(|e| exchange.on_failure(e, id, FailureKind::Connect, now));
        }
        Ok(response) => {
            let status = response.status();
            if let Some(slot) = answers.get_mut(id) {
                *slot = Some(response);
            }
            with_engine(|e| exchange.on_response(e, id, status, now));
        }
        Err(kind) => {
            with_engine(|e| exchange.on_failure(e, id, kind, now));
        }
    }
}

fn abort(handles: &[Option<InFlight>], ids: &[AttemptId]) {
    for handle in ids
        .iter()
        .filter_map(|&id| handles.get(id).and_then(Option::as_ref))
    {
        handle.abort();
    }
}

fn deliver(
    exchange: &Exchange,
    head: &Head,
    proxied: &ProxyRequest,
    attempt: AttemptId,
    answer: web_sys::Response,
) -> worker::Result<web_sys::Response> {
    let now = clock::now();
    let Some(region) = exchange.region_of(attempt) else {
        return Ok(reply::exchange_error(
            ExchangeError::DeadlineExceeded,
            &head.request_id,
            exchange.attempts_started(),
        ));
    };
    let (name, server_timing, set_cookie) = with_engine(|e| {
        let config = e.config();
        let name = config.region(region).id.clone();
        let upstream_timing = answer.headers().get("server-timing").ok().flatten();
        let timing = edge_routing::reply::server_timing(
            exchange.elapsed(now),
            exchange.attempt_elapsed(attempt, now).map(|d| (&name, d)),
            exchange.attempts_started(),
            upstream_timing.as_deref(),
        );
        let cookie = config
            .affinity
            .as_ref()
            .filter(|_| proxied.affinity != Some(region))
            .map(|a| edge_routing::reply::affinity_cookie(a, &name, head.proto == "https"));
        (name.to_string(), timing, cookie)
    })
    .unwrap_or_default();
    reply::proxied(
        &answer,
        &Provenance {
            region: &name,
            attempts: exchange.attempts_started(),
            server_timing,
            request_id: &head.request_id,
            set_cookie,
        },
    )
}
