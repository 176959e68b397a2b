//! A gap buffer of UTF-16 code units: edits near the previous edit cost O(distance
//! moved), not O(length), which is what typing into a long pending splice needs.

#[derive(Debug, Default)]
pub struct GapBuffer {
    /// Content before the gap, then `gap_len` unused units, then content after it.
    units: Vec<u16>,
    gap_start: usize,
    gap_len: usize,
}

impl GapBuffer {
    pub fn len(&self) -> usize {
        self.units.len() - self.gap_len
    }

    /// Replaces `delete` units at `at` with `insert`. The caller guarantees
    /// `at + delete <= len()`.
    pub fn splice(&mut self, at: usize, delete: usize, insert: &[u16]) {
        debug_assert!(at + delete <= self.len());
        self.move_gap_to(at);
        // Deleting after the gap start just widens the gap.
        self.gap_len += delete;
        if insert.len() > self.gap_len {
            self.grow(insert.len());
        }
        self.units[self.gap_start..self.gap_start + insert.len()].copy_from_slice(insert);
        self.gap_start += insert.len();
        self.gap_len -= insert.len();
    }

    /// The content as a string; unpaired surrogates (an edit that split a pair)
    /// become U+FFFD, as they would in any UTF-8 store.
    pub fn to_string_lossy(&self) -> String {
        let after = self.gap_start + self.gap_len;
        char::decode_utf16(self.units[..self.gap_start].iter().chain(&self.units[after..]).copied())
            .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
            .collect()
    }

    fn move_gap_to(&mut self, at: usize) {
        if at < self.gap_start {
            let moved = self.gap_start - at;
            self.units.copy_within(at..self.gap_start, at + self.gap_len);
            self.gap_start -= moved;
        } else if at > self.gap_start {
            let moved = at - self.gap_start;
            let after = self.gap_start + self.gap_len;
            self.units.copy_within(after..after + moved, self.gap_start);
            self.gap_start += moved;
        }
    }

    /// Makes the gap at least `needed` long, doubling the buffer to keep appends amortised O(1).
    fn grow(&mut self, needed: usize) {
        let extra = (needed - self.gap_len).max(self.units.len()).max(16);
        let after = self.gap_start + self.gap_len;
        let tail_len = self.units.len() - after;
        self.units.resize(self.units.len() + extra, 0);
        let new_after = self.units.len() - tail_len;
        self.units.copy_within(after..after + tail_len, new_after);
        self.gap_len += extra;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn units(s: &str) -> Vec<u16> {
        s.encode_utf16().collect()
    }

    #[test]
    fn edits_anywhere_match_a_plain_vector() {
        let mut gap = GapBuffer::default();
        let mut plain: Vec<u16> = Vec::new();
        let edits: &[(usize, usize, &str)] = &[
            (0, 0, "hello"),
            (5, 0, " world"),
            (0, 1, "J"),
            (11, 0, "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"),
            (3, 4, ""),
            (1, 0, "😀"),
            (2, 0, "x"),
        ];
        for &(at, delete, insert) in edits {
            gap.splice(at, delete, &units(insert));
            plain.splice(at..at + delete, units(insert));
            assert_eq!(gap.len(), plain.len());
            assert_eq!(gap.to_string_lossy(), String::from_utf16_lossy(&plain));
        }
    }
}
