//! Proxy hygiene: which headers cross the edge, in which direction.
//!
//! Requests lose hop-by-hop headers, the client's copies of headers the edge
//! owns (`x-edge-*`, `x-forwarded-*`, `forwarded`, `cf-*`, ...) and get fresh
//! `X-Forwarded-*` values. Responses lose hop-by-hop headers and any `x-edge-*`
//! an origin set, so the `x-edge-*` a client sees always come from the edge.

/// Headers meaningful for one connection only (RFC 9110 §7.6.1), never forwarded.
pub const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Prefix of the edge's own headers; a client's copies are always dropped.
pub const INTERNAL_PREFIX: &str = "x-edge-";

/// Request headers the edge sets itself or that only the platform may set.
fn is_edge_owned(name: &str) -> bool {
    name.starts_with(INTERNAL_PREFIX)
        || name.starts_with("x-forwarded-")
        || name.starts_with("cf-")
        || matches!(name, "forwarded" | "x-real-ip" | "host" | "content-length")
}

/// True for a (lowercase) request header name the client may not choose the value of.
pub fn is_reserved_request_header(name: &str) -> bool {
    HOP_BY_HOP.contains(&name) || is_edge_owned(name)
}

/// Header names a `Connection` header value lists: hop-by-hop for this message only.
pub fn nominated_by_connection(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(|token| token.trim().to_ascii_lowercase())
        .filter(|token| !token.is_empty())
        .collect()
}

/// True when a (lowercase) response header must not reach the client:
/// hop-by-hop, nominated by `Connection`, or one of the edge's own.
pub fn is_dropped_response_header(name: &str, nominated: &[String]) -> bool {
    HOP_BY_HOP.contains(&name)
        || name.starts_with(INTERNAL_PREFIX)
        || nominated.iter().any(|n| n == name)
}

/// Header names the `Connection` headers list: hop-by-hop for this message only.
fn connection_listed<'a>(headers: impl IntoIterator<Item = (&'a str, &'a str)>) -> Vec<String> {
    headers
        .into_iter()
        .filter(|(name, _)| name.eq_ignore_ascii_case("connection"))
        .flat_map(|(_, value)| nominated_by_connection(value))
        .collect()
}

/// What the edge knows about the client connection, for `X-Forwarded-*`.
#[derive(Clone, Debug, Default)]
pub struct ForwardContext<'a> {
    /// The client address as the platform saw it (`CF-Connecting-IP`), if any.
    pub client_ip: Option<&'a str>,
    /// The host the client asked for.
    pub host: &'a str,
    /// `http` or `https`, as the client connected.
    pub proto: &'a str,
    /// Correlates edge logs with origin logs.
    pub request_id: &'a str,
}

/// Headers to send upstream for a client request with `incoming` headers.
pub fn upstream_request_headers<'a>(
    incoming: impl IntoIterator<Item = (&'a str, &'a str)> + Clone,
    ctx: &ForwardContext<'_>,
) -> Vec<(String, String)> {
    let listed = connection_listed(incoming.clone());
    let mut out: Vec<(String, String)> = incoming
        .into_iter()
        .map(|(name, value)| (name.to_ascii_lowercase(), value))
        .filter(|(name, _)| !is_reserved_request_header(name) && !listed.contains(name))
        .map(|(name, value)| (name, value.to_owned()))
        .collect();
    if let Some(ip) = ctx.client_ip.filter(|ip| is_plausible_ip(ip)) {
        out.push(("x-forwarded-for".into(), ip.to_owned()));
    }
    if is_plausible_host(ctx.host) {
        out.push(("x-forwarded-host".into(), ctx.host.to_owned()));
    }
    if matches!(ctx.proto, "http" | "https") {
        out.push(("x-forwarded-proto".into(), ctx.proto.to_owned()));
    }
    out.push(("x-edge-request-id".into(), ctx.request_id.to_owned()));
    out
}

