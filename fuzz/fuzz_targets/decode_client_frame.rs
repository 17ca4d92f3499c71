//! Any byte string must decode to a frame or a typed error, never panic; a decoded frame
//! must survive a round trip unchanged.
#![no_main]

use chat_proto::{DEFAULT_MAX_FRAME_BYTES, decode_client_frame};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match decode_client_frame(data, DEFAULT_MAX_FRAME_BYTES) {
        Ok(frame) => {
            let again = decode_client_frame(frame.to_json().as_bytes(), usize::MAX)
                .expect("an encoded frame decodes");
            assert_eq!(again, frame);
        }
        Err(err) => {
            // The error frame must itself be valid JSON the client side can read.
            let text = err.to_frame().to_json();
            chat_proto::decode_server_frame(&text).expect("error frames decode");
        }
    }
});
