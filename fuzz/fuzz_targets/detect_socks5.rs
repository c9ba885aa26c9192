//! Fuzzes `detect` with only socks5 enabled: no panic, a consistent answer, and
//! the same answer however the input is split into reads.

#![no_main]

use libfuzzer_sys::fuzz_target;
use portico_sniff::Protocol;

fuzz_target!(|data: &[u8]| {
    portico_sniff_fuzz::check_detect(data, Protocol::Socks5);
});
