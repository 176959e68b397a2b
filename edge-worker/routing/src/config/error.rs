use std::fmt;

/// Why `EDGE_CONFIG` was refused, naming the offending field (`regions[1].origin`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    field: String,
    message: String,
}

impl ConfigError {
    pub(crate) fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }

    /// `EDGE_CONFIG` is absent or blank.
    pub fn not_set() -> Self {
        Self::new(
            ".",
            "is not set; set it to JSON such as {\"regions\":[{\"id\":\"us-east\",\"origin\":\"https://us-east.example.com\"}]}",
        )
    }

    /// Path of the field at fault, `.` for the document itself.
    pub fn field(&self) -> &str {
        &self.field
    }

    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "EDGE_CONFIG is invalid at `{}`: {}",
            self.field, self.message
        )
    }
}

impl std::error::Error for ConfigError {}

/// Builds the path of a nested field for error messages.
pub(crate) fn at(parent: &str, child: impl fmt::Display) -> String {
    if parent.is_empty() {
        child.to_string()
    } else {
        format!("{parent}.{child}")
    }
}

pub(crate) fn index(parent: &str, i: usize) -> String {
    format!("{parent}[{i}]")
}
