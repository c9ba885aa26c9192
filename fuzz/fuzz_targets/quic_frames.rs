//! Fuzzes the plaintext side of QUIC Initial reading: decrypted payloads
//! (2-byte length prefixes) through frame parsing, CRYPTO reassembly and
//! the ClientHello parser.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    portico_sniff_fuzz::check_quic_frames(data);
});
