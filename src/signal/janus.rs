//! Janus's WebSocket API (subprotocol `janus-protocol`) and its VideoRoom plugin, as types: what
//! the call sends ([`Request`]) and what Janus says ([`Reply`]). The way of joining that speaks
//! it is `call::janus_room`; the transport that carries it is `signal::janus_client`.
//!
//! Everything Janus says is decoded here and nowhere else. A field this version does not know
//! is ignored; a message that is not Janus's at all is an error the call reports and survives.

use serde::{Deserialize, Serialize};

use super::relayed::CandidateInit;

/// A VideoRoom room: a number, or a name on servers set up with `string_ids`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RoomId {
    Number(u64),
    Name(String),
}

impl RoomId {
    /// From a link's room: digits are a number (Janus's default), anything else a name.
    pub fn from_link(room: &str) -> Self {
        match room.parse() {
            Ok(n) if !room.starts_with('0') || room == "0" => RoomId::Number(n),
            _ => RoomId::Name(room.to_string()),
        }
    }
}

/// The scheme and `HOST[:PORT]` of a Janus server's WebSocket URL (`ws://HOST:PORT/PATH`).
pub fn scheme_and_host(url: &str) -> Option<(&str, &str)> {
    let (scheme, rest) = url.split_once("://")?;
    Some((scheme, rest.split('/').next()?))
}

/// A publisher's id in a room (a number; a name with `string_ids`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(untagged)]
pub enum FeedId {
    Number(u64),
    Name(String),
}

impl std::fmt::Display for FeedId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FeedId::Number(n) => write!(f, "{n}"),
            FeedId::Name(s) => f.write_str(s),
        }
    }
}

/// A session description.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jsep {
    /// "offer" or "answer".
    #[serde(rename = "type")]
    pub kind: String,
    pub sdp: String,
}

impl Jsep {
    pub fn offer(sdp: String) -> Self {
        Jsep {
            kind: "offer".into(),
            sdp,
        }
    }

    pub fn answer(sdp: String) -> Self {
        Jsep {
            kind: "answer".into(),
            sdp,
        }
    }
}

/// What a request asks of Janus (the `janus` field and what goes with it).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "janus", rename_all = "lowercase")]
pub enum Action {
    Create,
    Attach {
        plugin: &'static str,
        session_id: u64,
    },
    Message {
        session_id: u64,
        handle_id: u64,
        body: VideoRoom,
        #[serde(skip_serializing_if = "Option::is_none")]
        jsep: Option<Jsep>,
    },
    Trickle {
        session_id: u64,
        handle_id: u64,
        candidate: Trickled,
    },
    Keepalive {
        session_id: u64,
    },
    Detach {
        session_id: u64,
        handle_id: u64,
    },
    Destroy {
        session_id: u64,
    },
}

/// One request: an action, its transaction (Janus's answers name it), and the server's token
/// when it asks for one.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Request {
    #[serde(flatten)]
    pub action: Action,
    pub transaction: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

impl Request {
    pub fn to_json(&self) -> String {
        // Only strings, numbers and our own enums: serializing cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The request as a log may hold it: without the Janus token, the room's PIN or the
    /// plugin's admin key, which admit to the room or the server.
    pub fn to_log(&self) -> String {
        let mut value = serde_json::to_value(self).unwrap_or_default();
        if let Some(request) = value.as_object_mut() {
            request.remove("token");
            if let Some(body) = request.get_mut("body").and_then(|b| b.as_object_mut()) {
                body.remove("pin");
                body.remove("admin_key");
            }
        }
        value.to_string()
    }
}

/// A trickled candidate, or the end of them.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Trickled {
    Candidate(CandidateInit),
    Completed { completed: bool },
}

/// Who joins: to publish (the join that enters the room) or to receive others' streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Ptype {
    Publisher,
    Subscriber,
}

/// One stream to receive: a publisher's, all of its streams unless `mid` names one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StreamRef {
    pub feed: FeedId,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mid: Option<String>,
}

