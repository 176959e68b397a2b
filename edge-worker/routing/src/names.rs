//! Validated names that travel in headers, cookies, logs and JSON.
//!
//! Each is checked once at the boundary, so code past it never re-validates and
//! nothing unchecked can reach a header value or a log line.

use serde::Serialize;
use std::fmt;

macro_rules! validated_name {
    ($(#[$doc:meta])* $name:ident, $check:expr, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Checks `raw`; the error says what was expected.
            pub fn parse(raw: &str) -> Result<Self, String> {
                let check: fn(&str) -> Option<String> = $check;
                check(raw).map(Self).ok_or_else(|| format!("{:?} is not {}", truncate(raw), $what))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_'
}

fn token(raw: &str, max: usize) -> Option<&str> {
    (!raw.is_empty() && raw.len() <= max && raw.chars().all(is_token_char)).then_some(raw)
}

fn upper_pair(raw: &str) -> Option<String> {
    let up = raw.trim().to_ascii_uppercase();
    (up.len() == 2 && up.chars().all(|c| c.is_ascii_alphanumeric())).then_some(up)
}

validated_name!(
    /// A region id: 1 to 64 of `[A-Za-z0-9_-]`, safe in headers, cookies and logs.
    RegionName,
    |raw| token(raw, 64).map(str::to_owned),
    "a region id (1 to 64 of A-Z a-z 0-9 _ -)"
);

validated_name!(
    /// A data-residency tag (`eu`), compared case-insensitively, stored lowercase.
    Tag,
    |raw| token(raw, 32).map(str::to_ascii_lowercase),
    "a tag (1 to 32 of A-Z a-z 0-9 _ -)"
);

validated_name!(
    /// An ISO 3166-1 alpha-2 country code as `request.cf.country` gives it (`DE`; also `XX`, `T1`).
    CountryCode,
    upper_pair,
    "a two-letter country code"
);

validated_name!(
    /// A continent code as `request.cf.continent` gives it (`EU`, `NA`, ...).
    ContinentCode,
    |raw| upper_pair(raw).filter(|c| CONTINENTS.contains(&c.as_str())),
    "a continent code (AF, AN, AS, EU, NA, OC, SA)"
);

const CONTINENTS: [&str; 7] = ["AF", "AN", "AS", "EU", "NA", "OC", "SA"];

/// Shortens untrusted input before it is quoted in an error message.
pub(crate) fn truncate(raw: &str) -> String {
    const MAX: usize = 64;
    if raw.len() <= MAX {
        return raw.to_owned();
    }
    let mut end = MAX;
    while !raw.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &raw[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_names_are_tokens() {
        assert!(RegionName::parse("us-east_1").is_ok());
        assert!(RegionName::parse("").is_err());
        assert!(RegionName::parse("us east").is_err());
        assert!(RegionName::parse("a\r\nx-evil: 1").is_err());
        assert!(RegionName::parse(&"a".repeat(65)).is_err());
    }

    #[test]
    fn codes_are_normalised() {
        assert_eq!(
            CountryCode::parse("de").map(|c| c.to_string()),
            Ok("DE".into())
        );
        assert!(CountryCode::parse("DEU").is_err());
        assert_eq!(
            ContinentCode::parse("eu").map(|c| c.to_string()),
            Ok("EU".into())
        );
        assert!(ContinentCode::parse("XX").is_err());
        assert_eq!(Tag::parse("EU").map(|t| t.to_string()), Ok("eu".into()));
    }

    #[test]
    fn long_input_is_truncated_on_a_char_boundary() {
        let long = "é".repeat(100);
        let short = truncate(&long);
        assert!(short.len() < 80 && short.ends_with('…'));
    }
}
