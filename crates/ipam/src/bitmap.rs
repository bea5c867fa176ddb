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
/// The first chunk lives inline, the others in a directory: a window of up
/// to 65,536 addresses (every IPv4 /16 or smaller) reaches its bits without
/// a dependent load through the directory.
///
/// Invariant: a chunk's `bits` is empty exactly when its `ones` is zero,
/// so two bitmaps with the same bits set compare equal.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Bitmap {
    head: Chunk,
    tail: Vec<Chunk>,
    len: u32,
}

impl Bitmap {
    /// An all-zero bitmap of `len` bits, `len` at most [`MAX_BITS`].
    /// Allocates only the chunk directory.
    pub(crate) fn new(len: u32) -> Bitmap {
        let len = len.min(MAX_BITS);
        let n = len.div_ceil(CHUNK_BITS) as usize;
        Bitmap {
            head: Chunk::default(),
            tail: vec![Chunk::default(); n.saturating_sub(1)],
            len,
        }
    }

    /// Chunk `ci`.
    #[inline(always)]
    fn chunk(&self, ci: usize) -> Option<&Chunk> {
        match ci {
            0 => Some(&self.head),
            _ => self.tail.get(ci - 1),
        }
    }

    /// Chunk `ci`, mutably.
    #[inline(always)]
    fn chunk_mut(&mut self, ci: usize) -> Option<&mut Chunk> {
        match ci {
            0 => Some(&mut self.head),
            _ => self.tail.get_mut(ci - 1),
        }
    }

    /// Number of bits.
    pub(crate) fn len(&self) -> u32 {
        self.len
    }

    /// Length in bits of chunk `ci`.
    #[inline]
    fn chunk_len(&self, ci: usize) -> usize {
        let start = (ci as u32) << CHUNK_SHIFT;
        (self.len - start).min(CHUNK_BITS) as usize
    }

    /// Whether bit `i` is set (false beyond the end).
    pub(crate) fn get(&self, i: u32) -> bool {
        let (ci, bi) = split(i);
        self.chunk(ci).is_some_and(|c| c.get(bi))
    }

    /// Sets bit `i`; returns false if it was already set (or is beyond the
    /// end).
    pub(crate) fn set(&mut self, i: u32) -> bool {
        if i >= self.len {
            return false;
        }
        let (ci, bi) = split(i);
        let len = self.chunk_len(ci);
        let Some(chunk) = self.chunk_mut(ci) else {
            return false;
        };
        if chunk.bits.is_empty() {
            chunk.bits = BitVec::repeat(false, len);
        }
        chunk.set(bi)
    }

    /// Clears bit `i`; returns false if it was not set. A chunk whose last
    /// bit is cleared gives its memory back.
    pub(crate) fn clear(&mut self, i: u32) -> bool {
        let (ci, bi) = split(i);
        let Some(chunk) = self.chunk_mut(ci) else {
            return false;
        };
        if !chunk.clear(bi) {
            return false;
        }
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
        for s in spans(lo, hi) {
            let len = self.chunk_len(s.ci);
            if let Some(chunk) = self.chunk_mut(s.ci) {
                if chunk.bits.is_empty() {
                    chunk.bits = BitVec::repeat(false, len);
                }
                if let Some(slice) = chunk.bits.get_mut(s.lo..s.hi) {
                    slice.fill(true);
                }
                chunk.ones += (s.hi - s.lo) as u32;
            }
        }
        Ok(())
    }

    /// The first clear bit in `from..to`, scanning whole chunks and words,
    /// never bit by bit.
    pub(crate) fn first_zero(&self, from: u32, to: u32) -> Option<u32> {
        for s in spans(from, to.min(self.len)) {
            let chunk = self.chunk(s.ci)?;
            if chunk.ones == 0 {
                return Some(s.at(s.lo));
            }
            if (chunk.ones as usize) < chunk.bits.len()
                && let Some(i) = chunk.first_zero(s.lo, s.hi)
            {
                return Some(s.at(i));
            }
        }
        None
    }

