//! Helpers shared by the scap integration tests that hand-craft capture bytes.
//!
//! Kept apart from the crate's writer on purpose: these tests feed the reader blocks the writer
//! would never produce, so the framing is spelled out independently here.

/// A pcapng-style block: type, total length, body padded to 4 bytes, total length again.
pub fn raw_block(t: u32, body: &[u8]) -> Vec<u8> {
    let len = (12 + body.len().div_ceil(4) * 4) as u32;
    let mut b = Vec::new();
    b.extend_from_slice(&t.to_le_bytes());
    b.extend_from_slice(&len.to_le_bytes());
    b.extend_from_slice(body);
    b.resize(len as usize - 4, 0);
    b.extend_from_slice(&len.to_le_bytes());
    b
}
