//! One local document: an automerge `AutoCommit` plus the write operations of the
//! public API, expressed on paths and validated before anything reaches automerge.
//!
//! Writes go into automerge's open transaction at once (so every read sees them);
//! [`Document::commit`] turns them into one change. Consecutive text splices are
//! coalesced first (see `pending_splice`), which is invisible to readers because
//! every read goes through [`Document::doc`], which applies them.

use automerge::{AutoCommit, ChangeHash, ObjId, ObjType, Prop, ReadDoc, ScalarValue, TextEncoding, ROOT};
use automerge::transaction::{CommitOptions, Transactable};

use crate::error::SdkError;
use crate::path::{Path, PathSeg};
use crate::pending_splice::PendingSplice;
use crate::value::NewValue;

/// Text positions are UTF-16 code units, like JavaScript string indices.
pub const TEXT_ENCODING: TextEncoding = TextEncoding::Utf16CodeUnit;

pub struct Document {
    /// Never used directly outside `doc()`/`raw()`: a pending splice must be applied first.
    inner: AutoCommit,
    pending: Option<PendingText>,
    /// Bumped by every change (local or remote); caches of materialised values key on it.
    version: u64,
}

struct PendingText {
    path: Path,
    obj: ObjId,
    /// Length of the text before the pending splice, in UTF-16 units.
    base_len: usize,
    splice: PendingSplice,
}

/// What a list/text position argument refers to, for error messages.
fn index_error(path: &Path, index: usize, len: usize) -> SdkError {
    SdkError::invalid_path(format!("index {index} is out of range at {path} (length {len})"))
}

impl Document {
    pub fn new() -> Self {
        Self::from_automerge(AutoCommit::new_with_encoding(TEXT_ENCODING))
    }

    /// Loads saved bytes (a snapshot and/or incremental chunks, concatenated).
    pub fn load(bytes: &[u8]) -> Result<Self, automerge::AutomergeError> {
        let options = automerge::LoadOptions::new().text_encoding(TEXT_ENCODING);
        Ok(Self::from_automerge(AutoCommit::load_with_options(bytes, options)?))
    }

    fn from_automerge(inner: AutoCommit) -> Self {
        Self { inner, pending: None, version: 0 }
    }

    pub fn version(&self) -> u64 {
        self.version
    }

    /// The automerge document with every write applied.
    pub fn doc(&mut self) -> &mut AutoCommit {
        self.apply_pending();
        &mut self.inner
    }

    /// Marks a change that did not go through the write methods (a merge from
    /// another tab or a region).
    pub fn note_external_change(&mut self) {
        self.version += 1;
    }

    /// Closes the open transaction into one change; `None` when nothing was written.
    pub fn commit(&mut self, time_secs: i64) -> Option<ChangeHash> {
        self.apply_pending();
        self.inner.commit_with(CommitOptions::default().with_time(time_secs))
    }

    pub fn has_uncommitted(&self) -> bool {
        self.pending.is_some() || self.inner.pending_ops() > 0
    }

    fn apply_pending(&mut self) {
        if let Some(PendingText { obj, splice, .. }) = self.pending.take() {
            let splice = splice.into_splice();
            // Bounds were checked when the splices were merged, so this cannot fail on input.
            let result = self.inner.splice_text(&obj, splice.start, splice.deleted as isize, &splice.inserted);
            debug_assert!(result.is_ok(), "validated splice rejected: {result:?}");
        }
    }

    /// The object at `path`, which must be a map, list or text.
    pub fn resolve(&mut self, path: &Path) -> Result<(ObjId, ObjType), SdkError> {
        let doc = self.doc();
        let mut obj = ROOT;
        let mut obj_type = ObjType::Map;
        for (depth, seg) in path.0.iter().enumerate() {
            let prop = prop_for(obj_type, seg, &path.prefix(depth))?;
            match doc.get(&obj, prop)? {
                Some((automerge::Value::Object(child_type), child)) => {
                    obj = child;
                    obj_type = child_type;
                }
                Some((automerge::Value::Scalar(_), _)) => {
                    return Err(SdkError::invalid_path(format!(
                        "{} holds a plain value, not a map, list or text",
                        path.prefix(depth + 1)
                    )));
                }
                None => {
                    return Err(SdkError::invalid_path(format!("nothing at {}", path.prefix(depth + 1))));
                }
            }
        }
        Ok((obj, obj_type))
    }

    fn resolve_expecting(&mut self, path: &Path, expected: &[ObjType]) -> Result<ObjId, SdkError> {
        let (obj, obj_type) = self.resolve(path)?;
        if expected.contains(&obj_type) {
            Ok(obj)
        } else {
            let names: Vec<&str> = expected.iter().map(|t| type_name(*t)).collect();
            Err(SdkError::invalid_path(format!(
                "{path} is a {}, expected a {}",
                type_name(obj_type),
                names.join(" or ")
            )))
        }
    }

