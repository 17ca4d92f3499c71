//! The plaintext of an application message: a text padded to a size bucket, so the server
//! (which sees ciphertext sizes) learns only the bucket.
//!
//! Layout: `kind: u8 (1 = UTF-8 text) | len: u16 BE | text | zeros`, where the text plus
//! zeros fill the smallest bucket that holds the text. Buckets are the powers of two from
//! 64 to 16,384 bytes: 64, 128, 256, ..., 16,384 ([`bucket_for`]). Every text of one bucket
//! makes a ciphertext of the same size. The kind byte leaves room for other contents later;
//! an unknown kind is refused, not guessed at.

use crate::error::{E2eeError, Result};

/// The longest text, in bytes: the protocol's largest message body.
pub const MAX_TEXT_BYTES: usize = chat_proto::MAX_BODY_BYTES;
/// The smallest bucket, in bytes.
pub const MIN_BUCKET_BYTES: usize = 64;

const KIND_TEXT: u8 = 1;
const HEADER_BYTES: usize = 3;

/// The bucket a text of `len` bytes is padded to, or `None` past [`MAX_TEXT_BYTES`].
pub fn bucket_for(len: usize) -> Option<usize> {
    (len <= MAX_TEXT_BYTES).then(|| len.next_power_of_two().max(MIN_BUCKET_BYTES))
}

/// The padded plaintext of `text`.
pub(crate) fn pad(text: &str) -> Result<Vec<u8>> {
    let too_long = || E2eeError::TextTooLong {
        len: text.len(),
        max: MAX_TEXT_BYTES,
    };
    let bucket = bucket_for(text.len()).ok_or_else(too_long)?;
    let len = u16::try_from(text.len()).map_err(|_| too_long())?;
    let mut out = Vec::with_capacity(HEADER_BYTES + bucket);
    out.push(KIND_TEXT);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(text.as_bytes());
    out.resize(HEADER_BYTES + bucket, 0);
    Ok(out)
}

/// The text inside a padded plaintext; refuses anything [`pad`] would not have made.
pub(crate) fn unpad(plaintext: &[u8]) -> Result<String> {
    let bad = |reason: &str| E2eeError::BadPayload {
        reason: reason.to_string(),
    };
    let (&kind, rest) = plaintext.split_first().ok_or_else(|| bad("empty"))?;
    if kind != KIND_TEXT {
        return Err(bad("unknown content kind"));
    }
    let (len, rest) = rest.split_first_chunk::<2>().ok_or_else(|| bad("no length"))?;
    let len = u16::from_be_bytes(*len) as usize;
    if bucket_for(len) != Some(rest.len()) {
        return Err(bad("padding does not match the text's bucket"));
    }
    let (text, zeros) = rest.split_at(len);
    if zeros.iter().any(|&b| b != 0) {
        return Err(bad("padding is not zeros"));
    }
    String::from_utf8(text.to_vec()).map_err(|_| bad("text is not UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_powers_of_two_from_64() {
        assert_eq!(bucket_for(0), Some(64));
        assert_eq!(bucket_for(64), Some(64));
        assert_eq!(bucket_for(65), Some(128));
        assert_eq!(bucket_for(1000), Some(1024));
        assert_eq!(bucket_for(MAX_TEXT_BYTES), Some(16 * 1024));
        assert_eq!(bucket_for(MAX_TEXT_BYTES + 1), None);
    }

    #[test]
    fn texts_round_trip_and_fill_their_bucket() {
        for text in ["", "hi", "ü€𝄞", &"x".repeat(64), &"y".repeat(MAX_TEXT_BYTES)] {
            let padded = pad(text).unwrap();
            assert_eq!(padded.len(), HEADER_BYTES + bucket_for(text.len()).unwrap());
            assert_eq!(unpad(&padded).unwrap(), text);
        }
        assert_eq!(pad("a").unwrap().len(), pad(&"b".repeat(60)).unwrap().len());
    }

    #[test]
    fn too_long_texts_are_refused() {
        let err = pad(&"z".repeat(MAX_TEXT_BYTES + 1)).unwrap_err();
        assert!(matches!(err, E2eeError::TextTooLong { len, .. } if len == MAX_TEXT_BYTES + 1));
    }

    #[test]
    fn anything_pad_would_not_make_is_refused() {
        let good = pad("hello").unwrap();
        let mut wrong_kind = good.clone();
        wrong_kind[0] = 2;
        let mut dirty = good.clone();
        *dirty.last_mut().unwrap() = 1;
        let mut long = good.clone();
        long[2] = 200;
        let mut short_bucket = good.clone();
        short_bucket.pop();
        let mut not_utf8 = good.clone();
        not_utf8[3] = 0xff;
        for bad in [vec![], vec![1], wrong_kind, dirty, long, short_bucket, not_utf8] {
            assert!(
                matches!(unpad(&bad), Err(E2eeError::BadPayload { .. })),
                "{bad:?}"
            );
        }
    }
}
