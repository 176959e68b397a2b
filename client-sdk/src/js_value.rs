//! Conversions between JavaScript and documents: paths and values in, plain frozen
//! JS values out, and `SdkError` as a JS `EdgeSyncError`.

use automerge::{ObjId, ObjType, ReadDoc, ScalarValue};
use js_sys::{Array, Date, Object, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use crate::error::{ErrorCode, SdkError};
use crate::path::{Path, PathSeg};
use crate::value::{NewValue, MAX_DEPTH};

#[wasm_bindgen(module = "/js/support.js")]
extern "C" {
    /// `new EdgeSyncError(code, message)`.
    #[wasm_bindgen(js_name = makeError)]
    fn make_error(code: &str, message: &str) -> JsValue;
    /// The brand of `Counter`/`ImmutableString` instances, or undefined.
    #[wasm_bindgen(js_name = brandOf)]
    fn brand_of(value: &JsValue) -> Option<String>;
    /// Whether the value is a plain object (`{...}` or `Object.create(null)`).
    #[wasm_bindgen(js_name = isPlainObject)]
    fn is_plain_object(value: &JsValue) -> bool;
    #[wasm_bindgen(js_name = makeCounter)]
    fn make_counter(value: f64) -> JsValue;
}

impl From<SdkError> for JsValue {
    fn from(err: SdkError) -> Self {
        make_error(err.code.as_str(), &err.message)
    }
}

pub type JsResult<T> = Result<T, JsValue>;

/// A path: an array of string keys and non-negative integer indices (a single
/// string is a one-segment path).
pub fn path_from_js(value: &JsValue) -> Result<Path, SdkError> {
    if let Some(key) = value.as_string() {
        return Ok(Path(vec![PathSeg::Key(key)]));
    }
    let Some(array) = value.dyn_ref::<Array>() else {
        return Err(SdkError::invalid_path("a path must be an array of keys and indices, like [\"todos\", 0, \"title\"]"));
    };
    let mut segs = Vec::with_capacity(array.length() as usize);
    for (i, seg) in array.iter().enumerate() {
        if let Some(key) = seg.as_string() {
            segs.push(PathSeg::Key(key));
        } else if let Some(n) = seg.as_f64() {
            segs.push(PathSeg::Index(index_from_f64(n).ok_or_else(|| {
                SdkError::invalid_path(format!("path segment {i} ({}) is not a valid list index", number_text(n)))
            })?));
        } else {
            return Err(SdkError::invalid_path(format!(
                "path segment {i} must be a string key or a numeric index, not {}",
                describe(&seg)
            )));
        }
    }
    Ok(Path(segs))
}

fn index_from_f64(n: f64) -> Option<usize> {
    (n.fract() == 0.0 && n >= 0.0 && n <= u32::MAX as f64).then_some(n as usize)
}

/// A list/text position or count argument.
pub fn index_from_js(value: f64, what: &str) -> Result<usize, SdkError> {
    index_from_f64(value).ok_or_else(|| SdkError::invalid_argument(format!("{what} must be a non-negative integer, got {}", number_text(value))))
}

/// A value to store. Rejects what a document cannot hold, naming where it is.
pub fn value_from_js(value: &JsValue) -> Result<NewValue, SdkError> {
    convert(value, &mut Vec::new(), 0)
}

fn convert(value: &JsValue, at: &mut Vec<String>, depth: usize) -> Result<NewValue, SdkError> {
    let fail = |at: &[String], why: String| {
        let place = if at.is_empty() { String::new() } else { format!(" at {}", at.join(".")) };
        Err(SdkError::invalid_value(format!("cannot store {why}{place}")))
    };
    if depth > MAX_DEPTH {
        return fail(at, format!("a value nested deeper than {MAX_DEPTH} levels (is it circular?)"));
    }
    if let Some(s) = value.as_string() {
        return Ok(NewValue::Text(s));
    }
    if let Some(n) = value.as_f64() {
        return Ok(NewValue::Scalar(number_to_scalar(n)));
    }
    if let Some(b) = value.as_bool() {
        return Ok(NewValue::Scalar(ScalarValue::Boolean(b)));
    }
    if value.is_null() {
        return Ok(NewValue::Scalar(ScalarValue::Null));
    }
    if value.is_bigint() {
        return match i64::try_from(value.clone()) {
            Ok(n) => Ok(NewValue::Scalar(ScalarValue::Int(n))),
            Err(_) => match u64::try_from(value.clone()) {
                Ok(n) => Ok(NewValue::Scalar(ScalarValue::Uint(n))),
                Err(_) => fail(at, "a BigInt outside the 64-bit range".into()),
            },
        };
    }
    if !value.is_object() {
        return fail(at, describe(value));
    }
    if let Some(array) = value.dyn_ref::<Array>() {
        let mut items = Vec::with_capacity(array.length() as usize);
        for (i, item) in array.iter().enumerate() {
            at.push(i.to_string());
            items.push(convert(&item, at, depth + 1)?);
            at.pop();
        }
        return Ok(NewValue::List(items));
    }
    if let Some(bytes) = value.dyn_ref::<Uint8Array>() {
        return Ok(NewValue::Scalar(ScalarValue::Bytes(bytes.to_vec())));
    }
    if let Some(date) = value.dyn_ref::<Date>() {
        let ms = date.get_time();
        if ms.is_nan() {
            return fail(at, "an invalid Date".into());
        }
        return Ok(NewValue::Scalar(ScalarValue::Timestamp(ms as i64)));
    }
    match brand_of(value).as_deref() {
        Some("counter") => {
            let n = Reflect::get(value, &"value".into()).ok().and_then(|v| v.as_f64()).unwrap_or(f64::NAN);
            if n.fract() != 0.0 || n.abs() > MAX_SAFE_INTEGER {
                return fail(at, format!("a Counter whose value is not a safe integer ({})", number_text(n)));
            }
            return Ok(NewValue::Scalar(ScalarValue::counter(n as i64)));
        }
        Some("immutable-string") => {
            let s = Reflect::get(value, &"value".into()).ok().and_then(|v| v.as_string()).unwrap_or_default();
            return Ok(NewValue::Scalar(ScalarValue::Str(s.into())));
        }
        _ => {}
    }
    if !is_plain_object(value) {
        return fail(at, format!("{} (only plain objects, arrays, strings, numbers, booleans, null, Date, Uint8Array, Counter and ImmutableString can be stored)", describe(value)));
    }
    let object: &Object = value.unchecked_ref();
    let mut entries = Vec::new();
    for entry in Object::entries(object).iter() {
        let pair: Array = entry.unchecked_into();
        let key = pair.get(0).as_string().unwrap_or_default();
        let item = pair.get(1);
        if item.is_undefined() {
            at.push(key);
            return fail(at, "undefined (delete the key instead, or store null)".into());
        }
        at.push(key.clone());
        let converted = convert(&item, at, depth + 1)?;
        at.pop();
        entries.push((key, converted));
    }
    Ok(NewValue::Map(entries))
}

/// A number as JavaScript prints it. Formatting through JS keeps Rust's float
/// formatting code (kilobytes of wasm) out of the package.
pub fn number_text(n: f64) -> String {
    js_sys::Number::from(n).to_string_with_radix(10).map(String::from).unwrap_or_default()
}

const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_991.0;

fn number_to_scalar(n: f64) -> ScalarValue {
    if n.fract() == 0.0 && n.abs() <= MAX_SAFE_INTEGER && !(n == 0.0 && n.is_sign_negative()) {
        ScalarValue::Int(n as i64)
    } else {
        ScalarValue::F64(n)
    }
}

/// A short description of a JS value's type for error messages.
pub fn describe(value: &JsValue) -> String {
    if value.is_undefined() {
        return "undefined".into();
    }
    if value.is_function() {
        return "a function".into();
    }
    if value.is_symbol() {
        return "a symbol".into();
    }
    if value.is_object() {
        let name = Reflect::get(value, &"constructor".into())
            .ok()
            .and_then(|c| Reflect::get(&c, &"name".into()).ok())
            .and_then(|n| n.as_string());
        return match name {
            Some(name) => format!("an instance of {name}"),
            None => "an object".into(),
        };
    }
    value.js_typeof().as_string().unwrap_or_else(|| "a value".into())
}

/// Materialises the object `obj` (map/list/text) as a frozen plain JS value.
pub fn object_to_js<D: ReadDoc>(doc: &D, obj: &ObjId, obj_type: ObjType) -> Result<JsValue, SdkError> {
    Ok(match obj_type {
        ObjType::Text => JsValue::from_str(&doc.text(obj)?),
        ObjType::List => {
            let array = Array::new();
            for item in doc.list_range(obj, ..) {
                array.push(&item_to_js(doc, item.value.clone().into(), &item.id())?);
            }
            Object::freeze(&array).into()
        }
        ObjType::Map | ObjType::Table => {
            let object = Object::new();
            for item in doc.map_range(obj, ..) {
                let value = item_to_js(doc, item.value.clone().into(), &item.id())?;
                Reflect::set(&object, &JsValue::from_str(&item.key), &value)
                    .map_err(|_| SdkError::internal("could not build a JS object"))?;
            }
            Object::freeze(&object).into()
        }
    })
}

fn item_to_js<D: ReadDoc>(doc: &D, value: automerge::Value<'_>, id: &ObjId) -> Result<JsValue, SdkError> {
    match value {
        automerge::Value::Object(obj_type) => object_to_js(doc, id, obj_type),
        automerge::Value::Scalar(scalar) => Ok(scalar_to_js(&scalar)),
    }
}

pub fn scalar_to_js(scalar: &ScalarValue) -> JsValue {
    match scalar {
        ScalarValue::Str(s) => JsValue::from_str(s),
        ScalarValue::Int(n) => int_to_js(*n as i128),
        ScalarValue::Uint(n) => int_to_js(*n as i128),
        ScalarValue::F64(n) => JsValue::from_f64(*n),
        ScalarValue::Counter(c) => make_counter(i64::from(c) as f64),
        ScalarValue::Timestamp(ms) => Date::new(&JsValue::from_f64(*ms as f64)).into(),
        ScalarValue::Boolean(b) => JsValue::from_bool(*b),
        ScalarValue::Bytes(bytes) => Uint8Array::from(bytes.as_slice()).into(),
        ScalarValue::Unknown { bytes, .. } => Uint8Array::from(bytes.as_slice()).into(),
        ScalarValue::Null => JsValue::NULL,
    }
}

/// Integers beyond 2^53 come back as BigInt rather than silently losing precision.
fn int_to_js(n: i128) -> JsValue {
    if (n as f64).abs() <= MAX_SAFE_INTEGER {
        JsValue::from_f64(n as f64)
    } else if let Ok(small) = i64::try_from(n) {
        JsValue::from(small)
    } else {
        JsValue::from(n as u64)
    }
}

/// `{ code, message }` for statuses.
pub fn error_object(code: ErrorCode, message: &str) -> JsValue {
    let object = Object::new();
    let _ = Reflect::set(&object, &"code".into(), &code.as_str().into());
    let _ = Reflect::set(&object, &"message".into(), &message.into());
    object.into()
}