    /// Sets a map key or replaces a list element (`index == length` appends).
    pub fn set(&mut self, path: &Path, value: &NewValue) -> Result<(), SdkError> {
        let (parent, last) = path.split_last().ok_or_else(|| {
            SdkError::invalid_path("cannot replace the document root; set its keys instead")
        })?;
        let (obj, obj_type) = self.resolve(&parent)?;
        let prop = prop_for(obj_type, last, &parent)?;
        let doc = self.doc();
        match prop {
            Prop::Seq(index) => {
                let len = doc.length(&obj);
                if index == len {
                    insert_value(doc, &obj, index, value)?;
                } else if index < len {
                    put_value(doc, &obj, Prop::Seq(index), value)?;
                } else {
                    return Err(index_error(&parent, index, len));
                }
            }
            prop => put_value(doc, &obj, prop, value)?,
        }
        self.version += 1;
        Ok(())
    }

    /// Deletes a map key or a list element.
    pub fn delete(&mut self, path: &Path) -> Result<(), SdkError> {
        let (parent, last) = path.split_last().ok_or_else(|| SdkError::invalid_path("cannot delete the document root"))?;
        let (obj, obj_type) = self.resolve(&parent)?;
        let prop = prop_for(obj_type, last, &parent)?;
        let doc = self.doc();
        match &prop {
            Prop::Seq(index) => {
                let len = doc.length(&obj);
                if *index >= len {
                    return Err(index_error(&parent, *index, len));
                }
            }
            Prop::Map(key) => {
                if doc.get(&obj, key.as_str())?.is_none() {
                    return Err(SdkError::invalid_path(format!("nothing at {path}")));
                }
            }
        }
        doc.delete(&obj, prop)?;
        self.version += 1;
        Ok(())
    }

    /// Inserts values into the list at `path`, starting at `index` (`0..=length`).
    pub fn insert(&mut self, path: &Path, index: usize, values: &[NewValue]) -> Result<(), SdkError> {
        let obj = self.resolve_expecting(path, &[ObjType::List])?;
        let doc = self.doc();
        let len = doc.length(&obj);
        if index > len {
            return Err(index_error(path, index, len));
        }
        for (offset, value) in values.iter().enumerate() {
            insert_value(doc, &obj, index + offset, value)?;
        }
        self.version += 1;
        Ok(())
    }

    /// Appends values to the list at `path`.
    pub fn push(&mut self, path: &Path, values: &[NewValue]) -> Result<(), SdkError> {
        let obj = self.resolve_expecting(path, &[ObjType::List])?;
        let len = self.doc().length(&obj);
        self.insert(path, len, values)
    }

    /// Moves the list element at `from` so that it ends up at index `to`.
    ///
    /// Automerge has no move operation for lists: this copies the element and
    /// deletes the original, so two peers moving the same element concurrently
    /// both keep their copy.
    pub fn move_item(&mut self, path: &Path, from: usize, to: usize) -> Result<(), SdkError> {
        let obj = self.resolve_expecting(path, &[ObjType::List])?;
        let doc = self.doc();
        let len = doc.length(&obj);
        if from >= len {
            return Err(index_error(path, from, len));
        }
        if to >= len {
            return Err(index_error(path, to, len));
        }
        if from == to {
            return Ok(());
        }
        let value = crate::value::read_new_value(doc, &obj, Prop::Seq(from))?
            .ok_or_else(|| SdkError::internal("list element vanished while moving it"))?;
        doc.delete(&obj, from)?;
        insert_value(doc, &obj, to, &value)?;
        self.version += 1;
        Ok(())
    }

    /// Splices a text: deletes `delete` UTF-16 units at `index` and inserts `insert` there.
    pub fn splice_text(&mut self, path: &Path, index: usize, delete: usize, insert: &str) -> Result<(), SdkError> {
        let insert_units: Vec<u16> = insert.encode_utf16().collect();
        if let Some(pending) = self.pending.as_mut().filter(|p| p.path == *path) {
            let len = pending.current_len();
            if pending.splice.try_merge(index, delete, &insert_units, len) {
                self.version += 1;
                return Ok(());
            }
            check_range(path, index, delete, len)?;
        }
        let obj = self.resolve_expecting(path, &[ObjType::Text])?;
        let base_len = self.doc().length(&obj);
        check_range(path, index, delete, base_len)?;
        self.pending = Some(PendingText {
            path: path.clone(),
            obj,
            base_len,
            splice: PendingSplice::new(index, delete, &insert_units),
        });
        self.version += 1;
        Ok(())
    }

