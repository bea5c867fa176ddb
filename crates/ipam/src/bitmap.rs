//! The dynamic window's bitmap: `BitVec<u64, Lsb0>` chunks of
//! [`CHUNK_BITS`] bits, materialised on first use and freed when empty,
//! searched a word at a time.

use bitvec::prelude::{BitVec, Lsb0};

/// log2 of the bits in one chunk.
const CHUNK_SHIFT: u32 = 16;
/// Bits (addresses) in one chunk: 65,536, which is 8 KiB of bitmap.
pub(crate) const CHUNK_BITS: u32 = 1 << CHUNK_SHIFT;
/// The most bits a bitmap covers: 2^24 addresses, 256 chunks, 2 MiB when
/// every chunk is materialised.
pub(crate) const MAX_BITS: u32 = 1 << 24;

/// One chunk: its bits (empty, not allocated, while no bit is set) and how
/// many of them are set.
#[derive(Clone, PartialEq, Eq, Default)]
struct Chunk {
    bits: BitVec<u64, Lsb0>,
    ones: u32,
}

/// A bitmap of `len` bits, `1` meaning taken.
///
/// Invariant: a chunk's `bits` is empty exactly when its `ones` is zero,
/// so two bitmaps with the same bits set compare equal.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Bitmap {
    chunks: Vec<Chunk>,
    len: u32,
}

impl Bitmap {
    /// An all-zero bitmap of `len` bits, `len` at most [`MAX_BITS`].
    /// Allocates only the chunk directory.
    pub(crate) fn new(len: u32) -> Bitmap {
        let len = len.min(MAX_BITS);
        let n = len.div_ceil(CHUNK_BITS) as usize;
        Bitmap {
            chunks: vec![Chunk::default(); n],
            len,
        }
    }

    /// Number of bits.
    pub(crate) fn len(&self) -> u32 {
        self.len
    }

    /// Length in bits of chunk `ci`.
    fn chunk_len(&self, ci: usize) -> usize {
        let start = (ci as u32) << CHUNK_SHIFT;
        (self.len - start).min(CHUNK_BITS) as usize
    }

    /// Whether bit `i` is set (false beyond the end).
    pub(crate) fn get(&self, i: u32) -> bool {
        let (ci, bi) = split(i);
        self.chunks
            .get(ci)
            .and_then(|c| c.bits.get(bi).map(|b| *b))
            .unwrap_or(false)
    }

    /// Sets bit `i`; returns false if it was already set (or is beyond the
    /// end).
    pub(crate) fn set(&mut self, i: u32) -> bool {
        if i >= self.len {
            return false;
        }
        let (ci, bi) = split(i);
        let len = self.chunk_len(ci);
        let Some(chunk) = self.chunks.get_mut(ci) else {
            return false;
        };
        if chunk.bits.is_empty() {
            chunk.bits = BitVec::repeat(false, len);
        }
        match chunk.bits.get_mut(bi) {
            Some(mut bit) if !*bit => {
                bit.set(true);
                chunk.ones += 1;
                true
            }
            _ => false,
        }
    }

    /// Clears bit `i`; returns false if it was not set. A chunk whose last
    /// bit is cleared gives its memory back.
    pub(crate) fn clear(&mut self, i: u32) -> bool {
        let (ci, bi) = split(i);
        let Some(chunk) = self.chunks.get_mut(ci) else {
            return false;
        };
        match chunk.bits.get_mut(bi) {
            Some(mut bit) if *bit => {
                bit.set(false);
            }
            _ => return false,
        }
        chunk.ones -= 1;
        if chunk.ones == 0 {
            chunk.bits = BitVec::new();
        }
        true
    }

    /// Sets every bit of `lo..hi`. Returns the first bit of the range that
    /// was already set, in which case nothing was changed.
    pub(crate) fn set_range(&mut self, lo: u32, hi: u32) -> Result<(), u32> {
        let hi = hi.min(self.len);
        if let Some(taken) = self.first_one(lo, hi) {
            return Err(taken);
        }
        let mut start = lo;
        while start < hi {
            let (ci, bi) = split(start);
            let chunk_start = (ci as u32) << CHUNK_SHIFT;
            let end = (chunk_start + CHUNK_BITS).min(hi);
            let len = self.chunk_len(ci);
            if let Some(chunk) = self.chunks.get_mut(ci) {
                if chunk.bits.is_empty() {
                    chunk.bits = BitVec::repeat(false, len);
                }
                if let Some(slice) = chunk.bits.get_mut(bi..(end - chunk_start) as usize) {
                    slice.fill(true);
                }
                chunk.ones += end - start;
            }
            start = end;
        }
        Ok(())
    }

