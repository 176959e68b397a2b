//! Paths into a document: `["todos", 3, "title"]` in JavaScript.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathSeg {
    /// A key of a map.
    Key(String),
    /// A position in a list or text.
    Index(usize),
}

/// A path from the document root; empty means the root map itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Path(pub Vec<PathSeg>);

impl Path {
    pub fn split_last(&self) -> Option<(Path, &PathSeg)> {
        let (last, parent) = self.0.split_last()?;
        Some((Path(parent.to_vec()), last))
    }

    pub fn prefix(&self, len: usize) -> Path {
        Path(self.0[..len].to_vec())
    }
}

impl fmt::Display for PathSeg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathSeg::Key(key) => write!(f, "{key:?}"),
            PathSeg::Index(index) => write!(f, "{index}"),
        }
    }
}

/// Shown like the JavaScript array the caller passed: `["todos", 3]`.
impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, seg) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            seg.fmt(f)?;
        }
        f.write_str("]")
    }
}
