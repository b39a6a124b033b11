//! The signaling protocol, version 1 (docs/PROTOCOL.md): the messages client and server exchange,
//! one JSON object per WebSocket text frame. Shared by the server, the client and the tests.
//!
//! Decoding is strict about what it needs and lenient about what it does not: unknown fields are
//! ignored (newer clients may add some), while a missing or mistyped field is a `bad-message` that
//! names the field. `data` is carried as raw JSON, never parsed by the server, and relayed as is.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::invite::validate_room;

pub const PROTOCOL_VERSION: u64 = 1;
/// Display names: 1 to 64 characters, no control characters.
pub const MAX_NAME_CHARS: usize = 64;
/// Resume secrets and peer ids are server-made; anything longer is not one of ours.
const MAX_ID_LEN: usize = 64;

/// Declares the error codes once: the enum, [`ErrorCode::ALL`] and [`ErrorCode::as_str`] come
/// from the same list, so a new code cannot be left out of one of them.
macro_rules! error_codes {
    ($($code:ident = $text:literal,)+) => {
        /// The error codes of the protocol.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum ErrorCode {
            $(#[serde(rename = $text)] $code,)+
        }

        impl ErrorCode {
            pub const ALL: [ErrorCode; [$($text),+].len()] = [$(ErrorCode::$code),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$code => $text,)+
                }
            }
        }
    };
}

error_codes! {
    BadMessage = "bad-message",
    BadToken = "bad-token",
    RoomFull = "room-full",
    RateLimited = "rate-limited",
    TooLarge = "too-large",
    UnknownPeer = "unknown-peer",
    NotJoined = "not-joined",
    Version = "version",
    Server = "server",
}