    /// Sets and returns the first clear bit of `from..to` that lies in the
    /// same `u64` word as `from`, if there is one: a single word read and
    /// write, the fast path of allocation.
    #[inline(always)]
    pub(crate) fn take_in_word(&mut self, from: u32, to: u32) -> Option<u32> {
        // The pool never asks beyond the end (`to <= len`), so `found < to`
        // keeps the padding bits of the last word out of reach.
        debug_assert!(to <= self.len);
        let (ci, bi) = split(from);
        let chunk = self.chunk_mut(ci)?;
        let word = chunk.bits.as_raw_mut_slice().get_mut(bi / 64)?;
        let masked = *word | (bit(bi) - 1);
        let i = (bi & !63) + masked.trailing_ones() as usize;
        let found = ((ci as u32) << CHUNK_SHIFT) + i as u32;
        // `found < to <= len` also keeps `i` inside the chunk.
        if masked != u64::MAX && found < to {
            *word |= bit(i);
            chunk.ones += 1;
            Some(found)
        } else {
            None
        }
    }

    /// Finds the first clear bit in `from..to` and sets it. Full chunks are
    /// skipped on their count, empty ones answer at once (and are
    /// materialised), others are scanned a word at a time: the word holding
    /// the start masked, then `first_zero` on the slice from the next word.
    pub(crate) fn take_first_zero(&mut self, from: u32, to: u32) -> Option<u32> {
        for s in spans(from, to.min(self.len)) {
            let len = self.chunk_len(s.ci);
            let chunk = self.chunk_mut(s.ci)?;
            if chunk.ones == 0 {
                chunk.bits = BitVec::repeat(false, len);
            }
            if (chunk.ones as usize) < chunk.bits.len()
                && let Some(i) = chunk.first_zero(s.lo, s.hi)
            {
                chunk.set(i);
                return Some(s.at(i));
            }
        }
        None
    }

    /// The first set bit in `from..to`.
    fn first_one(&self, from: u32, to: u32) -> Option<u32> {
        for s in spans(from, to.min(self.len)) {
            let chunk = self.chunk(s.ci)?;
            if chunk.ones != 0 {
                let found = chunk.bits.get(s.lo..s.hi).and_then(|b| b.first_one());
                if let Some(i) = found {
                    return Some(s.at(s.lo + i));
                }
            }
        }
        None
    }

    /// Every set bit, ascending.
    pub(crate) fn iter_ones(&self) -> impl Iterator<Item = u32> + '_ {
        let chunks = std::iter::once(&self.head).chain(&self.tail);
        chunks.enumerate().flat_map(|(ci, chunk)| {
            let base = (ci as u32) << CHUNK_SHIFT;
            chunk.bits.iter_ones().map(move |i| base + i as u32)
        })
    }
}

impl Chunk {
    /// Whether bit `i` is set; a single word read.
    fn get(&self, i: usize) -> bool {
        let words = self.bits.as_raw_slice();
        words.get(i / 64).is_some_and(|w| w & bit(i) != 0)
    }

    /// Sets bit `i`; false if it was set already. A single word write.
    #[inline]
    fn set(&mut self, i: usize) -> bool {
        if i >= self.bits.len() {
            return false;
        }
        let words = self.bits.as_raw_mut_slice();
        match words.get_mut(i / 64) {
            Some(w) if *w & bit(i) == 0 => {
                *w |= bit(i);
                self.ones += 1;
                true
            }
            _ => false,
        }
    }

    /// Clears bit `i`; false if it was not set.
    fn clear(&mut self, i: usize) -> bool {
        let words = self.bits.as_raw_mut_slice();
        match words.get_mut(i / 64) {
            Some(w) if *w & bit(i) != 0 => {
                *w &= !bit(i);
                self.ones -= 1;
                true
            }
            _ => false,
        }
    }

    /// The first clear bit in `lo..hi` (`hi` at most the chunk's length).
    #[inline]
    /// The word holding `lo` is checked with its lower bits masked; from
    /// the next word boundary on, `first_zero` scans the rest of the slice
    /// a word at a time.
    fn first_zero(&self, lo: usize, hi: usize) -> Option<usize> {
        let wi = lo / 64;
        let word = *self.bits.as_raw_slice().get(wi)? | (bit(lo) - 1);
        if word != u64::MAX {
            let i = wi * 64 + word.trailing_ones() as usize;
            return (i < hi).then_some(i);
        }
        let next = (wi + 1) * 64;
        if next >= hi {
            return None;
        }
        self.bits
            .get(next..hi)
            .and_then(|rest| rest.first_zero())
            .map(|i| next + i)
    }
}

