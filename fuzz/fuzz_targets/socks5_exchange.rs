//! Fuzzes the server side of a SOCKS5 exchange (greeting through `detect`,
//! RFC 1929 `parse_auth`, `parse_request`, and the answers): no panic, no
//! step past the last stage, every message decided within its largest size,
//! and the same ending, answers and forwarded bytes however the input is
//! split into reads.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    portico_sniff_fuzz::check_socks5_exchange(data);
});
