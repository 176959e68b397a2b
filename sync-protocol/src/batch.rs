//! The `SyncBatch` envelope (PROTOCOL.md, "SyncBatch"): many documents' automerge
//! sync messages in one request or response.
//!
//! Decoding never panics and never trusts a length: every malformed input is a
//! [`BatchDecodeError`], and nothing of a malformed batch is returned.

use std::collections::HashSet;

use crate::doc_id::{DocId, InvalidDocId};
use crate::error::{ApiError, ErrorCode};
use crate::leb128;

/// First four bytes of every batch.
pub const BATCH_MAGIC: [u8; 4] = *b"EDGS";
/// The batch format version this crate writes and reads.
pub const PROTOCOL_VERSION: u8 = 1;
/// Most documents one batch may carry.
pub const MAX_BATCH_DOCS: usize = 256;

const KIND_REQUEST: u8 = 0x01;
const KIND_RESPONSE: u8 = 0x02;
const STATUS_OK: u8 = 0x00;
const STATUS_ERROR: u8 = 0x01;

/// One document's automerge sync message in a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocMessage {
    pub doc: DocId,
    /// An encoded `automerge::sync::Message`, decoded per document so that one
    /// corrupt message fails only its own entry.
    pub message: Vec<u8>,
}

/// One document's answer in a response: a sync message or an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocReply {
    pub doc: DocId,
    pub outcome: Result<Vec<u8>, ApiError>,
}

/// `kind = request`: what a client (or a replicating region) sends.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncBatchRequest {
    pub entries: Vec<DocMessage>,
}

/// `kind = response`: one entry per request entry, in the same order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncBatchResponse {
    pub entries: Vec<DocReply>,
}

