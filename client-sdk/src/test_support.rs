//! Helpers shared by the browser test modules.

use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

/// A name (database, channel) no other test or earlier run uses.
pub fn unique_name(label: &str) -> String {
    format!("test-{label}-{}", js_sys::Math::random().to_string().replace('.', ""))
}

pub async fn sleep(ms: i32) {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        let global: web_sys::Window = js_sys::global().unchecked_into();
        global.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms).unwrap();
    });
    JsFuture::from(promise).await.unwrap();
}

/// Waits until `condition` holds; fails after 15 s.
pub async fn eventually(mut condition: impl FnMut() -> bool, what: &str) {
    for _ in 0..750 {
        if condition() {
            return;
        }
        sleep(20).await;
    }
    panic!("timed out waiting for {what}");
}