/// Headers of an origin response that may reach the client.
pub fn client_response_headers<'a>(
    upstream: impl IntoIterator<Item = (&'a str, &'a str)> + Clone,
) -> Vec<(String, String)> {
    let listed = connection_listed(upstream.clone());
    upstream
        .into_iter()
        .map(|(name, value)| (name.to_ascii_lowercase(), value))
        .filter(|(name, _)| !is_dropped_response_header(name, &listed))
        .map(|(name, value)| (name, value.to_owned()))
        .collect()
}

fn is_plausible_ip(ip: &str) -> bool {
    ip.parse::<std::net::IpAddr>().is_ok()
}

fn is_plausible_host(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 255
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']' | '_'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> ForwardContext<'static> {
        ForwardContext {
            client_ip: Some("203.0.113.7"),
            host: "app.example.com",
            proto: "https",
            request_id: "r1",
        }
    }

    fn get<'a>(headers: &'a [(String, String)], name: &str) -> Vec<&'a str> {
        headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    #[test]
    fn request_headers_are_cleaned_and_forwarded_for_is_set() {
        let incoming = [
            ("Host", "app.example.com"),
            ("Connection", "keep-alive, X-Secret-Hop"),
            ("X-Secret-Hop", "1"),
            ("Keep-Alive", "timeout=5"),
            ("Transfer-Encoding", "chunked"),
            ("Upgrade", "websocket"),
            ("X-Forwarded-For", "6.6.6.6"),
            ("X-Forwarded-Host", "evil.example"),
            ("Forwarded", "for=6.6.6.6"),
            ("X-Edge-Region", "spoofed"),
            ("x-edge-dev-country", "DE"),
            ("CF-Connecting-IP", "6.6.6.6"),
            ("Authorization", "Bearer t"),
            ("Idempotency-Key", "k1"),
            ("Cookie", "a=b"),
        ];
        let out = upstream_request_headers(incoming.iter().copied(), &ctx());
        for gone in [
            "host",
            "connection",
            "x-secret-hop",
            "keep-alive",
            "transfer-encoding",
            "upgrade",
            "forwarded",
            "x-edge-region",
            "x-edge-dev-country",
            "cf-connecting-ip",
        ] {
            assert!(get(&out, gone).is_empty(), "{gone} leaked: {out:?}");
        }
        assert_eq!(get(&out, "x-forwarded-for"), ["203.0.113.7"]);
        assert_eq!(get(&out, "x-forwarded-host"), ["app.example.com"]);
        assert_eq!(get(&out, "x-forwarded-proto"), ["https"]);
        assert_eq!(get(&out, "x-edge-request-id"), ["r1"]);
        assert_eq!(get(&out, "authorization"), ["Bearer t"]);
        assert_eq!(get(&out, "idempotency-key"), ["k1"]);
        assert_eq!(get(&out, "cookie"), ["a=b"]);
    }

    #[test]
    fn implausible_client_values_are_not_forwarded() {
        let bad = ForwardContext {
            client_ip: Some("not-an-ip"),
            host: "evil\r\nx: 1",
            proto: "gopher",
            request_id: "r",
        };
        let out = upstream_request_headers(std::iter::empty(), &bad);
        assert_eq!(
            out,
            vec![("x-edge-request-id".to_string(), "r".to_string())]
        );
    }

    #[test]
    fn response_headers_lose_hop_by_hop_and_internal_ones() {
        let upstream = [
            ("Content-Type", "application/json"),
            ("Connection", "close, X-Hop"),
            ("X-Hop", "1"),
            ("Transfer-Encoding", "chunked"),
            ("X-Edge-Region", "forged"),
            ("Set-Cookie", "a=1"),
            ("Set-Cookie", "b=2"),
        ];
        let out = client_response_headers(upstream.iter().copied());
        assert_eq!(get(&out, "content-type"), ["application/json"]);
        assert_eq!(get(&out, "set-cookie"), ["a=1", "b=2"]);
        for gone in ["connection", "x-hop", "transfer-encoding", "x-edge-region"] {
            assert!(get(&out, gone).is_empty(), "{gone} leaked");
        }
    }
}
