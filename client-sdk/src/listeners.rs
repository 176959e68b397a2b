//! A copy-on-write list of JS callbacks: adding or removing one replaces the
//! array, so a notification in progress keeps iterating its own snapshot.

use std::cell::RefCell;

use js_sys::{Array, Function};
use wasm_bindgen::JsValue;

#[derive(Default)]
pub struct Listeners(RefCell<Array>);

impl Listeners {
    pub fn add(&self, callback: &Function) {
        let next = self.0.borrow().slice(0, u32::MAX);
        next.push(callback);
        self.0.replace(next);
    }

    pub fn remove(&self, callback: &Function) {
        let target = JsValue::from(callback.clone());
        let next: Array = self.0.borrow().iter().filter(|f| *f != target).collect();
        self.0.replace(next);
    }

    pub fn clear(&self) {
        self.0.replace(Array::new());
    }

    /// The current callbacks, or `None` when there are none.
    pub fn snapshot(&self) -> Option<Array> {
        let array = self.0.borrow();
        (array.length() > 0).then(|| array.clone())
    }
}