/// What a published stream is (Janus passes it on to subscribers as `feed_description`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StreamDescription {
    pub mid: String,
    pub description: String,
}

/// The description our shared screen's stream is published under, and told apart by.
pub const SCREEN_DESCRIPTION: &str = "screen";

/// The VideoRoom plugin's requests (the `body` of a `message`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "request", rename_all = "lowercase")]
pub enum VideoRoom {
    Join {
        room: RoomId,
        ptype: Ptype,
        #[serde(skip_serializing_if = "Option::is_none")]
        display: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        pin: Option<String>,
        /// A subscriber's link to our publisher (from `joined`): Janus then lets it see
        /// streams the room keeps private.
        #[serde(skip_serializing_if = "Option::is_none")]
        private_id: Option<u64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        streams: Option<Vec<StreamRef>>,
    },
    /// A publisher's offer goes with this one; a subscriber asks for an ICE restart or a
    /// simulcast layer with it.
    Configure {
        #[serde(skip_serializing_if = "Option::is_none")]
        audio: Option<bool>,
        #[serde(skip_serializing_if = "Option::is_none")]
        video: Option<bool>,
        #[serde(skip_serializing_if = "Option::is_none")]
        restart: Option<bool>,
        #[serde(skip_serializing_if = "Option::is_none")]
        mid: Option<String>,
        /// A subscriber's stream `mid` relayed (or not). Saying "relay it" also has Janus ask
        /// its publisher for a keyframe.
        #[serde(skip_serializing_if = "Option::is_none")]
        send: Option<bool>,
        #[serde(skip_serializing_if = "Option::is_none")]
        substream: Option<u8>,
        /// What a publisher's streams are, by their `mid`: others see it with the stream.
        #[serde(skip_serializing_if = "Option::is_none")]
        descriptions: Option<Vec<StreamDescription>>,
    },
    /// A subscriber's answer goes with this one.
    Start,
    Subscribe {
        streams: Vec<StreamRef>,
    },
    Unsubscribe {
        streams: Vec<StreamRef>,
    },
    Leave,
    /// A new room (as `confer serve --janus` makes them): private, H.264 and Opus only.
    Create {
        room: RoomId,
        pin: String,
        publishers: u32,
        is_private: bool,
        videocodec: &'static str,
        h264_profile: &'static str,
        audiocodec: &'static str,
        #[serde(skip_serializing_if = "Option::is_none")]
        admin_key: Option<String>,
    },
    Destroy {
        room: RoomId,
        #[serde(skip_serializing_if = "Option::is_none")]
        admin_key: Option<String>,
    },
}

/// Something Janus said.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Reply {
    /// success, ack, event, error, trickle, webrtcup, media, slowlink, hangup, detached,
    /// timeout, server_info...
    pub janus: String,
    #[serde(default)]
    pub transaction: Option<String>,
    #[serde(default)]
    pub session_id: Option<u64>,
    /// The handle an event is about.
    #[serde(default)]
    pub sender: Option<u64>,
    /// A new session's or handle's id.
    #[serde(default)]
    pub data: Option<Created>,
    #[serde(default)]
    pub plugindata: Option<PluginData>,
    #[serde(default)]
    pub jsep: Option<Jsep>,
    #[serde(default)]
    pub error: Option<CoreError>,
    /// Why a handle hung up.
    #[serde(default)]
    pub reason: Option<String>,
}

impl Reply {
    pub fn decode(text: &str) -> Result<Reply, String> {
        serde_json::from_str(text).map_err(|e| format!("not a Janus message: {e}"))
    }