impl ErrorCode {
    /// After these the server closes the connection (PROTOCOL.md).
    pub fn closes(self) -> bool {
        matches!(
            self,
            ErrorCode::BadToken | ErrorCode::RoomFull | ErrorCode::Version
        )
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A participant's id in a room: made by the server, unique in the room, opaque to clients.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PeerId(String);

impl PeerId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<String> for PeerId {
    fn from(id: String) -> Self {
        PeerId(id)
    }
}

impl From<&str> for PeerId {
    fn from(id: &str) -> Self {
        PeerId(id.to_string())
    }
}

impl std::fmt::Display for PeerId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl PartialEq<str> for PeerId {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for PeerId {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl PartialEq<String> for PeerId {
    fn eq(&self, other: &String) -> bool {
        &self.0 == other
    }
}

/// Why a message was refused: the code and words for the `error` message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ProtocolError {
    pub code: ErrorCode,
    pub message: String,
}

impl ProtocolError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    fn bad(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::BadMessage, message)
    }
}

/// A message from a client, checked.
#[derive(Debug)]
pub enum ClientMessage {
    Join(Join),
    Signal { to: PeerId, data: Box<RawValue> },
    Broadcast { data: Box<RawValue> },
    Leave,
}

/// Equal when the same message with the same JSON text (`RawValue` has no equality of its own).
impl PartialEq for ClientMessage {
    fn eq(&self, other: &Self) -> bool {
        use ClientMessage::*;
        match (self, other) {
            (Join(a), Join(b)) => a == b,
            (Signal { to: a, data: x }, Signal { to: b, data: y }) => a == b && x.get() == y.get(),
            (Broadcast { data: x }, Broadcast { data: y }) => x.get() == y.get(),
            (Leave, Leave) => true,
            _ => false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Join {
    pub room: String,
    pub token: Option<String>,
    pub name: String,
    pub resume: Option<String>,
}

/// Every field any client message may have. A struct rather than a tagged enum because serde's
/// tagged enums cannot carry `RawValue`, and because it lets errors name the missing field.
#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(rename = "type", borrow)]
    kind: Option<std::borrow::Cow<'a, str>>,
    room: Option<String>,
    token: Option<String>,
    name: Option<String>,
    v: Option<serde_json::Value>,
    resume: Option<String>,
    to: Option<String>,
    data: Option<Box<RawValue>>,
}

impl ClientMessage {
    /// Decodes one text frame.
    pub fn decode(text: &str) -> Result<ClientMessage, ProtocolError> {
        let envelope: Envelope = serde_json::from_str(text).map_err(|e| {
            ProtocolError::bad(if e.is_data() {
                format!("a field has the wrong type: {e}")
            } else {
                format!("not a JSON object: {e}")
            })
        })?;
        let Some(kind) = envelope.kind.as_deref() else {
            return Err(ProtocolError::bad("the message has no \"type\""));
        };
        match kind {
            "join" => Ok(ClientMessage::Join(decode_join(envelope)?)),
            "signal" => {
                let to = envelope
                    .to
                    .ok_or_else(|| ProtocolError::bad("signal without \"to\""))?;
                if to.is_empty() || to.len() > MAX_ID_LEN {
                    return Err(ProtocolError::new(
                        ErrorCode::UnknownPeer,
                        "no such peer in this room",
                    ));
                }
                Ok(ClientMessage::Signal {
                    to: PeerId(to),
                    data: object_data(envelope.data, "signal")?,
                })
            }
            "broadcast" => Ok(ClientMessage::Broadcast {
                data: object_data(envelope.data, "broadcast")?,
            }),
            "leave" => Ok(ClientMessage::Leave),
            other => Err(ProtocolError::bad(format!(
                "unknown message type \"{}\"",
                other.chars().take(32).collect::<String>()
            ))),
        }
    }
}

fn decode_join(envelope: Envelope) -> Result<Join, ProtocolError> {
    match envelope.v.as_ref().and_then(serde_json::Value::as_u64) {
        Some(PROTOCOL_VERSION) => {}
        Some(other) => {
            return Err(ProtocolError::new(
                ErrorCode::Version,
                format!("protocol version {other} is not supported; this server speaks 1"),
            ));
        }
        None => {
            return Err(ProtocolError::new(
                ErrorCode::Version,
                "join must carry the protocol version: \"v\":1",
            ));
        }
    }
    let room = envelope
        .room
        .ok_or_else(|| ProtocolError::bad("join without \"room\""))?;
    validate_room(&room).map_err(|e| ProtocolError::bad(e.to_string()))?;
    let name = envelope
        .name
        .ok_or_else(|| ProtocolError::bad("join without \"name\""))?;
    let name = validate_name(&name)?;
    if envelope
        .resume
        .as_ref()
        .is_some_and(|r| r.len() > MAX_ID_LEN)
    {
        return Err(ProtocolError::bad("\"resume\" is not a resume secret"));
    }
    Ok(Join {
        room,
        token: envelope.token.filter(|t| !t.is_empty()),
        name,
        resume: envelope.resume.filter(|r| !r.is_empty()),
    })
}

/// Trims a display name and checks it; names are shown to every peer, so no control characters
/// (which could fake lines in a chat or a log).
pub fn validate_name(name: &str) -> Result<String, ProtocolError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(ProtocolError::bad("the name is empty"));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(ProtocolError::bad(format!(
            "the name is longer than {MAX_NAME_CHARS} characters"
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(ProtocolError::bad("the name contains control characters"));
    }
    Ok(name.to_string())
}

fn object_data(data: Option<Box<RawValue>>, kind: &str) -> Result<Box<RawValue>, ProtocolError> {
    let data = data.ok_or_else(|| ProtocolError::bad(format!("{kind} without \"data\"")))?;
    if !data.get().starts_with('{') {
        return Err(ProtocolError::bad(format!(
            "the \"data\" of a {kind} must be a JSON object"
        )));
    }
    Ok(data)
}

/// A participant as `welcome` and `peer-joined` describe it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerInfo {
    pub id: PeerId,
    pub name: String,
}

/// An entry of `ice_servers`, in the browser's RTCIceServer shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IceServer {
    pub urls: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
}

/// Where a room's media goes when it is not a mesh (docs/PROTOCOL.md, "Rooms past the mesh"):
/// a Janus VideoRoom made for this room, with the PIN that admits its members.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaRoute {
    /// `janus` (the only one so far).
    pub via: String,
    /// Janus's WebSocket API, `ws://` or `wss://`.
    pub url: String,
    pub room: u64,
    pub pin: String,
}

/// A message from the server. Serialized by the server; deserialized by clients (where `data`
/// arrives as raw JSON; `signal::relayed` reads it).
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum ServerMessage {
    Welcome {
        id: PeerId,
        resume: String,
        peers: Vec<PeerInfo>,
        ice_servers: Vec<IceServer>,
        /// Set once the room's media goes through an SFU.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        media: Option<MediaRoute>,
    },
    PeerJoined {
        id: PeerId,
        name: String,
    },
    PeerLeft {
        id: PeerId,
    },
    Signal {
        from: PeerId,
        data: Box<RawValue>,
    },
    Broadcast {
        from: PeerId,
        data: Box<RawValue>,
    },
    Error {
        code: ErrorCode,
        message: String,
    },
    /// The room's media moves (to everyone in it when it does).
    Media {
        #[serde(flatten)]
        route: MediaRoute,
    },
}

impl ServerMessage {
    pub fn error(e: &ProtocolError) -> Self {
        ServerMessage::Error {
            code: e.code,
            message: e.message.clone(),
        }
    }

