//! Unsigned LEB128, as used by automerge: the length prefix of every batch field.

/// Appends `value` as unsigned LEB128.
pub(crate) fn write(out: &mut Vec<u8>, mut value: u64) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// Why a LEB128 number could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReadError {
    /// The input ended inside the number.
    Truncated,
    /// More than 64 bits: no honest encoder writes this.
    Overflow,
}

/// Reads one number from the front of `input`, returning it and the rest.
pub(crate) fn read(input: &[u8]) -> Result<(u64, &[u8]), ReadError> {
    let mut value: u64 = 0;
    for (index, byte) in input.iter().enumerate() {
        let shift = 7 * index as u32;
        let bits = u64::from(byte & 0x7f);
        // The 10th byte may only contribute the single top bit.
        if shift >= 64 || (shift == 63 && bits > 1) {
            return Err(ReadError::Overflow);
        }
        value |= bits << shift;
        if byte & 0x80 == 0 {
            return Ok((value, &input[index + 1..]));
        }
    }
    Err(ReadError::Truncated)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn round_trips(value: u64, tail: Vec<u8>) {
            let mut buf = Vec::new();
            write(&mut buf, value);
            buf.extend_from_slice(&tail);
            prop_assert_eq!(read(&buf), Ok((value, tail.as_slice())));
        }
    }

    #[test]
    fn rejects_truncated_and_overlong() {
        assert_eq!(read(&[]), Err(ReadError::Truncated));
        assert_eq!(read(&[0x80]), Err(ReadError::Truncated));
        assert_eq!(read(&[0xff; 10]), Err(ReadError::Overflow));
        assert_eq!(read(&[0xff; 11]), Err(ReadError::Overflow));
        let mut max = Vec::new();
        write(&mut max, u64::MAX);
        assert_eq!(read(&max), Ok((u64::MAX, &[][..])));
    }
}
