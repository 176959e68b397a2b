//! Rust futures run by the browser's event loop, as JS promises or detached tasks.
//!
//! Every call of wasm-bindgen's generic `future_to_promise`/`spawn_local` with a
//! new future type adds its own copy of the task and wake-up glue to the wasm.
//! Boxing first makes all of them share one copy; the extra allocation and
//! virtual call per task are nothing next to the I/O each task waits on.

use std::future::Future;
use std::pin::Pin;

use js_sys::Promise;
use wasm_bindgen::JsValue;

type BoxedPromiseFuture = Pin<Box<dyn Future<Output = Result<JsValue, JsValue>>>>;
type BoxedTask = Pin<Box<dyn Future<Output = ()>>>;

/// A promise settled by `future`.
pub fn promise(future: impl Future<Output = Result<JsValue, JsValue>> + 'static) -> Promise {
    boxed_promise(Box::pin(future))
}

/// Runs `future` to completion in the background.
pub fn spawn(future: impl Future<Output = ()> + 'static) {
    boxed_spawn(Box::pin(future));
}

fn boxed_promise(future: BoxedPromiseFuture) -> Promise {
    wasm_bindgen_futures::future_to_promise(future)
}

fn boxed_spawn(future: BoxedTask) {
    wasm_bindgen_futures::spawn_local(future);
}