    /// The JSON text of the message.
    pub fn encode(&self) -> String {
        // Serializing these types cannot fail: string keys, no maps with non-string keys, and
        // RawValue holds JSON that was checked when it was parsed.
        serde_json::to_string(self).unwrap_or_else(|_| {
            r#"{"type":"error","code":"server","message":"encoding failed"}"#.to_string()
        })
    }

    /// Decodes a server message (clients).
    pub fn decode(text: &str) -> Result<ServerMessage, serde_json::Error> {
        // serde's tagged enums buffer their fields and cannot hand them to RawValue; decode the
        // relayed kinds through a plain struct instead.
        #[derive(Deserialize)]
        struct Relayed<'a> {
            #[serde(rename = "type")]
            kind: &'a str,
            from: PeerId,
            data: Box<RawValue>,
        }
        let kind = serde_json::from_str::<TypeOnly>(text)?.kind;
        match kind.as_str() {
            "signal" | "broadcast" => {
                let relayed: Relayed = serde_json::from_str(text)?;
                Ok(if relayed.kind == "signal" {
                    ServerMessage::Signal {
                        from: relayed.from,
                        data: relayed.data,
                    }
                } else {
                    ServerMessage::Broadcast {
                        from: relayed.from,
                        data: relayed.data,
                    }
                })
            }
            _ => serde_json::from_str(text),
        }
    }
}

#[derive(Deserialize)]
struct TypeOnly {
    #[serde(rename = "type")]
    kind: String,
}

/// Client messages, for clients and tests to send.
pub mod outgoing {
    use serde_json::json;

    use super::PROTOCOL_VERSION;

    pub fn join(room: &str, token: Option<&str>, name: &str, resume: Option<&str>) -> String {
        let mut msg = json!({"type": "join", "room": room, "name": name, "v": PROTOCOL_VERSION});
        if let Some(token) = token {
            msg["token"] = token.into();
        }
        if let Some(resume) = resume {
            msg["resume"] = resume.into();
        }
        msg.to_string()
    }

    pub fn signal(to: &str, data: &serde_json::Value) -> String {
        json!({"type": "signal", "to": to, "data": data}).to_string()
    }

    pub fn broadcast(data: &serde_json::Value) -> String {
        json!({"type": "broadcast", "data": data}).to_string()
    }

