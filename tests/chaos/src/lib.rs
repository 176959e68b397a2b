//! The EdgeSync reliability suite (issue 6).
//!
//! - [`schedule`]: the seeded fault plan of a chaos run.
//! - [`inject`]: applying it to a local [`World`](local_world::World), and healing.
//! - [`native`], [`browser`]: the clients writing through the edge (Rust
//!   `ClientSync` clients, and the SDK in headless Chromium).
//! - [`regions`], [`verify`]: the checker's copies of each region and its verdict.
//! - [`run`], [`report`]: one whole run and the figures it prints.
//! - [`sync_client`]: batch rounds over HTTP, shared by all of the above and the load generator.
//! - [`load`]: the load and soak measurements of `bench-load`.
//! - [`world`]: the world every part runs against.
//! - [`raw_http`]: requests no HTTP client library will send (the hostile table).

pub mod browser;
pub mod inject;
pub mod load;
pub mod native;
pub mod raw_http;
pub mod regions;
pub mod report;
pub mod run;
pub mod schedule;
pub mod sync_client;
pub mod verify;
pub mod world;
