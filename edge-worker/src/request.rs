//! The parts of an incoming request the edge looks at, read once.

use crate::clock;
use edge_routing::ClientGeo;
use edge_routing::target::split_url;
use wasm_bindgen::{JsCast, JsValue};

pub struct Head {
    pub method: String,
    pub path: String,
    /// `path?query` exactly as the client sent it (after URL normalisation).
    pub path_and_query: String,
    /// Lowercase names, in arrival order.
    pub headers: Vec<(String, String)>,
    pub geo: ClientGeo,
    pub client_ip: Option<String>,
    pub host: String,
    pub proto: String,
    pub request_id: String,
}

impl Head {
    /// Reads the request; `request.cf` only when `wants_location` (it costs a parse).
    pub fn read(req: &web_sys::Request, dev: bool, wants_location: bool) -> worker::Result<Self> {
        let url = req.url();
        let parts = split_url(&url)
            .ok_or_else(|| worker::Error::RustError(format!("unexpected request URL {url:?}")))?;
        let headers = header_list(&req.headers());
        let geo = match (wants_location, dev) {
            (false, _) => ClientGeo::default(),
            (true, false) => client_geo(req),
            (true, true) => client_geo(req).with_dev_overrides(&headers),
        };
        let client_ip =
            edge_routing::classify::header(&headers, "cf-connecting-ip").map(str::to_owned);
        Ok(Self {
            // The raw method: the runtime keeps any token the client sent.
            method: req.method(),
            path: parts.path.to_owned(),
            path_and_query: parts.path_and_query(),
            host: parts.authority.to_owned(),
            proto: parts.scheme.to_owned(),
            headers,
            geo,
            client_ip,
            request_id: clock::request_id(),
        })
    }
}

/// All headers as (lowercase name, value) pairs; the runtime lowercases names.
pub fn header_list(headers: &web_sys::Headers) -> Vec<(String, String)> {
    let Ok(entries) = js_sys::Array::from(headers.as_ref()).dyn_into::<js_sys::Array>() else {
        return Vec::new();
    };
    entries
        .iter()
        .filter_map(|entry| {
            let pair: js_sys::Array = entry.dyn_into().ok()?;
            Some((pair.get(0).as_string()?, pair.get(1).as_string()?))
        })
        .collect()
}

/// Where the platform says the client is (`request.cf`), read defensively.
fn client_geo(req: &web_sys::Request) -> ClientGeo {
    let cf =
        js_sys::Reflect::get(req.as_ref(), &JsValue::from_str("cf")).unwrap_or(JsValue::UNDEFINED);
    if !cf.is_object() {
        return ClientGeo::default();
    }
    let field = |name: &str| {
        let value = js_sys::Reflect::get(&cf, &JsValue::from_str(name)).ok()?;
        value
            .as_string()
            .or_else(|| value.as_f64().map(|n| n.to_string()))
    };
    ClientGeo::from_parts(
        field("country").as_deref(),
        field("continent").as_deref(),
        field("latitude").as_deref(),
        field("longitude").as_deref(),
    )
}