    /// Splices a list: deletes `delete` elements at `index` and inserts `values` there.
    pub fn splice_list(&mut self, path: &Path, index: usize, delete: usize, values: &[NewValue]) -> Result<(), SdkError> {
        let obj = self.resolve_expecting(path, &[ObjType::List])?;
        let doc = self.doc();
        let len = doc.length(&obj);
        check_range(path, index, delete, len)?;
        for _ in 0..delete {
            doc.delete(&obj, index)?;
        }
        for (offset, value) in values.iter().enumerate() {
            insert_value(doc, &obj, index + offset, value)?;
        }
        self.version += 1;
        Ok(())
    }

    /// Adds `by` to the counter at `path`.
    pub fn increment(&mut self, path: &Path, by: i64) -> Result<(), SdkError> {
        let (parent, last) = path.split_last().ok_or_else(|| SdkError::invalid_path("the document root is not a counter"))?;
        let (obj, obj_type) = self.resolve(&parent)?;
        let prop = prop_for(obj_type, last, &parent)?;
        let doc = self.doc();
        match doc.get(&obj, prop.clone())? {
            Some((automerge::Value::Scalar(s), _)) if matches!(s.as_ref(), ScalarValue::Counter(_)) => {}
            Some(_) => {
                return Err(SdkError::invalid_path(format!(
                    "{path} is not a counter (create one with new Counter(0))"
                )));
            }
            None => return Err(SdkError::invalid_path(format!("nothing at {path}"))),
        }
        doc.increment(&obj, prop, by)?;
        self.version += 1;
        Ok(())
    }
}

impl Default for Document {
    fn default() -> Self {
        Self::new()
    }
}

impl PendingText {
    fn current_len(&self) -> usize {
        (self.base_len as isize + self.splice.length_delta()) as usize
    }
}

fn check_range(path: &Path, index: usize, delete: usize, len: usize) -> Result<(), SdkError> {
    match index.checked_add(delete) {
        Some(end) if end <= len => Ok(()),
        _ => Err(SdkError::invalid_path(format!(
            "range {index}..{index}+{delete} is out of bounds at {path} (length {len})"
        ))),
    }
}

/// The automerge property for a path segment inside an object of `parent_type`.
fn prop_for(parent_type: ObjType, seg: &PathSeg, parent: &Path) -> Result<Prop, SdkError> {
    match (parent_type, seg) {
        (ObjType::Map | ObjType::Table, PathSeg::Key(key)) => Ok(Prop::Map(key.clone())),
        (ObjType::List, PathSeg::Index(index)) => Ok(Prop::Seq(*index)),
        (ObjType::Map | ObjType::Table, PathSeg::Index(index)) => Err(SdkError::invalid_path(format!(
            "{parent} is a map: use a string key, not the number {index}"
        ))),
        (ObjType::List, PathSeg::Key(key)) => Err(SdkError::invalid_path(format!(
            "{parent} is a list: use a numeric index, not the key {key:?}"
        ))),
        (ObjType::Text, _) => Err(SdkError::invalid_path(format!(
            "{parent} is a text: splice it instead of addressing its characters"
        ))),
    }
}

fn type_name(obj_type: ObjType) -> &'static str {
    match obj_type {
        ObjType::Map | ObjType::Table => "map",
        ObjType::List => "list",
        ObjType::Text => "text",
    }
}

/// Writes `value` at a map key or over an existing list element.
fn put_value(doc: &mut AutoCommit, obj: &ObjId, prop: Prop, value: &NewValue) -> Result<(), SdkError> {
    match value {
        NewValue::Scalar(scalar) => doc.put(obj, prop, scalar.clone())?,
        NewValue::Text(_) | NewValue::Map(_) | NewValue::List(_) => {
            let child = doc.put_object(obj, prop, value.obj_type())?;
            fill_object(doc, &child, value)?;
        }
    }
    Ok(())
}

/// Inserts `value` into a list at `index`.
fn insert_value(doc: &mut AutoCommit, obj: &ObjId, index: usize, value: &NewValue) -> Result<(), SdkError> {
    match value {
        NewValue::Scalar(scalar) => doc.insert(obj, index, scalar.clone())?,
        NewValue::Text(_) | NewValue::Map(_) | NewValue::List(_) => {
            let child = doc.insert_object(obj, index, value.obj_type())?;
            fill_object(doc, &child, value)?;
        }
    }
    Ok(())
}

/// Writes the content of a freshly created object.
fn fill_object(doc: &mut AutoCommit, obj: &ObjId, value: &NewValue) -> Result<(), SdkError> {
    match value {
        NewValue::Text(text) => doc.splice_text(obj, 0, 0, text)?,
        NewValue::Map(entries) => {
            for (key, entry) in entries {
                put_value(doc, obj, Prop::Map(key.clone()), entry)?;
            }
        }
        NewValue::List(items) => {
            for (index, item) in items.iter().enumerate() {
                insert_value(doc, obj, index, item)?;
            }
        }
        NewValue::Scalar(_) => {}
    }
    Ok(())
}

