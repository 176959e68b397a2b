//! Bounded waits for an HTTP endpoint to come up.

use std::convert::Infallible;
use std::time::Duration;

use tokio::time::Instant;

/// How often a waiting caller probes the endpoint.
const PROBE_INTERVAL: Duration = Duration::from_millis(100);
/// Longest single probe, so one hung connection cannot eat the whole budget.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// Which answer means "up".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// A 2xx status.
    Success,
    /// Any HTTP answer at all: the server listens and speaks HTTP.
    AnyAnswer,
}

impl Expect {
    fn describe(self) -> &'static str {
        match self {
            Expect::Success => "a 2xx status",
            Expect::AnyAnswer => "any HTTP answer",
        }
    }
}

/// An endpoint that did not come up in time.
#[derive(Debug, thiserror::Error)]
#[error("{url} did not give {} within {waited:?}; last attempt: {last}", expect.describe())]
pub struct NotReady {
    pub url: String,
    pub expect: Expect,
    pub waited: Duration,
    pub last: String,
}

/// Why [`wait_for_http`] stopped early or timed out.
#[derive(Debug)]
pub(crate) enum WaitFailure<E> {
    /// `still_viable` said waiting is pointless (for example the process died).
    GaveUp(E),
    TimedOut(NotReady),
}

/// A client for probes and control calls on loopback: never uses a proxy
/// from the environment.
pub fn loopback_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap_or_else(|_| reqwest::Client::new())
}

/// Waits until GET `url` answers with a 2xx status, for at most `timeout`.
pub async fn wait_http_ok(url: &str, timeout: Duration) -> Result<(), NotReady> {
    match wait_for_http(url, timeout, Expect::Success, || Ok::<(), Infallible>(())).await {
        Ok(()) => Ok(()),
        Err(WaitFailure::TimedOut(not_ready)) => Err(not_ready),
        Err(WaitFailure::GaveUp(never)) => match never {},
    }
}

/// Probes GET `url` until it answers as `expect`s, `timeout` passes, or
/// `still_viable` returns an error (checked before every probe).
pub(crate) async fn wait_for_http<E>(
    url: &str,
    timeout: Duration,
    expect: Expect,
    mut still_viable: impl FnMut() -> Result<(), E>,
) -> Result<(), WaitFailure<E>> {
    let client = loopback_client();
    let started = Instant::now();
    let deadline = started + timeout;
    let mut last = String::from("no attempt made");
    loop {
        still_viable().map_err(WaitFailure::GaveUp)?;
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(WaitFailure::TimedOut(NotReady {
                url: url.to_owned(),
                expect,
                waited: started.elapsed(),
                last,
            }));
        }
        match client
            .get(url)
            .timeout(remaining.min(PROBE_TIMEOUT))
            .send()
            .await
        {
            Ok(response) if expect == Expect::AnyAnswer || response.status().is_success() => {
                return Ok(());
            }
            Ok(response) => last = format!("status {}", response.status()),
            Err(error) => last = error_chain(&error),
        }
        tokio::time::sleep(PROBE_INTERVAL.min(deadline.saturating_duration_since(Instant::now())))
            .await;
    }
}

/// An error with its causes, which reqwest keeps out of `Display`.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
