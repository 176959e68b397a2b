//! A region's origin URL, and the only way to build an upstream URL from it.

use serde::Serialize;
use std::fmt;
use url::Url;

/// `scheme://host[:port][/base]` of a region, validated: http(s), a host, no
/// credentials, query or fragment. Every upstream URL is built by [`Origin::url_for`],
/// which proves the result still points at this origin (no open proxy).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    /// `scheme://host:port/base` without a trailing slash.
    prefix: String,
    scheme: String,
    host: String,
    port: Option<u16>,
    base_path: String,
}

/// A request path that would leave the region's origin.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("request target {0:?} does not stay on the region's origin")]
pub struct ForeignTarget(pub String);

impl Origin {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let url = Url::parse(raw).map_err(|e| format!("{raw:?} is not a URL ({e})"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!("{raw:?} must use http or https"));
        }
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| format!("{raw:?} has no host"))?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(format!("{raw:?} must not carry credentials"));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(format!("{raw:?} must not have a query or fragment"));
        }
        let base_path = url.path().trim_end_matches('/').to_owned();
        let authority = match url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        };
        Ok(Self {
            prefix: format!("{}://{authority}{base_path}", url.scheme()),
            scheme: url.scheme().to_owned(),
            host: host.to_owned(),
            port: url.port(),
            base_path,
        })
    }

    /// The upstream URL for a client's `path?query`. Refuses anything that would
    /// resolve to another scheme, host or port, or climb out of the base path.
    pub fn url_for(&self, path_and_query: &str) -> Result<String, ForeignTarget> {
        let foreign = || ForeignTarget(crate::names::truncate(path_and_query));
        if !path_and_query.starts_with('/') || path_and_query.contains(['\r', '\n', '#']) {
            return Err(foreign());
        }
        let candidate = format!("{}{}", self.prefix, path_and_query);
        let parsed = Url::parse(&candidate).map_err(|_| foreign())?;
        let same_origin = parsed.scheme() == self.scheme
            && parsed.host_str() == Some(self.host.as_str())
            && parsed.port() == self.port
            && parsed.username().is_empty()
            && parsed.password().is_none();
        let inside_base = self.base_path.is_empty()
            || parsed.path() == self.base_path
            || parsed.path().starts_with(&format!("{}/", self.base_path));
        if same_origin && inside_base {
            Ok(parsed.into())
        } else {
            Err(foreign())
        }
    }

    /// The origin as configured, normalised (`http://127.0.0.1:9101`).
    pub fn as_str(&self) -> &str {
        &self.prefix
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.prefix)
    }
}

impl Serialize for Origin {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(raw: &str) -> Origin {
        Origin::parse(raw).unwrap()
    }

    #[test]
    fn parses_and_normalises() {
        assert_eq!(
            origin("http://127.0.0.1:9101/").as_str(),
            "http://127.0.0.1:9101"
        );
        assert_eq!(
            origin("https://eu.example.com/api/").as_str(),
            "https://eu.example.com/api"
        );
        for bad in [
            "ftp://x",
            "http://",
            "http://u:p@h",
            "http://h/?q=1",
            "not a url",
            "/relative",
        ] {
            assert!(Origin::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn upstream_urls_stay_on_the_origin() {
        let o = origin("http://127.0.0.1:9101");
        assert_eq!(
            o.url_for("/v1/sync?x=1").unwrap(),
            "http://127.0.0.1:9101/v1/sync?x=1"
        );
        assert_eq!(
            o.url_for("//evil.example/x").unwrap(),
            "http://127.0.0.1:9101//evil.example/x"
        );
        assert_eq!(
            o.url_for("/@evil.example").unwrap(),
            "http://127.0.0.1:9101/@evil.example"
        );
        for bad in [
            "evil.example/x",
            "",
            "http://evil.example/",
            "/x\r\nHost: evil",
            "@evil.example/",
        ] {
            assert!(o.url_for(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn base_path_cannot_be_escaped() {
        let o = origin("https://eu.example.com/api");
        assert_eq!(
            o.url_for("/v1/x").unwrap(),
            "https://eu.example.com/api/v1/x"
        );
        assert!(o.url_for("/../admin").is_err());
        assert!(o.url_for("/%2e%2e/admin").is_err());
    }
}
