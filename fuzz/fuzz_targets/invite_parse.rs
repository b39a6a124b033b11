//! Invite links come from mail and chat: parsing any text must not panic, and whatever parses
//! must format back to a link that parses the same.
#![no_main]

use confer::invite::Invite;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(invite) = Invite::parse(text) {
        let again = Invite::parse(&invite.app_link()).expect("a formatted link must parse");
        assert_eq!(again, invite);
    }
});
