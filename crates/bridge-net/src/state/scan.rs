//! Byte searches in the state file that need no CPU feature probe.
//!
//! `memchr::memchr` and its kin choose between their AVX2 and SSE2 code on
//! first use by asking the standard library which features the CPU has,
//! and the standard library answers with a dozen CPUID instructions. In a
//! virtual machine every CPUID traps to the hypervisor (7.5 µs each on the
//! machine of issue 16), so a `brnet` call paid about 70 µs for its first
//! search of a state file of a few kilobytes. SSE2 is part of x86-64: its
//! searchers are chosen at compile time, with no probe. Elsewhere memchr's
//! own choice is kept (aarch64's vectors need no probe either).

/// Where the first `a` of `hay` is.
pub(super) fn find(a: u8, hay: &[u8]) -> Option<usize> {
    #[cfg(target_arch = "x86_64")]
    if let Some(one) = memchr::arch::x86_64::sse2::memchr::One::new(a) {
        return one.find(hay);
    }
    memchr::memchr(a, hay)
}

/// Where the last `a` of `hay` is.
pub(super) fn rfind(a: u8, hay: &[u8]) -> Option<usize> {
    #[cfg(target_arch = "x86_64")]
    if let Some(one) = memchr::arch::x86_64::sse2::memchr::One::new(a) {
        return one.rfind(hay);
    }
    memchr::memrchr(a, hay)
}

/// Where the first `a` or `b` of `hay` is.
pub(super) fn find2(a: u8, b: u8, hay: &[u8]) -> Option<usize> {
    #[cfg(target_arch = "x86_64")]
    if let Some(two) = memchr::arch::x86_64::sse2::memchr::Two::new(a, b) {
        return two.find(hay);
    }
    memchr::memchr2(a, b, hay)
}

/// Whether `needle` occurs in `hay` (short needles and haystacks: one
/// record's tail).
pub(super) fn contains(hay: &[u8], needle: &[u8]) -> bool {
    memchr::arch::all::rabinkarp::Finder::new(needle)
        .find(hay, needle)
        .is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_answers_as_memchr() {
        let hay = br#"{"a":"x\"y","b":[1,2]}
{"c":"\\"}
"#;
        for n in [b'\n', b'"', b'\\', b'z', b'{'] {
            assert_eq!(find(n, hay), memchr::memchr(n, hay), "{n}");
            assert_eq!(rfind(n, hay), memchr::memrchr(n, hay), "{n}");
            assert_eq!(find2(n, b'\\', hay), memchr::memchr2(n, b'\\', hay), "{n}");
            for from in 0..hay.len() {
                let h = &hay[from..];
                assert_eq!(find2(b'"', n, h), memchr::memchr2(b'"', n, h));
            }
        }
        assert!(contains(hay, br#","b":["#));
        assert!(!contains(hay, br#","aliases":["#));
        assert!(!contains(b"", b"x"));
    }
}