/// The mask of bit `i` inside its `u64` word (`Lsb0`: bit 0 is the least
/// significant).
#[inline]
fn bit(i: usize) -> u64 {
    1 << (i % 64)
}

/// Chunk index and bit index inside the chunk.
/// One chunk's part of a range of bits.
#[derive(Debug, Clone, Copy)]
struct Span {
    /// The chunk.
    ci: usize,
    /// The range inside the chunk, `lo..hi`.
    lo: usize,
    hi: usize,
}

impl Span {
    /// Bit `i` of the chunk, as a bit of the whole map.
    #[inline]
    fn at(self, i: usize) -> u32 {
        ((self.ci as u32) << CHUNK_SHIFT) + i as u32
    }
}

/// The parts of `from..to`, chunk by chunk, in order.
#[inline]
fn spans(from: u32, to: u32) -> impl Iterator<Item = Span> {
    let mut start = from;
    std::iter::from_fn(move || {
        if start >= to {
            return None;
        }
        let (ci, lo) = split(start);
        let chunk_start = (ci as u32) << CHUNK_SHIFT;
        let end = (chunk_start + CHUNK_BITS).min(to);
        start = end;
        Some(Span {
            ci,
            lo,
            hi: (end - chunk_start) as usize,
        })
    })
}

#[inline]
fn split(i: u32) -> (usize, usize) {
    ((i >> CHUNK_SHIFT) as usize, (i & (CHUNK_BITS - 1)) as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lazy_chunks_and_word_scan() {
        let mut b = Bitmap::new(3 * CHUNK_BITS + 10);
        assert_eq!(b.tail.len(), 3);
        assert!(b.head.bits.is_empty() && b.tail.iter().all(|c| c.bits.is_empty()));
        assert_eq!(b.first_zero(5, b.len()), Some(5));
        assert!(b.set(5));
        assert!(!b.set(5));
        assert_eq!(b.first_zero(5, b.len()), Some(6));
        assert_eq!(b.head.bits.len(), CHUNK_BITS as usize);
        assert_eq!(b.tail[2].bits.len(), 0);
        assert!(b.clear(5));
        assert!(!b.clear(5));
        assert!(b.head.bits.is_empty());
    }

    #[test]
    fn ranges_cross_chunks() {
        let mut b = Bitmap::new(3 * CHUNK_BITS);
        b.set_range(10, 2 * CHUNK_BITS + 3).unwrap();
        assert_eq!(b.first_zero(10, b.len()), Some(2 * CHUNK_BITS + 3));
        assert_eq!(b.tail[0].ones, CHUNK_BITS);
        assert_eq!(b.set_range(0, 11), Err(10));
        assert!(!b.get(0));
        assert_eq!(b.iter_ones().count() as u32, 2 * CHUNK_BITS - 7);
        assert_eq!(b.first_zero(10, 2 * CHUNK_BITS + 3), None);
    }

    #[test]
    fn short_chunks_never_report_padding_bits() {
        let mut b = Bitmap::new(70);
        for i in 0..70 {
            assert_eq!(b.first_zero(0, 70), Some(i));
            assert!(b.set(i));
        }
        assert_eq!(b.first_zero(0, 70), None);
        assert!(!b.set(70));
        assert!(!b.get(70));
        assert!(b.clear(64));
        assert_eq!(b.first_zero(3, 70), Some(64));
        assert_eq!(b.first_zero(65, 70), None);
        assert_eq!(b.first_zero(3, 64), None);
    }

    #[test]
    fn word_boundaries() {
        let mut b = Bitmap::new(CHUNK_BITS);
        b.set_range(0, 200).unwrap();
        for from in [0, 1, 63, 64, 127, 128, 199] {
            assert_eq!(b.first_zero(from, CHUNK_BITS), Some(200), "{from}");
        }
        assert_eq!(b.first_zero(0, 200), None);
        assert_eq!(b.first_zero(200, 201), Some(200));
        assert!(b.clear(130));
        assert_eq!(b.first_zero(64, CHUNK_BITS), Some(130));
        assert_eq!(b.first_zero(131, CHUNK_BITS), Some(200));
    }

    #[test]
    fn capped_at_max_bits() {
        let b = Bitmap::new(u32::MAX);
        assert_eq!(b.len(), MAX_BITS);
        assert_eq!(b.tail.len(), 255);
    }
}
