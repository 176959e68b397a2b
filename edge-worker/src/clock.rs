//! The Worker's clock. It only advances across I/O (Cloudflare's Spectre
//! mitigation), so every duration is read around an await: before a fetch
//! starts and after it resolves.

use edge_routing::Time;
use std::time::Duration;

pub fn now() -> Time {
    let ms = js_sys::Date::now();
    Time::from_millis(if ms.is_finite() && ms > 0.0 {
        ms as u64
    } else {
        0
    })
}

/// Sleeps until `until` (returns at once if it has passed).
pub async fn sleep_until(until: Time) {
    let wait = until.since(now());
    if !wait.is_zero() {
        worker::Delay::from(wait.max(Duration::from_millis(1))).await;
    }
}

/// A uniform draw in [0, 1) for the weighted policy.
pub fn random() -> f64 {
    js_sys::Math::random()
}

/// A short random id correlating edge and origin logs.
pub fn request_id() -> String {
    let draw = || (js_sys::Math::random() * f64::from(u32::MAX)) as u32;
    format!("{:08x}{:08x}", draw(), draw())
}
