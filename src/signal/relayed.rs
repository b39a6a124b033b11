//! What participants say to each other through the server (docs/PROTOCOL.md): the `data` of a
//! `signal` (offers, answers, resumes, trickled candidates) and of a `broadcast` (media state,
//! chat), as types that serialize to the protocol's JSON. The server never reads them; clients
//! decode them here and nowhere else.

use serde::{Deserialize, Deserializer, Serialize};

/// The `data` of a `signal` between two participants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum PeerSignal {
    /// A session description offer; `session` is Confer's own addition (PROTOCOL.md).
    Offer {
        sdp: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        session: Option<String>,
    },
    Answer {
        sdp: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        session: Option<String>,
    },
    /// Our offer reached someone who still has a working connection with us (after a server
    /// restart): it goes on under their new id.
    Resume { session: String },
    /// A trickled ICE candidate; None (`"candidate":null`) ends gathering.
    Candidate { candidate: Option<CandidateInit> },
}

/// The browser's `RTCIceCandidateInit`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CandidateInit {
    /// `candidate:...`; empty also means the end of candidates.
    pub candidate: String,
    #[serde(rename = "sdpMid", default, skip_serializing_if = "Option::is_none")]
    pub sdp_mid: Option<String>,
    #[serde(
        rename = "sdpMLineIndex",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub sdp_m_line_index: Option<u32>,
}

impl PeerSignal {
    /// A candidate line to trickle for the media section `mid` (BUNDLE: the first).
    pub fn candidate(line: String, mid: Option<String>) -> Self {
        PeerSignal::Candidate {
            candidate: Some(CandidateInit {
                candidate: line,
                sdp_mid: mid,
                sdp_m_line_index: Some(0),
            }),
        }
    }

    /// The JSON object of the protocol.
    pub fn to_json(&self) -> serde_json::Value {
        // A tagged enum of strings and options: serializing cannot fail.
        serde_json::to_value(self).unwrap_or_default()
    }

    /// Reads a signal's `data`; the error says what is wrong with it.
    pub fn from_json(data: &str) -> Result<Self, String> {
        // (serde would also read a sequence `["offer", ...]` as one.)
        if !data.trim_start().starts_with('{') {
            return Err("a signal that is not one: not a JSON object".into());
        }
        serde_json::from_str(data).map_err(|e| format!("a signal that is not one: {e}"))
    }
}

/// The longest chat message passed on, in characters; longer ones are cut.
pub const CHAT_LIMIT: usize = 2000;

/// The `data` of a `broadcast` to the whole room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum RoomMessage {
    /// Whether the sender's microphone and camera are on, and their hand raised. A missing
    /// `audio` or `video`, or one that is not a boolean, means on; a missing `hand` (clients
    /// before it) or one that is not a boolean, down (PROTOCOL.md).
    MediaState {
        #[serde(default = "on", deserialize_with = "lenient_on")]
        audio: bool,
        #[serde(default = "on", deserialize_with = "lenient_on")]
        video: bool,
        #[serde(
            default,
            deserialize_with = "lenient_off",
            skip_serializing_if = "std::ops::Not::not"
        )]
        hand: bool,
    },
    /// A chat message to everyone.
    Chat { text: String },
}

fn on() -> bool {
    true
}

fn lenient_on<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(serde_json::Value::deserialize(d)?.as_bool().unwrap_or(true))
}

fn lenient_off<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(serde_json::Value::deserialize(d)?
        .as_bool()
        .unwrap_or(false))
}

impl RoomMessage {
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }

    /// Reads a broadcast's `data`. None for kinds this version does not know (newer peers may
    /// send some) and for anything malformed: a broadcast is never worth an error.
    pub fn from_json(data: &str) -> Option<Self> {
        if !data.trim_start().starts_with('{') {
            return None;
        }
        serde_json::from_str(data).ok()
    }
}