    /// The VideoRoom's part of an event or a synchronous answer.
    pub fn videoroom(&self) -> Option<&RoomEvent> {
        self.plugindata.as_ref().map(|p| &p.data)
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Created {
    pub id: u64,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct CoreError {
    pub code: i64,
    #[serde(default)]
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct PluginData {
    #[serde(default)]
    pub plugin: String,
    pub data: RoomEvent,
}

/// What the VideoRoom plugin said: one shape for its many messages, each field there when the
/// message has it (`videoroom` says which: joined, event, attached, updated, destroyed...).
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default)]
pub struct RoomEvent {
    pub videoroom: Option<String>,
    /// Our own id as a publisher (in `joined`).
    pub id: Option<FeedId>,
    pub private_id: Option<u64>,
    pub publishers: Option<Vec<Publisher>>,
    /// A publisher that stopped sending; `Name("ok")` for our own unpublish.
    pub unpublished: Option<FeedId>,
    /// A participant that left; `Name("ok")` for our own leave.
    pub leaving: Option<FeedId>,
    pub kicked: Option<FeedId>,
    /// What a subscriber connection carries now (in `attached` and `updated`).
    pub streams: Option<Vec<SubscribedStream>>,
    pub error_code: Option<i64>,
    pub error: Option<String>,
    pub configured: Option<String>,
    pub started: Option<String>,
    /// The simulcast substream now forwarded on the subscriber's section `mid`.
    pub substream: Option<u8>,
    pub mid: Option<String>,
}

impl RoomEvent {
    /// The plugin's refusal, if this is one: its code and its words.
    pub fn refusal(&self) -> Option<(i64, String)> {
        let code = self.error_code?;
        Some((code, self.error.clone().unwrap_or_default()))
    }
}

/// Someone publishing in the room.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Publisher {
    pub id: FeedId,
    #[serde(default)]
    pub display: Option<String>,
    #[serde(default)]
    pub streams: Vec<PublishedStream>,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default)]
pub struct PublishedStream {
    /// "audio", "video" or "data".
    #[serde(rename = "type")]
    pub kind: String,
    pub mid: Option<String>,
    pub codec: Option<String>,
    pub disabled: Option<bool>,
    /// What the publisher said it is.
    pub description: Option<String>,
}

/// One media section of our subscriber connection: whose stream it carries.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default)]
pub struct SubscribedStream {
    pub mid: Option<String>,
    #[serde(rename = "type")]
    pub kind: String,
    pub feed_id: Option<FeedId>,
    pub feed_display: Option<String>,
    /// The publisher's `mid` for it, and what they said it is (a shared screen's is
    /// [`SCREEN_DESCRIPTION`]).
    pub feed_mid: Option<String>,
    pub feed_description: Option<String>,
    /// False for a section whose publisher has gone (Janus keeps it, inactive, for reuse).
    pub active: Option<bool>,
}

/// VideoRoom error codes (janus_videoroom.c) people can be told about in words.
pub mod error_code {
    pub const NO_SUCH_ROOM: i64 = 426;
    pub const ROOM_EXISTS: i64 = 427;
    pub const NO_SUCH_FEED: i64 = 428;
    pub const MISSING_ELEMENT: i64 = 429;
    pub const INVALID_ELEMENT: i64 = 430;
    pub const INVALID_SDP_TYPE: i64 = 431;
    pub const PUBLISHERS_FULL: i64 = 432;
    pub const UNAUTHORIZED: i64 = 433;
    pub const ALREADY_PUBLISHED: i64 = 434;
    pub const NOT_PUBLISHED: i64 = 435;
    pub const ID_EXISTS: i64 = 436;
    pub const INVALID_SDP: i64 = 437;
    /// Janus's core: the session does not exist (any more).
    pub const SESSION_NOT_FOUND: i64 = 458;
    /// Janus's core: a token the server does not accept.
    pub const CORE_UNAUTHORIZED: i64 = 403;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_serialize_as_janus_reads_them() {
        let join = Request {
            action: Action::Message {
                session_id: 1,
                handle_id: 2,
                body: VideoRoom::Join {
                    room: RoomId::from_link("1234"),
                    ptype: Ptype::Publisher,
                    display: Some("Ana".into()),
                    pin: Some("x".into()),
                    private_id: None,
                    streams: None,
                },
                jsep: None,
            },
            transaction: "t1".into(),
            token: None,
        };
        let value: serde_json::Value = serde_json::from_str(&join.to_json()).unwrap();
        assert_eq!(
            value,
            serde_json::json!({"janus": "message", "session_id": 1, "handle_id": 2,
                "transaction": "t1", "body": {"request": "join", "room": 1234,
                "ptype": "publisher", "display": "Ana", "pin": "x"}})
        );
        // What is logged holds no PIN.
        let logged: serde_json::Value = serde_json::from_str(&join.to_log()).unwrap();
        assert_eq!(logged["body"]["display"], "Ana");
        assert!(logged["body"].get("pin").is_none(), "{logged}");
        let done = Request {
            action: Action::Trickle {
                session_id: 1,
                handle_id: 2,
                candidate: Trickled::Completed { completed: true },
            },
            transaction: "t2".into(),
            token: Some("tok".into()),
        };
        let value: serde_json::Value = serde_json::from_str(&done.to_json()).unwrap();
        assert_eq!(value["candidate"], serde_json::json!({"completed": true}));
        assert_eq!(value["token"], "tok");
        assert!(!done.to_log().contains("tok"), "{}", done.to_log());
        let start = serde_json::to_value(VideoRoom::Start).unwrap();
        assert_eq!(start, serde_json::json!({"request": "start"}));
    }

