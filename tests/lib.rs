//! Shared helpers of the system tests and benchmarks.
//!
//! - [`load`]: a bounded HTTP load generator that records every request.
//! - [`edge`]: the edge worker in workerd in front of echo origins behind fault proxies.

pub mod edge;
pub mod load;
