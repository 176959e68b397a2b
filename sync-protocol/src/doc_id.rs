//! Document identifiers: validated once at the boundary, trusted everywhere after.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Longest accepted document id, in bytes.
pub const MAX_DOC_ID_LEN: usize = 128;

/// An opaque document id: 1 to [`MAX_DOC_ID_LEN`] bytes of `[A-Za-z0-9_-]`.
///
/// The alphabet is safe in URLs, file names and SQL without escaping, so a
/// `DocId` can never carry path traversal or injection.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DocId(String);

/// Why a string is not a [`DocId`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidDocId {
    #[error("document id is empty")]
    Empty,
    #[error("document id is {0} bytes long; at most {MAX_DOC_ID_LEN} are allowed")]
    TooLong(usize),
    #[error("document id contains {0:?} at byte {1}; only A-Z, a-z, 0-9, '_' and '-' are allowed")]
    BadChar(char, usize),
}

impl DocId {
    /// Validates `id` without allocating when it is rejected.
    pub fn parse(id: &str) -> Result<Self, InvalidDocId> {
        Self::validate(id)?;
        Ok(Self(id.to_owned()))
    }

    fn validate(id: &str) -> Result<(), InvalidDocId> {
        if id.is_empty() {
            return Err(InvalidDocId::Empty);
        }
        if id.len() > MAX_DOC_ID_LEN {
            return Err(InvalidDocId::TooLong(id.len()));
        }
        match id
            .char_indices()
            .find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-'))
        {
            Some((at, c)) => Err(InvalidDocId::BadChar(c, at)),
            None => Ok(()),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for DocId {
    type Err = InvalidDocId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for DocId {
    type Error = InvalidDocId;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::validate(&s)?;
        Ok(Self(s))
    }
}

impl TryFrom<&str> for DocId {
    type Error = InvalidDocId;
    fn try_from(s: &str) -> Result<Self, Self::Error> {
        Self::parse(s)
    }
}

impl AsRef<str> for DocId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DocId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for DocId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DocId({})", self.0)
    }
}

impl Serialize for DocId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for DocId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        DocId::try_from(raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_documented_alphabet() {
        for ok in ["a", "board-42", "A_b-C_9", &"x".repeat(MAX_DOC_ID_LEN)] {
            assert_eq!(DocId::parse(ok).map(|d| d.to_string()), Ok(ok.to_string()));
        }
    }

    #[test]
    fn rejects_everything_else() {
        assert_eq!(DocId::parse(""), Err(InvalidDocId::Empty));
        assert_eq!(
            DocId::parse(&"x".repeat(MAX_DOC_ID_LEN + 1)),
            Err(InvalidDocId::TooLong(MAX_DOC_ID_LEN + 1))
        );
        assert_eq!(DocId::parse("../etc"), Err(InvalidDocId::BadChar('.', 0)));
        assert_eq!(DocId::parse("a b"), Err(InvalidDocId::BadChar(' ', 1)));
        assert_eq!(DocId::parse("é"), Err(InvalidDocId::BadChar('é', 0)));
        assert!(DocId::parse("a*").is_err());
    }

    #[test]
    fn serde_validates() {
        let id: DocId = serde_json::from_str("\"doc-1\"").unwrap();
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"doc-1\"");
        assert!(serde_json::from_str::<DocId>("\"no/slash\"").is_err());
    }
}