/// A chat text cleaned for showing: control characters (other than new lines) removed, white
/// space trimmed, cut to [`CHAT_LIMIT`] characters. None when nothing is left to show.
pub fn clean_chat(text: &str) -> Option<String> {
    let text: String = text
        .chars()
        .filter(|c| *c == '\n' || !c.is_control())
        .take(CHAT_LIMIT)
        .collect();
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn signals_serialize_to_the_protocols_json() {
        let offer = PeerSignal::Offer {
            sdp: "v=0".into(),
            session: Some("S".into()),
        };
        assert_eq!(
            offer.to_json(),
            json!({"type": "offer", "sdp": "v=0", "session": "S"})
        );
        let answer = PeerSignal::Answer {
            sdp: "v=0".into(),
            session: None,
        };
        assert_eq!(answer.to_json(), json!({"type": "answer", "sdp": "v=0"}));
        assert_eq!(
            PeerSignal::Resume {
                session: "S2".into()
            }
            .to_json(),
            json!({"type": "resume", "session": "S2"})
        );
        assert_eq!(
            PeerSignal::candidate(
                "candidate:1 1 udp 1 127.0.0.1 5 typ host".into(),
                Some("0".into())
            )
            .to_json(),
            json!({"type": "candidate", "candidate": {
                "candidate": "candidate:1 1 udp 1 127.0.0.1 5 typ host",
                "sdpMid": "0", "sdpMLineIndex": 0}})
        );
        for signal in [offer, answer] {
            let text = signal.to_json().to_string();
            assert_eq!(PeerSignal::from_json(&text).unwrap(), signal);
        }
    }

    #[test]
    fn a_browsers_signals_are_read_and_garbage_is_refused_with_a_reason() {
        // What a browser's RTCIceCandidate.toJSON() gives, and the end of candidates.
        let read = PeerSignal::from_json(
            r#"{"type":"candidate","candidate":{"candidate":"candidate:1 1 udp 1 ::1 5 typ host",
                "sdpMid":"0","sdpMLineIndex":0,"usernameFragment":"x"}}"#,
        )
        .unwrap();
        assert!(
            matches!(read, PeerSignal::Candidate { candidate: Some(c) } if c.sdp_mid.as_deref() == Some("0"))
        );
        assert_eq!(
            PeerSignal::from_json(r#"{"type":"candidate","candidate":null}"#).unwrap(),
            PeerSignal::Candidate { candidate: None }
        );
        assert_eq!(
            PeerSignal::from_json(r#"{"type":"offer","sdp":"v=0"}"#).unwrap(),
            PeerSignal::Offer {
                sdp: "v=0".into(),
                session: None
            }
        );
        for bad in [
            r#"{"type":"dance"}"#,
            r#"{"type":"offer"}"#,
            r#"{"type":"answer","sdp":5}"#,
            r#"[1]"#,
        ] {
            let e = PeerSignal::from_json(bad).unwrap_err();
            assert!(e.contains("not one"), "{bad}: {e}");
        }
    }

    #[test]
    fn a_media_state_reads_missing_or_odd_fields_as_on_and_the_hand_as_down() {
        let read = |v: serde_json::Value| RoomMessage::from_json(&v.to_string());
        let state = |audio, video, hand| Some(RoomMessage::MediaState { audio, video, hand });
        assert_eq!(
            read(json!({"type": "media-state", "audio": false, "video": true})),
            state(false, true, false)
        );
        assert_eq!(
            read(json!({"type": "media-state", "video": false})),
            state(true, false, false)
        );
        assert_eq!(
            read(json!({"type": "media-state", "audio": "no", "hand": "yes"})),
            state(true, true, false)
        );
        assert_eq!(
            read(json!({"type": "media-state", "hand": true})),
            state(true, true, true)
        );
        assert_eq!(read(json!({"type": "raise-hand"})), None);
        assert_eq!(read(json!({"type": "chat", "text": 5})), None);
        assert_eq!(read(json!(["media-state"])), None);
        // A hand down is not written: clients from before hands read the same message.
        let lowered = RoomMessage::MediaState {
            audio: true,
            video: false,
            hand: false,
        };
        assert_eq!(
            lowered.to_json(),
            json!({"type": "media-state", "audio": true, "video": false})
        );
        let raised = RoomMessage::MediaState {
            audio: true,
            video: false,
            hand: true,
        };
        assert_eq!(
            raised.to_json(),
            json!({"type": "media-state", "audio": true, "video": false, "hand": true})
        );
        assert_eq!(
            RoomMessage::Chat { text: "hi".into() }.to_json(),
            json!({"type": "chat", "text": "hi"})
        );
    }

    #[test]
    fn chat_text_is_cleaned_and_cut() {
        assert_eq!(
            clean_chat(" 你好\u{7}, world\n "),
            Some("你好, world".into())
        );
        assert_eq!(clean_chat("a\nb"), Some("a\nb".into()));
        assert_eq!(clean_chat("\u{1b}\u{0}"), None);
        let long = "x".repeat(CHAT_LIMIT + 10);
        assert_eq!(clean_chat(&long).unwrap().len(), CHAT_LIMIT);
    }
}