    /// The first clear bit in `from..to`, scanning whole chunks and words,
    /// never bit by bit.
    pub(crate) fn first_zero(&self, from: u32, to: u32) -> Option<u32> {
        let to = to.min(self.len);
        let mut start = from;
        while start < to {
            let (ci, bi) = split(start);
            let chunk_start = (ci as u32) << CHUNK_SHIFT;
            let end = (chunk_start + CHUNK_BITS).min(to);
            let chunk = self.chunks.get(ci)?;
            if chunk.ones == 0 {
                return Some(start);
            }
            if (chunk.ones as usize) < chunk.bits.len() {
                let found = chunk
                    .bits
                    .get(bi..(end - chunk_start) as usize)
                    .and_then(|s| s.first_zero());
                if let Some(i) = found {
                    return Some(start + i as u32);
                }
            }
            start = end;
        }
        None
    }

    /// The first set bit in `from..to`.
    fn first_one(&self, from: u32, to: u32) -> Option<u32> {
        let to = to.min(self.len);
        let mut start = from;
        while start < to {
            let (ci, bi) = split(start);
            let chunk_start = (ci as u32) << CHUNK_SHIFT;
            let end = (chunk_start + CHUNK_BITS).min(to);
            let chunk = self.chunks.get(ci)?;
            if chunk.ones != 0 {
                let found = chunk
                    .bits
                    .get(bi..(end - chunk_start) as usize)
                    .and_then(|s| s.first_one());
                if let Some(i) = found {
                    return Some(start + i as u32);
                }
            }
            start = end;
        }
        None
    }

    /// Every set bit, ascending.
    pub(crate) fn iter_ones(&self) -> impl Iterator<Item = u32> + '_ {
        self.chunks.iter().enumerate().flat_map(|(ci, chunk)| {
            let base = (ci as u32) << CHUNK_SHIFT;
            chunk.bits.iter_ones().map(move |i| base + i as u32)
        })
    }
}

/// Chunk index and bit index inside the chunk.
fn split(i: u32) -> (usize, usize) {
    ((i >> CHUNK_SHIFT) as usize, (i & (CHUNK_BITS - 1)) as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lazy_chunks_and_word_scan() {
        let mut b = Bitmap::new(3 * CHUNK_BITS + 10);
        assert_eq!(b.chunks.len(), 4);
        assert!(b.chunks.iter().all(|c| c.bits.is_empty()));
        assert_eq!(b.first_zero(5, b.len()), Some(5));
        assert!(b.set(5));
        assert!(!b.set(5));
        assert_eq!(b.first_zero(5, b.len()), Some(6));
        assert_eq!(b.chunks[0].bits.len(), CHUNK_BITS as usize);
        assert_eq!(b.chunks[3].bits.len(), 0);
        assert!(b.clear(5));
        assert!(!b.clear(5));
        assert!(b.chunks[0].bits.is_empty());
    }

    #[test]
    fn ranges_cross_chunks() {
        let mut b = Bitmap::new(3 * CHUNK_BITS);
        b.set_range(10, 2 * CHUNK_BITS + 3).unwrap();
        assert_eq!(b.first_zero(10, b.len()), Some(2 * CHUNK_BITS + 3));
        assert_eq!(b.chunks[1].ones, CHUNK_BITS);
        assert_eq!(b.set_range(0, 11), Err(10));
        assert!(!b.get(0));
        assert_eq!(b.iter_ones().count() as u32, 2 * CHUNK_BITS - 7);
        assert_eq!(b.first_zero(10, 2 * CHUNK_BITS + 3), None);
    }

    #[test]
    fn capped_at_max_bits() {
        let b = Bitmap::new(u32::MAX);
        assert_eq!(b.len(), MAX_BITS);
        assert_eq!(b.chunks.len(), 256);
    }
}
