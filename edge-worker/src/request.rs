//! The parts of an incoming request the edge looks at, read once.

use crate::clock;
use edge_routing::ClientGeo;
use worker::Request;

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
    pub fn read(req: &Request, dev: bool) -> worker::Result<Self> {
        let url = req.url()?;
        let headers: Vec<(String, String)> = req
            .headers()
            .entries()
            .map(|(name, value)| (name.to_ascii_lowercase(), value))
            .collect();
        let geo = client_geo(req);
        let geo = if dev {
            geo.with_dev_overrides(&headers)
        } else {
            geo
        };
        let path_and_query = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        };
        let client_ip = headers
            .iter()
            .find(|(n, _)| n == "cf-connecting-ip")
            .map(|(_, v)| v.clone());
        let host = match url.port() {
            Some(port) => format!("{}:{port}", url.host_str().unwrap_or_default()),
            None => url.host_str().unwrap_or_default().to_owned(),
        };
        Ok(Self {
            // The raw method: `worker::Method` maps every method it does not know to GET.
            method: req.inner().method(),
            path: url.path().to_owned(),
            path_and_query,
            headers,
            geo,
            client_ip,
            host,
            proto: url.scheme().to_owned(),
            request_id: clock::request_id(),
        })
    }
}

/// Where the platform says the client is (`request.cf`), read defensively:
/// the typed accessors of the `worker` crate unwrap values they cannot parse.
fn client_geo(req: &Request) -> ClientGeo {
    use wasm_bindgen::JsValue;
    let cf =
        js_sys::Reflect::get(req.inner(), &JsValue::from_str("cf")).unwrap_or(JsValue::UNDEFINED);
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