/// Fills the root of a new document from an initial value (which must be a map).
pub fn initialise(document: &mut Document, initial: &NewValue) -> Result<(), SdkError> {
    match initial {
        NewValue::Map(entries) => {
            let doc = document.doc();
            for (key, entry) in entries {
                put_value(doc, &ROOT, Prop::Map(key.clone()), entry)?;
            }
            document.version += 1;
            Ok(())
        }
        _ => Err(SdkError::invalid_value("a document's initial value must be a plain object")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::NewValue as V;

    fn key(k: &str) -> PathSeg {
        PathSeg::Key(k.into())
    }

    fn text_doc(content: &str) -> (Document, Path) {
        let mut doc = Document::new();
        let path = Path(vec![key("text")]);
        doc.set(&path, &V::Text(content.into())).unwrap();
        (doc, path)
    }

    fn text_of(doc: &mut Document, path: &Path) -> String {
        let obj = doc.resolve(path).unwrap().0;
        doc.doc().text(&obj).unwrap()
    }

    #[test]
    fn coalesced_splices_read_back_exactly() {
        let (mut doc, path) = text_doc("hello");
        for (i, c) in " world".chars().enumerate() {
            doc.splice_text(&path, 5 + i, 0, &c.to_string()).unwrap();
        }
        doc.splice_text(&path, 10, 1, "").unwrap();
        doc.splice_text(&path, 0, 1, "J").unwrap();
        assert_eq!(text_of(&mut doc, &path), "Jello worl");
        doc.splice_text(&path, 10, 0, "d").unwrap();
        doc.commit(0);
        assert_eq!(text_of(&mut doc, &path), "Jello world");
    }

    #[test]
    fn out_of_range_splices_are_rejected_and_change_nothing() {
        let (mut doc, path) = text_doc("abc");
        doc.splice_text(&path, 3, 0, "d").unwrap();
        let err = doc.splice_text(&path, 2, 5, "").unwrap_err();
        assert_eq!(err.code, crate::error::ErrorCode::InvalidPath);
        assert!(doc.splice_text(&path, 9, 0, "x").is_err());
        assert_eq!(text_of(&mut doc, &path), "abcd");
    }

    #[test]
    fn writes_on_wrong_types_explain_the_path() {
        let mut doc = Document::new();
        doc.set(&Path(vec![key("list")]), &V::List(vec![V::Scalar(1.into())])).unwrap();
        let err = doc.set(&Path(vec![key("list"), key("x")]), &V::Scalar(1.into())).unwrap_err();
        assert!(err.message.contains("is a list"), "{err}");
        let err = doc.splice_text(&Path(vec![key("list")]), 0, 0, "x").unwrap_err();
        assert!(err.message.contains("expected a text"), "{err}");
        let err = doc.delete(&Path(vec![key("missing")])).unwrap_err();
        assert!(err.message.contains("nothing at"), "{err}");
        let err = doc.increment(&Path(vec![key("list"), PathSeg::Index(0)]), 1).unwrap_err();
        assert!(err.message.contains("not a counter"), "{err}");
    }

    #[test]
    fn lists_insert_move_and_splice() {
        let mut doc = Document::new();
        let list = Path(vec![key("l")]);
        doc.set(&list, &V::List(vec![])).unwrap();
        doc.push(&list, &[V::Scalar("a".into()), V::Scalar("b".into())]).unwrap();
        doc.insert(&list, 0, &[V::Map(vec![("x".into(), V::Text("y".into()))])]).unwrap();
        doc.move_item(&list, 0, 2).unwrap();
        doc.splice_list(&list, 0, 1, &[V::Scalar(7.into())]).unwrap();
        let obj = doc.resolve(&list).unwrap().0;
        let d = doc.doc();
        assert_eq!(d.length(&obj), 3);
        assert_eq!(d.get(&obj, 0usize).unwrap().unwrap().0.as_i64(), Some(7));
        assert_eq!(d.get(&obj, 1usize).unwrap().unwrap().0.as_str(), Some("b"));
        let moved = doc.resolve(&Path(vec![key("l"), PathSeg::Index(2), key("x")])).unwrap();
        assert_eq!(moved.1, ObjType::Text);
        assert!(doc.move_item(&list, 0, 3).is_err());
    }

    #[test]
    fn counters_increment() {
        let mut doc = Document::new();
        let path = Path(vec![key("n")]);
        doc.set(&path, &V::Scalar(ScalarValue::counter(5))).unwrap();
        doc.increment(&path, 3).unwrap();
        let (value, _) = doc.doc().get(&ROOT, "n").unwrap().unwrap();
        assert_eq!(value.as_scalar().cloned(), Some(ScalarValue::counter(8)));
    }
}