    #[test]
    fn rooms_from_links() {
        assert_eq!(RoomId::from_link("1234"), RoomId::Number(1234));
        assert_eq!(RoomId::from_link("0"), RoomId::Number(0));
        // A leading zero would be lost as a number: it is a name.
        assert_eq!(RoomId::from_link("007"), RoomId::Name("007".into()));
        assert_eq!(RoomId::from_link("team"), RoomId::Name("team".into()));
    }

    #[test]
    fn janus_messages_decode() {
        let joined = Reply::decode(
            r#"{"janus":"event","session_id":5,"transaction":"t","sender":9,
            "plugindata":{"plugin":"janus.plugin.videoroom","data":{"videoroom":"joined",
            "room":1234,"description":"Demo","id":77,"private_id":88,"publishers":[{"id":12,
            "display":"Bo","streams":[{"type":"audio","mindex":0,"mid":"0","codec":"opus"},
            {"type":"video","mindex":1,"mid":"1","codec":"h264"}],"talking":false}]}}}"#,
        )
        .unwrap();
        let room = joined.videoroom().unwrap();
        assert_eq!(room.videoroom.as_deref(), Some("joined"));
        assert_eq!(room.id, Some(FeedId::Number(77)));
        assert_eq!(room.private_id, Some(88));
        let publishers = room.publishers.as_ref().unwrap();
        assert_eq!(publishers[0].display.as_deref(), Some("Bo"));
        assert_eq!(publishers[0].streams[1].kind, "video");

        let gone = Reply::decode(
            r#"{"janus":"event","sender":9,"plugindata":{"plugin":"janus.plugin.videoroom",
            "data":{"videoroom":"event","room":1234,"unpublished":12}}}"#,
        )
        .unwrap();
        assert_eq!(
            gone.videoroom().unwrap().unpublished,
            Some(FeedId::Number(12))
        );
        let refused = Reply::decode(
            r#"{"janus":"event","sender":9,"plugindata":{"plugin":"janus.plugin.videoroom",
            "data":{"videoroom":"event","error_code":433,"error":"Unauthorized (wrong pin)"}}}"#,
        )
        .unwrap();
        assert_eq!(
            refused.videoroom().unwrap().refusal(),
            Some((error_code::UNAUTHORIZED, "Unauthorized (wrong pin)".into()))
        );
        assert_eq!(joined.videoroom().unwrap().refusal(), None);
        let created =
            Reply::decode(r#"{"janus":"success","transaction":"a","data":{"id":99}}"#).unwrap();
        assert_eq!(created.data, Some(Created { id: 99 }));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for text in ["", "null", "[]", "{\"janus\": 5}", "{", "\u{0}"] {
            assert!(Reply::decode(text).is_err(), "{text:?}");
        }
        // Unknown fields and kinds are Janus's business: they decode.
        let odd = Reply::decode(r#"{"janus":"server_info","name":"x","plugins":{}}"#).unwrap();
        assert_eq!(odd.janus, "server_info");
    }
}
