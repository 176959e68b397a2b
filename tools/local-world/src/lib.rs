//! The local EdgeSync world for tests, benchmarks and the demo (issues 2, 5, 6):
//! fault-injecting TCP proxies, an echo origin, supervised child processes,
//! `wrangler dev`, and (in [`world`]) three regions behind proxies with the
//! edge in front.

pub mod control;
pub mod http_wait;
pub mod origin;
pub mod paths;
pub mod process;
pub mod proxy;
pub mod server;
pub mod world;
pub mod wrangler;

pub use http_wait::{Expect, NotReady, error_chain, loopback_client, wait_http_ok};
pub use origin::{EchoOrigin, EchoReply, RequestCounts};
pub use paths::{binary_path, free_port, repo_root};
pub use process::{ManagedProcess, ProcessError, ProcessSpec};
pub use proxy::{Fault, FaultProxy, ProxyStats};
pub use world::{World, WorldConfig, WorldError};
pub use wrangler::{WranglerDev, WranglerError, WranglerOptions};
