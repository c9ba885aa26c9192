//! Fuzzes PROXY headers: `parse` never panics and does not depend on how
//! the input is split; `encode_v1`/`encode_v2` round-trip through `parse`
//! for addresses taken from the input.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    portico_sniff_fuzz::check_proxy_parse(data);
    portico_sniff_fuzz::check_proxy_round_trip(data);
});
