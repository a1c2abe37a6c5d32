//! The frame that carries a spec or report over a pipe.
//!
//! A frame is a 12-byte prefix (little-endian `u32` header length, `u64` body length), a JSON
//! header and an opaque body (pickled function and arguments, or a pickled result). Bodies are
//! never base64-encoded on a pipe, so a 50 MB argument costs one copy each way.

use serde::{de::DeserializeOwned, Serialize};

use crate::{Error, Result};

/// Bytes in a frame's prefix.
pub const PREFIX_LEN: usize = 12;

/// Largest header accepted; headers are small JSON objects, bodies carry the data.
pub const MAX_HEADER: usize = 16 << 20;

/// Encodes the prefix for a header of `header_len` and a body of `body_len` bytes.
pub fn encode_prefix(header_len: usize, body_len: usize) -> [u8; PREFIX_LEN] {
    let mut out = [0u8; PREFIX_LEN];
    out[..4].copy_from_slice(&(header_len as u32).to_le_bytes());
    out[4..].copy_from_slice(&(body_len as u64).to_le_bytes());
    out
}

/// Decodes a prefix into (header length, body length).
pub fn decode_prefix(prefix: &[u8; PREFIX_LEN]) -> Result<(usize, usize)> {
    let header = u32::from_le_bytes(prefix[..4].try_into().expect("4 bytes")) as usize;
    let body = u64::from_le_bytes(prefix[4..].try_into().expect("8 bytes")) as usize;
    if header > MAX_HEADER {
        return Err(Error::HeaderTooLarge(header));
    }
    Ok((header, body))
}

/// Serialises a header to JSON bytes.
pub fn encode_header<T: Serialize>(header: &T) -> Result<Vec<u8>> {
    Ok(serde_json::to_vec(header)?)
}

/// Parses a JSON header.
pub fn decode_header<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    Ok(serde_json::from_slice(bytes)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_round_trips() {
        let p = encode_prefix(17, 50 << 20);
        assert_eq!(decode_prefix(&p).unwrap(), (17, 50 << 20));
    }

    #[test]
    fn oversized_header_is_refused() {
        let p = encode_prefix(MAX_HEADER + 1, 0);
        assert!(matches!(decode_prefix(&p), Err(Error::HeaderTooLarge(_))));
    }
}
