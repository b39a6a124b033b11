//! Tokens arrive in every join: checking any bytes must not panic and must not admit.
#![no_main]

use confer::token::Secret;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let secret = Secret::from_bytes(b"fuzzing secret of thirty-two b!");
    let (room, token) = text.split_once('\n').unwrap_or(("room", text));
    assert!(secret.verify(room, token, 0).is_err());
});
