//! brnet-nat's decoders of nf_tables dump replies (the readback of what is
//! installed): table, chain and rule messages, and set elements decoded
//! for every set, on arbitrary bytes (a reply's payload after `nfgenmsg`).
//!
//! The decoders are crate-private: this target goes through the
//! `brnet_nat::fuzz::decode_dump` hook (hidden from the docs).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = brnet_nat::fuzz::decode_dump(data);
});
