//! The client-side decoder must never panic on anything a server (or an attacker in its
//! place) sends.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = chat_proto::decode_server_frame(text);
    }
});
