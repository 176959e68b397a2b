//! Token claims and the access check (PROTOCOL.md, "Authentication and access").
//! Verifying the JWT signature is the server's job; this is what a verified token means.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::doc_id::DocId;

/// Which documents a pattern grants: an exact id, a prefix ending in `*`, or `*`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum DocPattern {
    Any,
    Prefix(String),
    Exact(DocId),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid document pattern {pattern:?}: {reason}")]
pub struct InvalidPattern {
    pub pattern: String,
    pub reason: String,
}

impl DocPattern {
    pub fn matches(&self, doc: &DocId) -> bool {
        match self {
            Self::Any => true,
            Self::Prefix(prefix) => doc.as_str().starts_with(prefix.as_str()),
            Self::Exact(id) => id == doc,
        }
    }
}

impl FromStr for DocPattern {
    type Err = InvalidPattern;
    fn from_str(pattern: &str) -> Result<Self, Self::Err> {
        let invalid = |reason: String| InvalidPattern { pattern: pattern.to_owned(), reason };
        if pattern == "*" {
            return Ok(Self::Any);
        }
        match pattern.strip_suffix('*') {
            // A prefix must itself be a valid id start, so "../*" cannot be written.
            Some(prefix) => DocId::parse(prefix)
                .map(|_| Self::Prefix(prefix.to_owned()))
                .map_err(|e| invalid(e.to_string())),
            None => DocId::parse(pattern).map(Self::Exact).map_err(|e| invalid(e.to_string())),
        }
    }
}

impl fmt::Display for DocPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Any => f.write_str("*"),
            Self::Prefix(prefix) => write!(f, "{prefix}*"),
            Self::Exact(id) => write!(f, "{id}"),
        }
    }
}

impl Serialize for DocPattern {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for DocPattern {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        raw.parse().map_err(serde::de::Error::custom)
    }
}

/// The claims of an EdgeSync token.
///
/// `{"sub": "alice", "exp": 1790000000, "read": ["board-*"], "write": ["board-42"]}`;
/// region-to-region tokens carry `"repl": true` instead of document patterns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    /// Expiry, seconds since the Unix epoch.
    pub exp: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub read: Vec<DocPattern>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub write: Vec<DocPattern>,
    /// A region replicating to another region (cluster key only).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub repl: bool,
}

/// What a token may do with one document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Access {
    None,
    Read,
    Write,
}

impl Claims {
    /// Write access implies read access.
    pub fn can_read(&self, doc: &DocId) -> bool {
        self.access(doc) >= Access::Read
    }

    pub fn can_write(&self, doc: &DocId) -> bool {
        self.access(doc) == Access::Write
    }

    pub fn access(&self, doc: &DocId) -> Access {
        // Replication tokens act for a whole region, which holds every document.
        if self.repl || self.write.iter().any(|p| p.matches(doc)) {
            Access::Write
        } else if self.read.iter().any(|p| p.matches(doc)) {
            Access::Read
        } else {
            Access::None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(id: &str) -> DocId {
        DocId::parse(id).unwrap()
    }

    #[test]
    fn documented_example() {
        let claims: Claims = serde_json::from_str(
            r#"{"sub":"alice","exp":1790000000,"read":["board-*"],"write":["board-42"]}"#,
        )
        .unwrap();
        assert!(claims.can_write(&doc("board-42")));
        assert!(claims.can_read(&doc("board-42")));
        assert!(claims.can_read(&doc("board-7")));
        assert!(!claims.can_write(&doc("board-7")));
        assert!(!claims.can_read(&doc("other")));
        assert!(!claims.can_read(&doc("board")));
        assert!(!claims.repl);
    }

    #[test]
    fn patterns() {
        let any: DocPattern = "*".parse().unwrap();
        assert!(any.matches(&doc("x")));
        assert_eq!("a-*".parse::<DocPattern>().unwrap(), DocPattern::Prefix("a-".into()));
        assert!("../*".parse::<DocPattern>().is_err());
        assert!("a*b".parse::<DocPattern>().is_err());
        assert!("".parse::<DocPattern>().is_err());
        assert!(serde_json::from_str::<Claims>(r#"{"sub":"a","exp":1,"read":["a b"]}"#).is_err());
        for p in ["*", "x-*", "x"] {
            assert_eq!(p.parse::<DocPattern>().unwrap().to_string(), p);
        }
    }

    #[test]
    fn replication_token_writes_everything() {
        let claims: Claims = serde_json::from_str(r#"{"sub":"region:us","exp":1,"repl":true}"#).unwrap();
        assert!(claims.can_write(&doc("anything")));
        assert_eq!(serde_json::to_string(&claims).unwrap(), r#"{"sub":"region:us","exp":1,"repl":true}"#);
    }
}
