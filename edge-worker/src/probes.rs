//! Background checks of every region (health and latency), sent with
//! `ctx.wait_until` after the response so they never delay a client. The
//! engine decides which are due: each region at most once per interval.

use crate::clock;
use crate::isolate::with_engine;
use crate::log;
use crate::upstream::{self, Outgoing};
use edge_routing::{FailureKind, Outcome, Probe};
use futures_util::future::{Either, join_all, select};
use std::pin::pin;
use worker::Context;

pub fn schedule(ctx: &Context) {
    let due = with_engine(|e| e.due_probes(clock::now())).unwrap_or_default();
    if !due.is_empty() {
        ctx.wait_until(async move {
            join_all(due.into_iter().map(run)).await;
            log::flush_health_events();
        });
    }
}

async fn run(probe: Probe) {
    let started = clock::now();
    let outcome = match send(&probe).await {
        Ok(status) => Outcome::Answered { status },
        Err(kind) => Outcome::Failed(kind),
    };
    let now = clock::now();
    with_engine(|e| e.record_probe(probe.region, outcome, now.since(started), now));
}

async fn send(probe: &Probe) -> Result<u16, FailureKind> {
    let headers = [("user-agent".to_owned(), "edgesync-edge-probe".to_owned())];
    let outgoing = Outgoing::new("GET", &headers, None).map_err(|_| FailureKind::Connect)?;
    let (handle, response) =
        upstream::start(&probe.url, &outgoing).map_err(|_| FailureKind::Connect)?;
    let deadline = pin!(clock::sleep_until(clock::now().plus(probe.timeout)));
    match select(pin!(response), deadline).await {
        Either::Left((Ok(response), _)) => {
            // The body is not needed.
            crate::proxy::release(&response);
            Ok(response.status())
        }
        Either::Left((Err(kind), _)) => Err(kind),
        Either::Right(_) => {
            handle.abort();
            Err(FailureKind::Timeout)
        }
    }
}
