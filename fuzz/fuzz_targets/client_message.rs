//! What the server decodes from every client frame: any text must give a message or a protocol
//! error, never a panic; relayed data must stay a JSON object.
#![no_main]

use confer::signal::proto::ClientMessage;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match ClientMessage::decode(text) {
        Ok(ClientMessage::Signal { data, .. } | ClientMessage::Broadcast { data }) => {
            assert!(data.get().starts_with('{'));
        }
        Ok(_) | Err(_) => {}
    }
});
