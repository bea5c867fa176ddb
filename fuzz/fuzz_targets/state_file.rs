//! The state file: `bridge_net::state::State::parse` (snapshot line plus
//! journal) on arbitrary bytes. Ok, or a typed `StateProblem`; never a
//! panic. A state that loads has pools that save and load back equal.
#![no_main]

use bridge_net::StateProblem;
use bridge_net::brnet_ipam::Pool;
use bridge_net::state::State;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match State::parse(data) {
        Ok(state) => {
            for net in &state.networks {
                for pool in net.pool4.iter().chain(net.pool6.as_ref()) {
                    let back = Pool::from_state(pool.to_state())
                        .unwrap_or_else(|e| panic!("a loaded pool does not load back: {e}"));
                    assert_eq!(&back, pool);
                    assert!(pool.used() <= pool.capacity());
                }
                let _ = (net.subnet4(), net.subnet6());
            }
            // Loading is a function of the bytes.
            assert_eq!(State::parse(data).ok(), Some(state));
        }
        Err(p) => {
            let _ = p.to_string();
            if let StateProblem::Malformed { line, .. } | StateProblem::Inconsistent { line, .. } =
                p
            {
                assert!(line >= 1 && line <= data.iter().filter(|b| **b == b'\n').count());
            }
        }
    }
});
