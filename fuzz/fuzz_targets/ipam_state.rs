//! A saved address pool: `serde_json::from_slice::<PoolState>` and
//! `Pool::from_state` on arbitrary bytes. A pool that loads saves to the
//! same form, loads back equal, and keeps working (allocate, release).
#![no_main]

use brnet_ipam::{Pool, PoolState};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(state) = serde_json::from_slice::<PoolState>(data) else {
        return;
    };
    let mut pool = match Pool::from_state(state) {
        Ok(p) => p,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    let saved = pool.to_state();
    let back = Pool::from_state(saved.clone())
        .unwrap_or_else(|e| panic!("a loaded pool does not load back: {e}"));
    assert_eq!(back, pool);
    assert_eq!(back.to_state(), saved);
    let json = serde_json::to_vec(&saved).expect("serialises");
    assert_eq!(serde_json::from_slice::<PoolState>(&json).ok(), Some(saved));

    assert!(pool.used() <= pool.capacity());
    assert_eq!(pool.free(), pool.capacity() - pool.used());
    // A few allocations and releases keep the counts straight.
    let used = pool.used();
    let mut got = Vec::new();
    for _ in 0..4 {
        match pool.allocate() {
            Ok(a) => {
                assert!(pool.contains(a) && pool.is_allocated(a));
                got.push(a);
            }
            Err(e) => drop(e.to_string()),
        }
    }
    assert_eq!(pool.used(), used + got.len() as u128);
    for a in got {
        pool.release(a)
            .unwrap_or_else(|e| panic!("release {a}: {e}"));
    }
    assert_eq!(pool.used(), used);
    let _ = Pool::from_state(pool.to_state()).unwrap_or_else(|e| panic!("after use: {e}"));
});
