//! A small closed-loop load generator: `concurrency` workers send requests back
//! to back, bounded by a request count and a duration, and every request is
//! recorded (when it started, how long it took, what came back) so a test can
//! look at any time window, such as the moments after a fault.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use reqwest::Method;
use tokio::task::JoinSet;

/// What to send, and when to stop.
#[derive(Clone, Debug)]
pub struct LoadSpec {
    pub url: String,
    pub method: Method,
    /// Sent with an `Idempotency-Key` header (unique per request) when true.
    pub idempotency_key: bool,
    pub body: Option<Vec<u8>>,
    pub concurrency: usize,
    pub max_requests: u64,
    pub max_duration: Duration,
    /// Per-request timeout of the client.
    pub timeout: Duration,
    /// Pause between two requests of one worker (0 = back to back).
    pub pause: Duration,
}

impl LoadSpec {
    pub fn get(url: impl Into<String>) -> Self {
        LoadSpec {
            url: url.into(),
            method: Method::GET,
            idempotency_key: false,
            body: None,
            concurrency: 4,
            max_requests: 1_000,
            max_duration: Duration::from_secs(10),
            timeout: Duration::from_secs(30),
            pause: Duration::ZERO,
        }
    }
}

/// One request as the client saw it.
#[derive(Clone, Debug)]
pub struct Sample {
    /// When it was sent, from the start of the load.
    pub at: Duration,
    pub latency: Duration,
    pub status: Option<u16>,
    /// Which region answered, from a response header (see [`Load::start`]).
    pub region: Option<String>,
    /// `x-edge-attempts` of answers that came through the edge.
    pub attempts: Option<u32>,
    /// Transport error or non-2xx status, for reports.
    pub error: Option<String>,
}

impl Sample {
    pub fn ok(&self) -> bool {
        self.error.is_none()
    }
}

/// Every sample of one load run, in completion order.
#[derive(Clone, Debug, Default)]
pub struct LoadReport {
    pub samples: Vec<Sample>,
    pub elapsed: Duration,
}

impl LoadReport {
    pub fn failures(&self) -> Vec<&Sample> {
        self.samples.iter().filter(|s| !s.ok()).collect()
    }

    /// Samples sent within `[from, to)` of the start.
    pub fn window(&self, from: Duration, to: Duration) -> Vec<&Sample> {
        self.samples
            .iter()
            .filter(|s| s.at >= from && s.at < to)
            .collect()
    }

    /// Requests per region (from the region header), over `samples`.
    pub fn regions<'a>(samples: impl IntoIterator<Item = &'a Sample>) -> BTreeMap<String, u64> {
        let mut out = BTreeMap::new();
        for s in samples {
            *out.entry(s.region.clone().unwrap_or_else(|| "-".into()))
                .or_insert(0) += 1;
        }
        out
    }

    /// Share of `samples` answered by `region`, 0 when empty.
    pub fn share<'a>(samples: impl IntoIterator<Item = &'a Sample>, region: &str) -> f64 {
        let (mut hit, mut total) = (0u64, 0u64);
        for s in samples {
            total += 1;
            hit += u64::from(s.region.as_deref() == Some(region));
        }
        if total == 0 {
            0.0
        } else {
            hit as f64 / total as f64
        }
    }

    pub fn throughput(&self) -> f64 {
        self.samples.len() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Latency percentile (`q` in 0..=1) in milliseconds, `NaN` when empty.
pub fn percentile_ms<'a>(samples: impl IntoIterator<Item = &'a Sample>, q: f64) -> f64 {
    let mut ms: Vec<f64> = samples
        .into_iter()
        .map(|s| s.latency.as_secs_f64() * 1000.0)
        .collect();
    if ms.is_empty() {
        return f64::NAN;
    }
    ms.sort_by(f64::total_cmp);
    let rank = ((q.clamp(0.0, 1.0) * (ms.len() - 1) as f64).round()) as usize;
    ms[rank]
}

/// A load running in the background.
pub struct Load {
    stop: Arc<AtomicBool>,
    started: Instant,
    tasks: JoinSet<Vec<Sample>>,
}

impl Load {
    /// Starts the load; `region_header` names the response header that says which region answered.
    pub fn start(client: reqwest::Client, spec: LoadSpec, region_header: &'static str) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicU64::new(0));
        let started = Instant::now();
        let spec = Arc::new(spec);
        let mut tasks = JoinSet::new();
        for worker in 0..spec.concurrency.max(1) {
            let (client, spec, stop, sent) = (
                client.clone(),
                Arc::clone(&spec),
                Arc::clone(&stop),
                Arc::clone(&sent),
            );
            tasks.spawn(async move {
                let mut samples = Vec::new();
                while !stop.load(Ordering::Relaxed) && started.elapsed() < spec.max_duration {
                    let n = sent.fetch_add(1, Ordering::Relaxed);
                    if n >= spec.max_requests {
                        break;
                    }
                    samples
                        .push(one_request(&client, &spec, started, worker, n, region_header).await);
                    if !spec.pause.is_zero() {
                        tokio::time::sleep(spec.pause).await;
                    }
                }
                samples
            });
        }
        Load {
            stop,
            started,
            tasks,
        }
    }

    /// Time since the load started (to place faults on the samples' time line).
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Stops sending now and collects every sample.
    pub async fn stop(self) -> LoadReport {
        self.stop.store(true, Ordering::Relaxed);
        self.finish().await
    }

    /// Waits for the load to reach its bounds and collects every sample.
    pub async fn finish(mut self) -> LoadReport {
        let mut samples = Vec::new();
        while let Some(joined) = self.tasks.join_next().await {
            if let Ok(mut part) = joined {
                samples.append(&mut part);
            }
        }
        samples.sort_by_key(|s| s.at);
        LoadReport {
            samples,
            elapsed: self.started.elapsed(),
        }
    }

    /// Runs the load to its bounds and returns the report.
    pub async fn run(
        client: reqwest::Client,
        spec: LoadSpec,
        region_header: &'static str,
    ) -> LoadReport {
        Load::start(client, spec, region_header).finish().await
    }
}

async fn one_request(
    client: &reqwest::Client,
    spec: &LoadSpec,
    started: Instant,
    worker: usize,
    n: u64,
    region_header: &str,
) -> Sample {
    let at = started.elapsed();
    let mut request = client
        .request(spec.method.clone(), &spec.url)
        .timeout(spec.timeout);
    if spec.idempotency_key {
        request = request.header("idempotency-key", format!("load-{worker}-{n}"));
    }
    if let Some(body) = &spec.body {
        request = request.body(body.clone());
    }
    let t0 = Instant::now();
    let result = request.send().await;
    let (status, region, attempts, error) = match result {
        Ok(response) => {
            let status = response.status().as_u16();
            let header = |name: &str| {
                response
                    .headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            };
            let region = header(region_header);
            let attempts = header("x-edge-attempts").and_then(|v| v.parse().ok());
            // Read the body so the latency covers the whole answer.
            let body = response.bytes().await;
            let error = match (status, body) {
                (200..=299, Ok(_)) => None,
                (_, Err(e)) => Some(format!("status {status}, body error: {e}")),
                (_, Ok(bytes)) => Some(format!(
                    "status {status}: {}",
                    String::from_utf8_lossy(&bytes[..bytes.len().min(300)])
                )),
            };
            (Some(status), region, attempts, error)
        }
        Err(e) => (None, None, None, Some(format!("transport error: {e}"))),
    };
    Sample {
        at,
        latency: t0.elapsed(),
        status,
        region,
        attempts,
        error,
    }
}
