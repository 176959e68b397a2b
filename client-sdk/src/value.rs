//! Values to write into a document, independent of JavaScript (see `js_value` for
//! the conversion from JS), and reading a subtree back in that form.

use automerge::{ObjId, ObjType, Prop, ReadDoc, ScalarValue};

use crate::error::SdkError;

/// A value to store. Strings become collaborative text objects, as in automerge-js;
/// `Scalar(Str)` is an atomic string (JavaScript `ImmutableString`).
#[derive(Debug, Clone, PartialEq)]
pub enum NewValue {
    Scalar(ScalarValue),
    Text(String),
    /// Keys in the caller's order (automerge itself orders them).
    Map(Vec<(String, NewValue)>),
    List(Vec<NewValue>),
}

impl NewValue {
    pub fn obj_type(&self) -> ObjType {
        match self {
            NewValue::Map(_) | NewValue::Scalar(_) => ObjType::Map,
            NewValue::List(_) => ObjType::List,
            NewValue::Text(_) => ObjType::Text,
        }
    }
}

/// Deepest nesting accepted when writing or copying a value: deep enough for any
/// real document, shallow enough that recursion can never exhaust the wasm stack.
pub const MAX_DEPTH: usize = 200;

/// Reads the value at `prop` of `obj` as a [`NewValue`] (to copy it elsewhere).
pub fn read_new_value<D: ReadDoc>(doc: &D, obj: &ObjId, prop: Prop) -> Result<Option<NewValue>, SdkError> {
    match doc.get(obj, prop)? {
        None => Ok(None),
        Some((value, id)) => read_value(doc, value, &id, 0).map(Some),
    }
}

fn read_value<D: ReadDoc>(doc: &D, value: automerge::Value<'_>, id: &ObjId, depth: usize) -> Result<NewValue, SdkError> {
    if depth > MAX_DEPTH {
        return Err(SdkError::invalid_value(format!("value is nested deeper than {MAX_DEPTH} levels")));
    }
    Ok(match value {
        automerge::Value::Scalar(scalar) => NewValue::Scalar(scalar.into_owned()),
        automerge::Value::Object(ObjType::Text) => NewValue::Text(doc.text(id)?),
        automerge::Value::Object(ObjType::List) => {
            let mut items = Vec::new();
            for item in doc.list_range(id, ..) {
                items.push(read_value(doc, item.value.clone().into(), &item.id(), depth + 1)?);
            }
            NewValue::List(items)
        }
        automerge::Value::Object(ObjType::Map | ObjType::Table) => {
            let mut entries = Vec::new();
            for item in doc.map_range(id, ..) {
                let child_id = item.id();
                entries.push((item.key.to_string(), read_value(doc, item.value.clone().into(), &child_id, depth + 1)?));
            }
            NewValue::Map(entries)
        }
    })
}
