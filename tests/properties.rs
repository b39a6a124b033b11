//! Properties of what parses untrusted input: invite links, client messages, tokens and HTTP
//! request heads never panic on any input, and what Confer writes it reads back unchanged.

use confer::invite::Invite;
use confer::signal::proto::{ClientMessage, Join, outgoing};
use confer::token::Secret;
use proptest::prelude::*;

fn room() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_-]{1,64}"
}

fn host() -> impl Strategy<Value = String> {
    prop_oneof![
        // Labels not starting with "x", so that none is an "xn--" punycode label.
        "[a-w][a-z0-9-]{0,20}(\\.[a-w][a-z0-9-]{0,10}){0,3}",
        (1u8..=254, 0u8..=255, 0u8..=255, 1u8..=254)
            .prop_map(|(a, b, c, d)| format!("{a}.{b}.{c}.{d}")),
        Just("[::1]".to_string()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn invite_parsing_never_panics(link in ".{0,300}") {
        let _ = Invite::parse(&link);
    }

    #[test]
    fn link_like_input_never_panics(link in "(confer|https|http|ftp)://[ -~]{0,120}") {
        let _ = Invite::parse(&link);
    }

    #[test]
    fn invites_round_trip_through_both_forms(
        host in host(),
        port in proptest::option::of(1u16..),
        room in room(),
        token in proptest::option::of("[A-Za-z0-9._~-]{1,200}"),
        secure: bool,
    ) {
        let invite = Invite { host, port, room, token, secure, janus: None };
        // The URL parser drops default ports (443 for https, 80 for http) from web links.
        let default_port = matches!((secure, invite.port), (true, Some(443)) | (false, Some(80)));
        let app = Invite::parse(&invite.app_link()).unwrap();
        prop_assert_eq!(&app, &invite);
        let web = Invite::parse(&invite.web_link()).unwrap();
        if default_port {
            prop_assert_eq!(web.port, None);
        } else {
            prop_assert_eq!(&web, &invite);
        }
    }

    #[test]
    fn message_decoding_never_panics(text in ".{0,400}") {
        let _ = ClientMessage::decode(&text);
    }

    #[test]
    fn json_shaped_messages_never_panic(
        kind in "(join|signal|broadcast|leave|x)",
        field in "(room|to|name|v|token|data|resume)",
        value in prop_oneof![Just("1".to_string()), Just("null".to_string()), Just("{}".to_string()),
                             Just("[]".to_string()), "\"[ -~]{0,20}\""],
    ) {
        let text = format!(r#"{{"type":"{kind}","{field}":{value}}}"#);
        let _ = ClientMessage::decode(&text);
    }

    #[test]
    fn joins_decode_as_sent(
        room in room(),
        name in "[^\\p{C}]{1,64}",
        token in proptest::option::of("[A-Za-z0-9._-]{1,100}"),
    ) {
        prop_assume!(!name.trim().is_empty());
        let text = outgoing::join(&room, token.as_deref(), &name, None);
        let decoded = ClientMessage::decode(&text).unwrap();
        prop_assert_eq!(decoded, ClientMessage::Join(Join {
            room,
            token,
            name: name.trim().to_string(),
            resume: None,
        }));
    }

    #[test]
    fn token_checking_never_panics_and_never_admits_garbage(token in ".{0,200}", room in room()) {
        let secret = Secret::from_bytes(b"property test secret, 32 bytes!!");
        prop_assert!(secret.verify(&room, &token, 0).is_err());
    }

    #[test]
    fn minted_tokens_admit_exactly_their_room(room in room(), other in room(), expires in 1u64..) {
        let secret = Secret::from_bytes(b"property test secret, 32 bytes!!");
        let token = secret.mint(&room, expires);
        prop_assert!(secret.verify(&room, &token, expires - 1).is_ok());
        prop_assert!(secret.verify(&room, &token, expires).is_err());
        if other != room {
            prop_assert!(secret.verify(&other, &token, 0).is_err());
        }
    }
}
