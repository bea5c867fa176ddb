//! Random bytes from the kernel: the one source of the ids, MACs and
//! interface names bridge-net makes up.

use std::io::Read;

/// `N` random bytes from the kernel: getrandom(2), else `/dev/urandom`
/// (a sandbox that filters the system call).
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    if crate::sys::getrandom(&mut buf).is_ok() {
        return buf;
    }
    let filled = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut buf));
    if filled.is_err() {
        // No /dev/urandom (a very bare chroot): fall back to the hasher's
        // per-process random keys, good enough for ids and MACs.
        use std::hash::{BuildHasher, Hasher};
        for chunk in buf.chunks_mut(8) {
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_usize(chunk.as_ptr() as usize);
            let v = h.finish().to_ne_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
    buf
}

#[cfg(test)]
mod tests {
    #[test]
    fn random_bytes_differ() {
        let a = super::random_bytes::<16>();
        assert_ne!(a, [0; 16]);
        assert_ne!(a, super::random_bytes::<16>());
        assert_eq!(super::random_bytes::<0>(), [0u8; 0]);
    }
}
