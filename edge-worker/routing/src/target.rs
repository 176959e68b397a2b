//! The parts of a request URL, split without a full URL parser: the runtime
//! hands the worker an already-serialized WHATWG URL (`scheme://host/path?query`),
//! so splitting it is enough, and cheaper in the request path.

/// A request URL's parts, borrowed from the URL text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UrlParts<'a> {
    /// `http` or `https`.
    pub scheme: &'a str,
    /// `host[:port]`, without any user information.
    pub authority: &'a str,
    /// Starts with `/`.
    pub path: &'a str,
    pub query: Option<&'a str>,
}

impl UrlParts<'_> {
    /// `path?query`, as sent upstream.
    pub fn path_and_query(&self) -> String {
        match self.query {
            Some(q) => format!("{}?{q}", self.path),
            None => self.path.to_owned(),
        }
    }
}

/// Splits a serialized http(s) URL; `None` for anything else.
pub fn split_url(url: &str) -> Option<UrlParts<'_>> {
    let (scheme, rest) = url.split_once("://")?;
    if !matches!(scheme, "http" | "https") {
        return None;
    }
    let rest = rest.split_once('#').map_or(rest, |(before, _)| before);
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let authority = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    if authority.is_empty() {
        return None;
    }
    let (path, query) = match tail.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (tail, None),
    };
    Some(UrlParts {
        scheme,
        authority,
        path: if path.is_empty() { "/" } else { path },
        query,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_what_the_runtime_serializes() {
        let u = split_url("https://app.example.com/v1/docs/a/sync?round=2&x=%2F").unwrap();
        assert_eq!(
            (u.scheme, u.authority, u.path, u.query),
            (
                "https",
                "app.example.com",
                "/v1/docs/a/sync",
                Some("round=2&x=%2F")
            )
        );
        assert_eq!(u.path_and_query(), "/v1/docs/a/sync?round=2&x=%2F");
        let u = split_url("http://127.0.0.1:8787/").unwrap();
        assert_eq!(
            (u.authority, u.path, u.query),
            ("127.0.0.1:8787", "/", None)
        );
        let u = split_url("http://[::1]:8787?q").unwrap();
        assert_eq!(
            (u.authority, u.path, u.query),
            ("[::1]:8787", "/", Some("q"))
        );
        let u = split_url("http://user:pw@host/p#frag").unwrap();
        assert_eq!((u.authority, u.path), ("host", "/p"));
        let u = split_url("http://host/a?b?c").unwrap();
        assert_eq!((u.path, u.query), ("/a", Some("b?c")));
        assert_eq!(
            split_url("http://host//evil.example/x").unwrap().path,
            "//evil.example/x"
        );
    }

    #[test]
    fn refuses_other_shapes() {
        for bad in [
            "",
            "host/path",
            "ftp://host/",
            "http:///path",
            "http://",
            "HTTP://host/",
        ] {
            assert_eq!(split_url(bad), None, "{bad:?}");
        }
    }
}