    pub fn leave() -> String {
        json!({"type": "leave"}).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bad(text: &str) -> ProtocolError {
        ClientMessage::decode(text).unwrap_err()
    }

    #[test]
    fn decodes_each_client_message() {
        let join = ClientMessage::decode(
            r#"{"type":"join","room":"r-1","token":"t.1","name":" Ana ","v":1,"extra":true}"#,
        )
        .unwrap();
        assert_eq!(
            join,
            ClientMessage::Join(Join {
                room: "r-1".into(),
                token: Some("t.1".into()),
                name: "Ana".into(),
                resume: None,
            })
        );
        match ClientMessage::decode(
            r#"{"type":"signal","to":"p1","data":{"type":"offer","sdp":"v=0"}}"#,
        )
        .unwrap()
        {
            ClientMessage::Signal { to, data } => {
                assert_eq!(to, "p1");
                assert_eq!(data.get(), r#"{"type":"offer","sdp":"v=0"}"#);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            ClientMessage::decode(r#"{"type":"broadcast","data":{"chat":"hi"}}"#).unwrap(),
            ClientMessage::Broadcast { .. }
        ));
        assert_eq!(
            ClientMessage::decode(r#"{"type":"leave"}"#).unwrap(),
            ClientMessage::Leave
        );
    }

    #[test]
    fn every_malformed_message_gets_a_precise_error() {
        for (text, code, words) in [
            ("hello", ErrorCode::BadMessage, "not a JSON object"),
            ("[1,2]", ErrorCode::BadMessage, "wrong type"),
            (r#"{"room":"r"}"#, ErrorCode::BadMessage, "no \"type\""),
            (r#"{"type":7}"#, ErrorCode::BadMessage, "wrong type"),
            (
                r#"{"type":"dance"}"#,
                ErrorCode::BadMessage,
                "unknown message type",
            ),
            (
                r#"{"type":"join","name":"a","v":1}"#,
                ErrorCode::BadMessage,
                "without \"room\"",
            ),
            (
                r#"{"type":"join","room":"a b","name":"a","v":1}"#,
                ErrorCode::BadMessage,
                "bad room name",
            ),
            (
                r#"{"type":"join","room":"r","v":1}"#,
                ErrorCode::BadMessage,
                "without \"name\"",
            ),
            (
                r#"{"type":"join","room":"r","name":"  ","v":1}"#,
                ErrorCode::BadMessage,
                "name is empty",
            ),
            (
                r#"{"type":"join","room":"r","name":"a\u0007b","v":1}"#,
                ErrorCode::BadMessage,
                "control",
            ),
            (
                r#"{"type":"join","room":"r","name":"a"}"#,
                ErrorCode::Version,
                "\"v\":1",
            ),
            (
                r#"{"type":"join","room":"r","name":"a","v":2}"#,
                ErrorCode::Version,
                "version 2",
            ),
            (
                r#"{"type":"join","room":5,"name":"a","v":1}"#,
                ErrorCode::BadMessage,
                "wrong type",
            ),
            (
                r#"{"type":"signal","data":{}}"#,
                ErrorCode::BadMessage,
                "without \"to\"",
            ),
            (
                r#"{"type":"signal","to":"p"}"#,
                ErrorCode::BadMessage,
                "without \"data\"",
            ),
            (
                r#"{"type":"signal","to":"p","data":"x"}"#,
                ErrorCode::BadMessage,
                "must be a JSON object",
            ),
            (
                r#"{"type":"broadcast","data":[1]}"#,
                ErrorCode::BadMessage,
                "must be a JSON object",
            ),
        ] {
            let e = bad(text);
            assert_eq!(e.code, code, "{text}: {e}");
            assert!(e.message.contains(words), "{text}: {e}");
        }
        let long_name = format!(
            r#"{{"type":"join","room":"r","name":"{}","v":1}}"#,
            "é".repeat(65)
        );
        assert!(bad(&long_name).message.contains("longer than 64"));
    }

    #[test]
    fn relayed_data_is_kept_byte_for_byte() {
        let data = r#"{"type":"candidate","candidate":{"candidate":"candidate:1 1 udp 2122260223 127.0.0.1 5000 typ host","sdpMid":"0","sdpMLineIndex":0}}"#;
        let ClientMessage::Signal { data: raw, .. } =
            ClientMessage::decode(&format!(r#"{{"type":"signal","to":"p","data":{data}}}"#))
                .unwrap()
        else {
            panic!("not a signal")
        };
        let out = ServerMessage::Signal {
            from: "q".into(),
            data: raw,
        }
        .encode();
        assert_eq!(
            out,
            format!(r#"{{"type":"signal","from":"q","data":{data}}}"#)
        );
        match ServerMessage::decode(&out).unwrap() {
            ServerMessage::Signal { from, data: back } => {
                assert_eq!(from, "q");
                assert_eq!(back.get(), data);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn server_messages_match_the_protocol_document() {
        let welcome = ServerMessage::Welcome {
            id: "P".into(),
            resume: "S".into(),
            peers: vec![PeerInfo {
                id: "P1".into(),
                name: "Bob".into(),
            }],
            ice_servers: vec![
                IceServer {
                    urls: vec!["stun:host:3478".into()],
                    username: None,
                    credential: None,
                },
                IceServer {
                    urls: vec!["turn:host:3478".into()],
                    username: Some("u".into()),
                    credential: Some("c".into()),
                },
            ],
            media: None,
        };
        assert_eq!(
            welcome.encode(),
            r#"{"type":"welcome","id":"P","resume":"S","peers":[{"id":"P1","name":"Bob"}],"ice_servers":[{"urls":["stun:host:3478"]},{"urls":["turn:host:3478"],"username":"u","credential":"c"}]}"#
        );
        assert_eq!(
            ServerMessage::PeerJoined {
                id: "P2".into(),
                name: "Carol".into()
            }
            .encode(),
            r#"{"type":"peer-joined","id":"P2","name":"Carol"}"#
        );
        assert_eq!(
            ServerMessage::PeerLeft { id: "P2".into() }.encode(),
            r#"{"type":"peer-left","id":"P2"}"#
        );
        let route = MediaRoute {
            via: "janus".into(),
            url: "ws://janus.example.org:8188".into(),
            room: 4242,
            pin: "k3y".into(),
        };
        let media = ServerMessage::Media {
            route: route.clone(),
        }
        .encode();
        assert_eq!(
            media,
            r#"{"type":"media","via":"janus","url":"ws://janus.example.org:8188","room":4242,"pin":"k3y"}"#
        );
        assert!(matches!(
            ServerMessage::decode(&media).unwrap(),
            ServerMessage::Media { route: back } if back == route
        ));
        for code in ErrorCode::ALL {
            let text = ServerMessage::Error {
                code,
                message: "m".into(),
            }
            .encode();
            assert_eq!(
                text,
                format!(
                    r#"{{"type":"error","code":"{}","message":"m"}}"#,
                    code.as_str()
                )
            );
            assert!(matches!(
                ServerMessage::decode(&text).unwrap(),
                ServerMessage::Error { code: c, .. } if c == code
            ));
        }
    }

    #[test]
    fn outgoing_messages_decode_as_sent() {
        let join = outgoing::join("room", Some("tok"), "Ana", Some("sec"));
        assert_eq!(
            ClientMessage::decode(&join).unwrap(),
            ClientMessage::Join(Join {
                room: "room".into(),
                token: Some("tok".into()),
                name: "Ana".into(),
                resume: Some("sec".into()),
            })
        );
        let signal = outgoing::signal("p", &serde_json::json!({"type": "answer", "sdp": "x"}));
        assert!(matches!(
            ClientMessage::decode(&signal).unwrap(),
            ClientMessage::Signal { .. }
        ));
        assert_eq!(
            ClientMessage::decode(&outgoing::leave()).unwrap(),
            ClientMessage::Leave
        );
    }
}
