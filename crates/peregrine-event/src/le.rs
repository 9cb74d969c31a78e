//! Little-endian integers from byte slices.
//!
//! Kernel records, scap capture files and the replay and encode paths all store integers
//! little-endian, at fixed offsets or as parameters of 1, 2, 4 or 8 bytes. These readers are
//! the one copy: none panics on a short or odd-sized slice (they return `None`), and each is
//! `#[inline]` and compiles to a bounds check and a load, since the replay hot path calls them
//! per parameter.

/// The `u16` at byte `at` of `b`, if the slice holds it.
#[inline]
pub fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(*b.get(at..)?.first_chunk()?))
}

/// The `u32` at byte `at` of `b`, if the slice holds it.
#[inline]
pub fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(*b.get(at..)?.first_chunk()?))
}

/// The `u64` at byte `at` of `b`, if the slice holds it.
#[inline]
pub fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(*b.get(at..)?.first_chunk()?))
}

/// An unsigned integer of exactly 1, 2, 4 or 8 bytes, zero-extended; `None` for other widths.
#[inline]
pub fn uint(b: &[u8]) -> Option<u64> {
    Some(match *b {
        [a] => u64::from(a),
        [a, b] => u64::from(u16::from_le_bytes([a, b])),
        [a, b, c, d] => u64::from(u32::from_le_bytes([a, b, c, d])),
        _ => u64::from_le_bytes(b.try_into().ok()?),
    })
}

/// A signed integer of exactly 1, 2, 4 or 8 bytes, sign-extended; `None` for other widths.
#[inline]
pub fn int(b: &[u8]) -> Option<i64> {
    Some(match *b {
        [a] => i64::from(a as i8),
        [a, b] => i64::from(i16::from_le_bytes([a, b])),
        [a, b, c, d] => i64::from(i32::from_le_bytes([a, b, c, d])),
        _ => i64::from_le_bytes(b.try_into().ok()?),
    })
}

/// An integer of 1, 2, 4 or 8 bytes as its 64-bit pattern: sign-extended when `signed`
/// ([`int`]), else zero-extended ([`uint`]).
#[inline]
pub fn widen(b: &[u8], signed: bool) -> Option<u64> {
    if signed {
        int(b).map(|v| v as u64)
    } else {
        uint(b)
    }
}

/// An unsigned integer of any width up to 8 bytes (0 for an empty slice), zero-extended;
/// `None` above 8 bytes. For readers that print what a damaged file holds rather than refuse.
#[inline]
pub fn uint_padded(b: &[u8]) -> Option<u64> {
    let mut v = [0u8; 8];
    v.get_mut(..b.len())?.copy_from_slice(b);
    Some(u64::from_le_bytes(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_width_at_offsets() {
        let b = [1, 2, 3, 4, 5, 6, 7, 8, 9];
        assert_eq!(u16_at(&b, 0), Some(0x0201));
        assert_eq!(u16_at(&b, 7), Some(0x0908));
        assert_eq!(u16_at(&b, 8), None);
        assert_eq!(u16_at(&b, usize::MAX), None);
        assert_eq!(u32_at(&b, 5), Some(0x0908_0706));
        assert_eq!(u32_at(&b, 6), None);
        assert_eq!(u64_at(&b, 1), Some(0x0908_0706_0504_0302));
        assert_eq!(u64_at(&b, 2), None);
    }

    #[test]
    fn variable_width() {
        assert_eq!(uint(&[0xff]), Some(0xff));
        assert_eq!(int(&[0xff]), Some(-1));
        assert_eq!(uint(&[0xfe, 0xff]), Some(0xfffe));
        assert_eq!(int(&[0xfe, 0xff]), Some(-2));
        assert_eq!(uint(&[0xfd, 0xff, 0xff, 0xff]), Some(0xffff_fffd));
        assert_eq!(int(&[0xfd, 0xff, 0xff, 0xff]), Some(-3));
        assert_eq!(int(&[0x7f, 0, 0, 0]), Some(0x7f));
        assert_eq!(uint(&[0xff; 8]), Some(u64::MAX));
        assert_eq!(int(&[0xff; 8]), Some(-1));
        for bad in [&[][..], &[0; 3], &[0; 5], &[0; 7], &[0; 9]] {
            assert_eq!(uint(bad), None);
            assert_eq!(int(bad), None);
            assert_eq!(widen(bad, true), None);
        }
        assert_eq!(widen(&[0xff, 0xff], true), Some(u64::MAX));
        assert_eq!(widen(&[0xff, 0xff], false), Some(0xffff));
        assert_eq!(uint_padded(&[]), Some(0));
        assert_eq!(uint_padded(&[1, 2, 3]), Some(0x03_0201));
        assert_eq!(uint_padded(&[0xff; 8]), Some(u64::MAX));
        assert_eq!(uint_padded(&[0; 9]), None);
    }
}