/// Why bytes are not a valid batch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchDecodeError {
    #[error("not a sync batch: the body must start with \"EDGS\"")]
    BadMagic,
    #[error("sync batch version {0} is not supported; this server speaks version {PROTOCOL_VERSION}")]
    UnsupportedVersion(u8),
    #[error("expected a batch {expected}, found kind byte {found:#04x}")]
    WrongKind { expected: &'static str, found: u8 },
    #[error("the batch is truncated ({0})")]
    Truncated(&'static str),
    #[error("a length field does not fit in 64 bits ({0})")]
    LengthOverflow(&'static str),
    #[error("the batch carries {0} documents; at most {MAX_BATCH_DOCS} are allowed")]
    TooManyDocs(u64),
    #[error("entry {index}: document id is not UTF-8")]
    IdNotUtf8 { index: usize },
    #[error("entry {index}: {source}")]
    InvalidDocId { index: usize, source: InvalidDocId },
    #[error("entry {index}: document {doc} appears twice in one batch")]
    DuplicateDocId { index: usize, doc: DocId },
    #[error("entry {index}: status byte {status:#04x} is not valid here")]
    BadStatus { index: usize, status: u8 },
    #[error("entry {index}: the error payload is not a JSON {{\"code\",\"message\"}} object")]
    BadErrorPayload { index: usize },
    #[error("{0} unexpected bytes after the last entry")]
    TrailingBytes(usize),
}

impl BatchDecodeError {
    /// The API error a server answers with (PROTOCOL.md: 400 `malformed_message`
    /// or `unsupported_version`).
    pub fn to_api_error(&self) -> ApiError {
        let code = match self {
            Self::UnsupportedVersion(_) => ErrorCode::UnsupportedVersion,
            _ => ErrorCode::MalformedMessage,
        };
        ApiError::new(code, self.to_string())
    }
}

impl From<BatchDecodeError> for ApiError {
    fn from(e: BatchDecodeError) -> Self {
        e.to_api_error()
    }
}

impl SyncBatchRequest {
    pub fn encode(&self) -> Vec<u8> {
        let size = self.entries.iter().map(|e| e.doc.as_str().len() + e.message.len() + 12).sum();
        let mut out = header(KIND_REQUEST, self.entries.len(), size);
        for entry in &self.entries {
            write_entry(&mut out, &entry.doc, STATUS_OK, &entry.message);
        }
        out
    }

    pub fn decode(input: &[u8]) -> Result<Self, BatchDecodeError> {
        let entries = decode_entries(input, KIND_REQUEST, |index, doc, status, payload| {
            if status != STATUS_OK {
                return Err(BatchDecodeError::BadStatus { index, status });
            }
            Ok(DocMessage { doc, message: payload.to_vec() })
        })?;
        Ok(Self { entries })
    }
}

impl SyncBatchResponse {
    pub fn encode(&self) -> Vec<u8> {
        let size = self
            .entries
            .iter()
            .map(|e| e.doc.as_str().len() + e.outcome.as_ref().map_or(64, Vec::len) + 12)
            .sum();
        let mut out = header(KIND_RESPONSE, self.entries.len(), size);
        for entry in &self.entries {
            match &entry.outcome {
                Ok(message) => write_entry(&mut out, &entry.doc, STATUS_OK, message),
                Err(error) => {
                    // Serializing two plain fields cannot fail; fall back to a fixed body anyway.
                    let json = serde_json::to_vec(error).unwrap_or_else(|_| {
                        br#"{"code":"internal","message":"unserializable error"}"#.to_vec()
                    });
                    write_entry(&mut out, &entry.doc, STATUS_ERROR, &json)
                }
            }
        }
        out
    }

    pub fn decode(input: &[u8]) -> Result<Self, BatchDecodeError> {
        Self::decode_with(input, |payload| serde_json::from_slice(payload).ok())
    }

    /// Like [`Self::decode`], with the caller reading each error entry's JSON
    /// `{"code","message"}` payload (`None`: not such an object). A browser client
    /// passes the browser's own JSON parser and so links no JSON code at all.
    pub fn decode_with(
        input: &[u8],
        mut parse_error: impl FnMut(&[u8]) -> Option<ApiError>,
    ) -> Result<Self, BatchDecodeError> {
        let entries = decode_entries(input, KIND_RESPONSE, |index, doc, status, payload| {
            let outcome = match status {
                STATUS_OK => Ok(payload.to_vec()),
                STATUS_ERROR => Err(parse_error(payload).ok_or(BatchDecodeError::BadErrorPayload { index })?),
                status => return Err(BatchDecodeError::BadStatus { index, status }),
            };
            Ok(DocReply { doc, outcome })
        })?;
        Ok(Self { entries })
    }
}

fn header(kind: u8, count: usize, payload_hint: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + payload_hint);
    out.extend_from_slice(&BATCH_MAGIC);
    out.push(PROTOCOL_VERSION);
    out.push(kind);
    leb128::write(&mut out, count as u64);
    out
}

fn write_entry(out: &mut Vec<u8>, doc: &DocId, status: u8, payload: &[u8]) {
    leb128::write(out, doc.as_str().len() as u64);
    out.extend_from_slice(doc.as_str().as_bytes());
    out.push(status);
    leb128::write(out, payload.len() as u64);
    out.extend_from_slice(payload);
}

/// A cursor over untrusted input; every read is bounds-checked.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn byte(&mut self, what: &'static str) -> Result<u8, BatchDecodeError> {
        let (&first, rest) = self.rest.split_first().ok_or(BatchDecodeError::Truncated(what))?;
        self.rest = rest;
        Ok(first)
    }

    fn uleb(&mut self, what: &'static str) -> Result<u64, BatchDecodeError> {
        let (value, rest) = leb128::read(self.rest).map_err(|e| match e {
            leb128::ReadError::Truncated => BatchDecodeError::Truncated(what),
            leb128::ReadError::Overflow => BatchDecodeError::LengthOverflow(what),
        })?;
        self.rest = rest;
        Ok(value)
    }

    /// A length-prefixed byte string; the length is checked against what is left
    /// before anything is allocated.
    fn bytes(&mut self, what: &'static str) -> Result<&'a [u8], BatchDecodeError> {
        let len = self.uleb(what)?;
        let len = usize::try_from(len).map_err(|_| BatchDecodeError::Truncated(what))?;
        if len > self.rest.len() {
            return Err(BatchDecodeError::Truncated(what));
        }
        let (taken, rest) = self.rest.split_at(len);
        self.rest = rest;
        Ok(taken)
    }
}

