//! Coalescing of consecutive text splices inside one open automerge transaction.
//!
//! Typing produces one tiny splice per keystroke, and automerge pays a large fixed
//! cost per splice call (seeking the position in its op set). Keystrokes that touch
//! the region edited just before (typing on, backspacing, fixing a typo) are merged
//! here into a single pending "replace `deleted` units at `start` with `inserted`",
//! which is handed to automerge in one call when anything else needs the document.
//! Only edits that are not yet committed are merged, so no other peer can have seen
//! the intermediate states: the resulting document is exactly the same.
//!
//! Positions are UTF-16 code units, like JavaScript string indices.

use crate::gap_buffer::GapBuffer;

/// One pending replacement of a text object's content, in UTF-16 code units.
#[derive(Debug, Default)]
pub struct PendingSplice {
    /// Where the replaced range starts (same in the text before and after).
    start: usize,
    /// How many units of the text as it was before the pending splice are removed.
    deleted: usize,
    /// What replaces them.
    inserted: GapBuffer,
}

/// A splice to hand to automerge: replace `deleted` units at `start` with `inserted`.
#[derive(Debug, PartialEq, Eq)]
pub struct Splice {
    pub start: usize,
    pub deleted: usize,
    pub inserted: String,
}

impl PendingSplice {
    pub fn new(start: usize, deleted: usize, inserted: &[u16]) -> Self {
        let mut buffer = GapBuffer::default();
        buffer.splice(0, 0, inserted);
        Self { start, deleted, inserted: buffer }
    }

    /// Merges the splice `(index, delete, insert)`, expressed against the text as it
    /// is with this pending splice applied. Returns false (and changes nothing)
    /// when the splice does not touch the pending region, or when `index`/`delete`
    /// go beyond `text_len` (the current length), which the caller must report.
    pub fn try_merge(&mut self, index: usize, delete: usize, insert: &[u16], text_len: usize) -> bool {
        let region_end = self.start + self.inserted.len();
        let Some(end) = index.checked_add(delete) else { return false };
        if end > text_len || end < self.start || index > region_end {
            return false;
        }
        // Units deleted before the region belong to the text before this splice...
        let before = self.start.saturating_sub(index);
        // ...as do units deleted after it.
        let after = end.saturating_sub(region_end);
        let cut_from = index.max(self.start) - self.start;
        let cut_to = end.min(region_end) - self.start;
        self.inserted.splice(cut_from, cut_to - cut_from, insert);
        if before > 0 {
            self.start = index;
        }
        self.deleted += before + after;
        true
    }

    /// The splice as automerge takes it.
    pub fn into_splice(self) -> Splice {
        Splice { start: self.start, deleted: self.deleted, inserted: self.inserted.to_string_lossy() }
    }

    /// Length change of the text caused by this splice (after minus before).
    pub fn length_delta(&self) -> isize {
        self.inserted.len() as isize - self.deleted as isize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utf16(s: &str) -> Vec<u16> {
        s.encode_utf16().collect()
    }

    /// Applies splices one by one to a plain string and through the coalescer, and
    /// checks that both give the same text.
    fn check(base: &str, edits: &[(usize, usize, &str)]) {
        let mut expected: Vec<u16> = utf16(base);
        let mut actual: Vec<u16> = utf16(base);
        let mut pending: Option<PendingSplice> = None;
        let apply = |text: &mut Vec<u16>, s: Splice| {
            text.splice(s.start..s.start + s.deleted, utf16(&s.inserted));
        };
        for &(index, delete, insert) in edits {
            expected.splice(index..index + delete, utf16(insert));
            let merged = pending.as_mut().is_some_and(|p| {
                let len = (actual.len() as isize + p.length_delta()) as usize;
                p.try_merge(index, delete, &utf16(insert), len)
            });
            if !merged {
                if let Some(p) = pending.take() {
                    apply(&mut actual, p.into_splice());
                }
                pending = Some(PendingSplice::new(index, delete, &utf16(insert)));
            }
        }
        if let Some(p) = pending.take() {
            apply(&mut actual, p.into_splice());
        }
        assert_eq!(String::from_utf16(&actual).unwrap(), String::from_utf16(&expected).unwrap());
    }

    #[test]
    fn typing_forward_merges() {
        let mut p = PendingSplice::new(3, 0, &utf16("a"));
        assert!(p.try_merge(4, 0, &utf16("b"), 10));
        assert!(p.try_merge(5, 0, &utf16("c"), 11));
        assert_eq!(p.into_splice(), Splice { start: 3, deleted: 0, inserted: "abc".into() });
    }

    #[test]
    fn backspace_into_existing_text_extends_the_deletion() {
        let mut p = PendingSplice::new(5, 0, &utf16("x"));
        assert!(p.try_merge(5, 1, &[], 11)); // delete the x again
        assert!(p.try_merge(4, 1, &[], 10)); // then one existing char
        assert_eq!(p.into_splice(), Splice { start: 4, deleted: 1, inserted: String::new() });
    }

    #[test]
    fn edits_elsewhere_do_not_merge() {
        let mut p = PendingSplice::new(5, 0, &utf16("x"));
        assert!(!p.try_merge(2, 0, &utf16("y"), 11));
        assert!(!p.try_merge(8, 1, &[], 11));
        assert!(!p.try_merge(6, 10, &[], 11), "past the end of the text");
    }

    #[test]
    fn sequences_match_plain_application() {
        check("hello world", &[(5, 0, ","), (6, 0, "!"), (6, 1, ""), (11, 1, ""), (0, 5, "HELLO")]);
        check("abc", &[(3, 0, "d"), (3, 1, "xy"), (2, 0, "é😀"), (0, 7, "")]);
        check("", &[(0, 0, "a"), (1, 0, "b"), (0, 0, "c"), (1, 1, "")]);
        check("0123456789", &[(5, 0, "ab"), (4, 4, "Z"), (3, 2, ""), (3, 0, "q")]);
    }

    #[test]
    fn random_edit_sequences_match_plain_application() {
        // A small deterministic generator: proptest is not worth its wasm-size cost here.
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n.max(1) as u64) as usize
        };
        for _ in 0..200 {
            let mut len = 20;
            let mut edits = Vec::new();
            let mut cursor = next(len);
            for _ in 0..40 {
                let jump = next(10) == 0;
                if jump {
                    cursor = next(len + 1);
                }
                cursor = cursor.min(len);
                let delete = next(3).min(len - cursor);
                let insert = ["", "a", "bc", "d"][next(4)];
                edits.push((cursor, delete, insert));
                len = len - delete + insert.len();
                cursor += insert.len();
            }
            let owned: Vec<(usize, usize, &str)> = edits.clone();
            check("abcdefghijklmnopqrst", &owned);
        }
    }
}
