//! Fuzzes QUIC Initial reading: sequences of datagrams (2-byte length
//! prefixes) into an `InitialReader`, and `version_negotiation` on each.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    portico_sniff_fuzz::check_quic(data);
});