fn decode_entries<T>(
    input: &[u8],
    expected_kind: u8,
    mut entry: impl FnMut(usize, DocId, u8, &[u8]) -> Result<T, BatchDecodeError>,
) -> Result<Vec<T>, BatchDecodeError> {
    let Some(rest) = input.strip_prefix(&BATCH_MAGIC) else {
        return Err(BatchDecodeError::BadMagic);
    };
    let mut reader = Reader { rest };
    let version = reader.byte("version")?;
    if version != PROTOCOL_VERSION {
        return Err(BatchDecodeError::UnsupportedVersion(version));
    }
    let kind = reader.byte("kind")?;
    if kind != expected_kind {
        let expected = if expected_kind == KIND_REQUEST { "request" } else { "response" };
        return Err(BatchDecodeError::WrongKind { expected, found: kind });
    }
    let count = reader.uleb("document count")?;
    if count > MAX_BATCH_DOCS as u64 {
        return Err(BatchDecodeError::TooManyDocs(count));
    }
    // `count` is bounded above, so this allocation is too.
    let mut entries = Vec::with_capacity(count as usize);
    let mut seen = HashSet::with_capacity(count as usize);
    for index in 0..count as usize {
        let raw_id = reader.bytes("document id")?;
        let id = std::str::from_utf8(raw_id).map_err(|_| BatchDecodeError::IdNotUtf8 { index })?;
        let doc = DocId::parse(id).map_err(|source| BatchDecodeError::InvalidDocId { index, source })?;
        let status = reader.byte("status")?;
        let payload = reader.bytes("payload")?;
        if !seen.insert(doc.clone()) {
            return Err(BatchDecodeError::DuplicateDocId { index, doc });
        }
        entries.push(entry(index, doc, status, payload)?);
    }
    if !reader.rest.is_empty() {
        return Err(BatchDecodeError::TrailingBytes(reader.rest.len()));
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn doc(id: &str) -> DocId {
        DocId::parse(id).unwrap()
    }

    fn arb_doc_id() -> impl Strategy<Value = DocId> {
        "[A-Za-z0-9_-]{1,128}".prop_map(|s| DocId::parse(&s).unwrap())
    }

    fn arb_request() -> impl Strategy<Value = SyncBatchRequest> {
        proptest::collection::btree_map(arb_doc_id(), proptest::collection::vec(any::<u8>(), 0..64), 0..12)
            .prop_map(|m| SyncBatchRequest {
                entries: m.into_iter().map(|(doc, message)| DocMessage { doc, message }).collect(),
            })
    }

    fn arb_response() -> impl Strategy<Value = SyncBatchResponse> {
        let outcome = prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..64).prop_map(Ok),
            ".{0,40}".prop_map(|m| Err(ApiError::new(ErrorCode::Forbidden, m))),
        ];
        proptest::collection::btree_map(arb_doc_id(), outcome, 0..12).prop_map(|m| SyncBatchResponse {
            entries: m.into_iter().map(|(doc, outcome)| DocReply { doc, outcome }).collect(),
        })
    }

    proptest! {
        #[test]
        fn request_round_trips(batch in arb_request()) {
            prop_assert_eq!(SyncBatchRequest::decode(&batch.encode()), Ok(batch));
        }

        #[test]
        fn response_round_trips(batch in arb_response()) {
            prop_assert_eq!(SyncBatchResponse::decode(&batch.encode()), Ok(batch));
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = SyncBatchRequest::decode(&bytes);
            let _ = SyncBatchResponse::decode(&bytes);
        }

        #[test]
        fn garbage_after_a_valid_header_never_panics(tail in proptest::collection::vec(any::<u8>(), 0..256)) {
            let mut bytes = b"EDGS\x01\x01".to_vec();
            bytes.extend_from_slice(&tail);
            let _ = SyncBatchRequest::decode(&bytes);
            bytes[5] = 2;
            let _ = SyncBatchResponse::decode(&bytes);
        }

        #[test]
        fn every_strict_prefix_is_rejected(batch in arb_request()) {
            let bytes = batch.encode();
            for cut in 0..bytes.len() {
                prop_assert!(SyncBatchRequest::decode(&bytes[..cut]).is_err());
            }
        }

        #[test]
        fn trailing_bytes_are_rejected(batch in arb_request(), extra in proptest::collection::vec(any::<u8>(), 1..8)) {
            let mut bytes = batch.encode();
            bytes.extend_from_slice(&extra);
            prop_assert!(SyncBatchRequest::decode(&bytes).is_err());
        }
    }

    #[test]
    fn known_bytes() {
        let batch = SyncBatchRequest { entries: vec![DocMessage { doc: doc("ab"), message: vec![0x42, 7] }] };
        assert_eq!(batch.encode(), b"EDGS\x01\x01\x01\x02ab\x00\x02\x42\x07".to_vec());
    }

    #[test]
    fn typed_errors() {
        let ok = SyncBatchRequest { entries: vec![DocMessage { doc: doc("a"), message: vec![1] }] }.encode();
        assert_eq!(SyncBatchRequest::decode(b"HTTP"), Err(BatchDecodeError::BadMagic));
        let mut v2 = ok.clone();
        v2[4] = 2;
        let err = SyncBatchRequest::decode(&v2).unwrap_err();
        assert_eq!(err, BatchDecodeError::UnsupportedVersion(2));
        assert_eq!(err.to_api_error().code, ErrorCode::UnsupportedVersion);
        assert!(matches!(SyncBatchResponse::decode(&ok), Err(BatchDecodeError::WrongKind { .. })));

        let mut bad_status = ok.clone();
        bad_status[9] = 1;
        assert_eq!(SyncBatchRequest::decode(&bad_status), Err(BatchDecodeError::BadStatus { index: 0, status: 1 }));

        let too_many = b"EDGS\x01\x01\x81\x02".to_vec(); // 257
        assert_eq!(SyncBatchRequest::decode(&too_many), Err(BatchDecodeError::TooManyDocs(257)));

        let huge_len = b"EDGS\x01\x01\x01\xff\xff\xff\xff\x0f".to_vec();
        assert!(matches!(SyncBatchRequest::decode(&huge_len), Err(BatchDecodeError::Truncated(_))));

        let bad_id = b"EDGS\x01\x01\x01\x02a/\x00\x00".to_vec();
        assert!(matches!(SyncBatchRequest::decode(&bad_id), Err(BatchDecodeError::InvalidDocId { index: 0, .. })));

        let dup = SyncBatchRequest {
            entries: vec![
                DocMessage { doc: doc("a"), message: vec![] },
                DocMessage { doc: doc("a"), message: vec![] },
            ],
        }
        .encode();
        assert!(matches!(SyncBatchRequest::decode(&dup), Err(BatchDecodeError::DuplicateDocId { index: 1, .. })));

        let bad_err = b"EDGS\x01\x02\x01\x01a\x01\x02{}".to_vec();
        assert_eq!(SyncBatchResponse::decode(&bad_err), Err(BatchDecodeError::BadErrorPayload { index: 0 }));
        for e in [BatchDecodeError::BadMagic, BatchDecodeError::TrailingBytes(3)] {
            assert_eq!(e.to_api_error().code, ErrorCode::MalformedMessage);
        }
    }

    #[test]
    fn decode_with_hands_error_payloads_to_the_callers_parser() {
        let response = SyncBatchResponse {
            entries: vec![
                DocReply { doc: doc("a"), outcome: Ok(vec![7]) },
                DocReply { doc: doc("b"), outcome: Err(ApiError::new(ErrorCode::Forbidden, "no")) },
            ],
        }
        .encode();
        let mut seen = Vec::new();
        let decoded = SyncBatchResponse::decode_with(&response, |payload| {
            seen.push(payload.to_vec());
            Some(ApiError::new(ErrorCode::Internal, "parsed by the caller"))
        })
        .unwrap();
        assert_eq!(seen, vec![br#"{"code":"forbidden","message":"no"}"#.to_vec()]);
        assert_eq!(decoded.entries[0].outcome, Ok(vec![7]));
        assert_eq!(decoded.entries[1].outcome, Err(ApiError::new(ErrorCode::Internal, "parsed by the caller")));
        assert_eq!(
            SyncBatchResponse::decode_with(&response, |_| None),
            Err(BatchDecodeError::BadErrorPayload { index: 1 })
        );
    }
}
