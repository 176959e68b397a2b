//! Sharing documents between tabs (and repos) of the same app: new changes go
//! out on a BroadcastChannel as soon as they are committed, so another tab shows
//! them at once, even offline. Messages are plain objects:
//! `{ kind: "changes", doc, bytes }`, `{ kind: "acked", doc, heads }`, `{ kind: "deleted", doc }`.

use js_sys::{Array, Object, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{BroadcastChannel, MessageEvent};

pub enum TabMessage {
    Changes { doc: String, bytes: Vec<u8> },
    Acked { doc: String, heads: Vec<String> },
    Deleted { doc: String },
}

pub struct Tabs {
    channel: BroadcastChannel,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
}

impl Tabs {
    /// Joins the channel `name`; `on_message` receives other tabs' messages.
    /// `None` where BroadcastChannel does not exist.
    pub fn join(name: &str, mut on_message: impl FnMut(TabMessage) + 'static) -> Option<Tabs> {
        let channel = BroadcastChannel::new(name).ok()?;
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
            // Messages from other versions or other code on the channel are ignored.
            if let Some(message) = decode(&event.data()) {
                on_message(message);
            }
        });
        channel.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        Some(Tabs { channel, _on_message: on_message })
    }

    pub fn send(&self, message: &TabMessage) {
        // A closed channel or an unclonable message only costs the other tabs a
        // delay: they still get the changes from storage or sync.
        let _ = self.channel.post_message(&encode(message));
    }

    pub fn close(&self) {
        self.channel.set_onmessage(None);
        self.channel.close();
    }
}

fn encode(message: &TabMessage) -> JsValue {
    let object = Object::new();
    let set = |key: &str, value: &JsValue| {
        let _ = Reflect::set(&object, &key.into(), value);
    };
    match message {
        TabMessage::Changes { doc, bytes } => {
            set("kind", &"changes".into());
            set("doc", &doc.into());
            set("bytes", &Uint8Array::from(bytes.as_slice()));
        }
        TabMessage::Acked { doc, heads } => {
            set("kind", &"acked".into());
            set("doc", &doc.into());
            set("heads", &heads.iter().map(|h| JsValue::from_str(h)).collect::<Array>());
        }
        TabMessage::Deleted { doc } => {
            set("kind", &"deleted".into());
            set("doc", &doc.into());
        }
    }
    object.into()
}

fn decode(data: &JsValue) -> Option<TabMessage> {
    let get = |key: &str| Reflect::get(data, &key.into()).ok();
    let kind = get("kind")?.as_string()?;
    let doc = get("doc")?.as_string()?;
    match kind.as_str() {
        "changes" => Some(TabMessage::Changes { doc, bytes: get("bytes")?.dyn_into::<Uint8Array>().ok()?.to_vec() }),
        "acked" => {
            let heads = get("heads")?.dyn_into::<Array>().ok()?.iter().filter_map(|h| h.as_string()).collect();
            Some(TabMessage::Acked { doc, heads })
        }
        "deleted" => Some(TabMessage::Deleted { doc }),
        _ => None,
    }
}
