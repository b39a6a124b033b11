//! Invite links, the two forms of PROTOCOL.md:
//! `https://HOST[:PORT]/j/ROOM#t=TOKEN` (the web page; `http://` means the local network) and
//! `confer://HOST[:PORT]/ROOM#t=TOKEN` (the app; `?insecure=1` means the local network);
//! and a room of any Janus server's VideoRoom plugin:
//! `janus+wss://HOST[:PORT][/PATH]?room=ROOM[&pin=PIN][&token=TOKEN]` (`janus+ws://` for the
//! local network), where PATH is where the server's WebSocket transport listens.
//!
//! Links come from mail and chat, so they are untrusted: every way a link can be wrong gets its
//! own error that says what to fix, and nothing here panics.

use std::fmt;

use thiserror::Error;
use url::Url;

/// Room names: 1 to 64 characters of `[A-Za-z0-9_-]` (PROTOCOL.md).
pub const MAX_ROOM_LEN: usize = 64;
/// Far more than any token the server mints; keeps a pasted essay out of memory and logs.
pub const MAX_TOKEN_LEN: usize = 1024;
/// Longer than any real link; refuse before parsing.
pub const MAX_LINK_LEN: usize = 4096;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum InviteError {
    #[error("the link is empty")]
    Empty,
    #[error("the link is too long ({0} characters; at most {MAX_LINK_LEN})")]
    TooLong(usize),
    #[error("not a link: {0}")]
    NotALink(String),
    #[error(
        "unknown scheme \"{0}\": an invite link starts with confer:// or https:// (a Janus \
         room's with janus+wss://)"
    )]
    UnknownScheme(String),
    #[error(
        "a plain http:// link is for a browser on the local network; the app opens confer:// \
         and https:// links (the page at this link has an \"Open in Confer\" button)"
    )]
    PlainHttpFromOutside,
    #[error("the link has no host")]
    MissingHost,
    #[error("the link has a user name or password before the host; invite links never do")]
    UserInfo,
    #[error("the link has no room: expected {expected}")]
    MissingRoom { expected: &'static str },
    #[error("the link's path \"{path}\" is not a meeting: expected {expected}")]
    BadPath {
        path: String,
        expected: &'static str,
    },
    #[error("bad room name \"{room}\": {reason}")]
    BadRoom { room: String, reason: &'static str },
    #[error("bad token in the link: {0}")]
    BadToken(&'static str),
    #[error("bad insecure flag \"{0}\": use insecure=1 or leave it out")]
    BadInsecureFlag(String),
    #[error("the Janus link says \"{0}\", which it does not know: it takes room, pin and token")]
    UnknownJanusKey(String),
    #[error("the Janus link says {0} twice")]
    RepeatedJanusKey(&'static str),
    #[error("bad {what} in the Janus link: {reason}")]
    BadJanusValue {
        what: &'static str,
        reason: &'static str,
    },
}

/// A parsed invite: where the signaling server is, which room, and the token that admits us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invite {
    /// Host as written in the link, IPv6 addresses in brackets.
    pub host: String,
    pub port: Option<u16>,
    pub room: String,
    pub token: Option<String>,
    /// `false` for `http://`, `confer://...?insecure=1` and `janus+ws://` links: plain `ws://`,
    /// local network only.
    pub secure: bool,
    /// Set for a room on a Janus server (then `room` is its VideoRoom id and `token` a Janus
    /// token, if the server asks for one).
    pub janus: Option<JanusTarget>,
}

/// What a Janus link says beyond host, room and token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JanusTarget {
    /// Where the server's WebSocket transport listens ("/" unless a proxy puts it elsewhere).
    pub path: String,
    /// The room's PIN, if it has one.
    pub pin: Option<String>,
}

const HTTPS_FORM: &str = "https://HOST[:PORT]/j/ROOM#t=TOKEN";
const CONFER_FORM: &str = "confer://HOST[:PORT]/ROOM#t=TOKEN";
const JANUS_FORM: &str = "janus+wss://HOST[:PORT][/PATH]?room=ROOM[&pin=PIN][&token=TOKEN]";
/// A PIN or token longer than this is not one.
const MAX_JANUS_SECRET_LEN: usize = 1024;

impl Invite {
    /// A link that came from outside the app (a click in mail or chat that the system hands
    /// to it, another start of the app): the app form or the secure web form, nothing else.
    pub fn parse_handed_over(link: &str) -> Result<Self, InviteError> {
        let invite = Self::parse(link)?;
        if link
            .trim_start()
            .get(..5)
            .is_some_and(|s| s.eq_ignore_ascii_case("http:"))
        {
            return Err(InviteError::PlainHttpFromOutside);
        }
        Ok(invite)
    }

    /// Parses either link form. Surrounding white space (as pasted from chat) is ignored.
    pub fn parse(link: &str) -> Result<Self, InviteError> {
        let link = link.trim();
        if link.is_empty() {
            return Err(InviteError::Empty);
        }
        if link.len() > MAX_LINK_LEN {
            return Err(InviteError::TooLong(link.len()));
        }
        let url = Url::parse(link).map_err(|e| match e {
            url::ParseError::RelativeUrlWithoutBase => InviteError::NotALink(format!(
                "\"{}\" has no scheme; an invite link starts with confer:// or https://",
                shorten(link)
            )),
            url::ParseError::EmptyHost => InviteError::MissingHost,
            other => InviteError::NotALink(other.to_string()),
        })?;

        let (secure, expected) = match url.scheme() {
            "https" => (true, HTTPS_FORM),
            "http" => (false, HTTPS_FORM),
            "confer" => (!insecure_flag(&url)?, CONFER_FORM),
            "janus+wss" => (true, JANUS_FORM),
            "janus+ws" => (false, JANUS_FORM),
            other => return Err(InviteError::UnknownScheme(shorten(other))),
        };
        if !url.username().is_empty() || url.password().is_some() {
            return Err(InviteError::UserInfo);
        }
        // `host_str` keeps an IPv6 address in its brackets, as the link wrote it.
        let host = match url.host_str() {
            Some(host) if !host.is_empty() => host.to_string(),
            _ => return Err(InviteError::MissingHost),
        };

        if expected == JANUS_FORM {
            let (room, pin, token) = janus_query(&url)?;
            let path = match url.path() {
                "" => "/".to_string(),
                path => path.to_string(),
            };
            return Ok(Invite {
                host,
                port: url.port(),
                room,
                token,
                secure,
                janus: Some(JanusTarget { path, pin }),
            });
        }
        let room = room_from_path(url.path(), url.scheme() == "confer", expected)?;
        validate_room(&room)?;
        let token = token_from_fragment(url.fragment())?;

        Ok(Invite {
            host,
            port: url.port(),
            room,
            token,
            secure,
            janus: None,
        })
    }

    /// `HOST[:PORT]`, as shown to a user deciding whether to trust the link.
    pub fn authority(&self) -> String {
        match self.port {
            Some(port) => format!("{}:{port}", self.host),
            None => self.host.clone(),
        }
    }

    /// The WebSocket address of the signaling server (PROTOCOL.md: path `/ws`; a Janus
    /// server's, where its link says).
    pub fn signaling_url(&self) -> String {
        let scheme = if self.secure { "wss" } else { "ws" };
        let path = self.janus.as_ref().map_or("/ws", |j| j.path.as_str());
        format!("{scheme}://{}{path}", self.authority())
    }

    /// The `https://` (or `http://`) form, which opens the web page for guests. A Janus room
    /// has no page of ours: its link is the Janus link.
    pub fn web_link(&self) -> String {
        if self.janus.is_some() {
            return self.app_link();
        }
        let scheme = if self.secure { "https" } else { "http" };
        format!(
            "{scheme}://{}/j/{}{}",
            self.authority(),
            self.room,
            self.fragment()
        )
    }

    /// The `confer://` form, which opens the app (a Janus room's `janus+wss://` link, whole).
    pub fn app_link(&self) -> String {
        if let Some(janus) = &self.janus {
            let mut query = url::form_urlencoded::Serializer::new(String::new());
            query.append_pair("room", &self.room);
            if let Some(pin) = &janus.pin {
                query.append_pair("pin", pin);
            }
            if let Some(token) = &self.token {
                query.append_pair("token", token);
            }
            return format!("{}?{}", self.janus_base(janus), query.finish());
        }
        let query = if self.secure { "" } else { "?insecure=1" };
        format!(
            "confer://{}/{}{query}{}",
            self.authority(),
            self.room,
            self.fragment()
        )
    }

    fn janus_base(&self, janus: &JanusTarget) -> String {
        let scheme = if self.secure { "janus+wss" } else { "janus+ws" };
        let path = if janus.path == "/" { "" } else { &janus.path };
        format!("{scheme}://{}{path}", self.authority())
    }

    fn fragment(&self) -> String {
        self.token
            .as_ref()
            .map(|t| format!("#t={t}"))
            .unwrap_or_default()
    }
}

impl fmt::Display for Invite {
    /// The `confer://` form (or the Janus one), without token or PIN: safe for logs and window
    /// titles.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.janus {
            Some(janus) => write!(f, "{}?room={}", self.janus_base(janus), self.room),
            None => write!(f, "confer://{}/{}", self.authority(), self.room),
        }
    }
}

fn insecure_flag(url: &Url) -> Result<bool, InviteError> {
    let mut insecure = false;
    for (key, value) in url.query_pairs() {
        if key == "insecure" {
            insecure = match value.as_ref() {
                "1" | "true" => true,
                "0" | "false" => false,
                other => return Err(InviteError::BadInsecureFlag(shorten(other))),
            };
        }
    }
    Ok(insecure)
}

/// A Janus link's query: the room (required), its PIN and a Janus token. Anything else is a
/// mistake worth saying (a misspelt `pin` would otherwise surface as a wrong PIN).
fn janus_query(url: &Url) -> Result<(String, Option<String>, Option<String>), InviteError> {
    let (mut room, mut pin, mut token) = (None, None, None);
    for (key, value) in url.query_pairs() {
        let (slot, what) = match key.as_ref() {
            "room" => (&mut room, "room"),
            "pin" => (&mut pin, "pin"),
            "token" => (&mut token, "token"),
            other => return Err(InviteError::UnknownJanusKey(shorten(other))),
        };
        if slot.is_some() {
            return Err(InviteError::RepeatedJanusKey(what));
        }
        *slot = Some(value.into_owned());
    }
    let room = room.ok_or(InviteError::MissingRoom {
        expected: JANUS_FORM,
    })?;
    validate_room(&room)?;
    let secret = |value: Option<String>, what| match value {
        Some(v) if v.is_empty() => Err(InviteError::BadJanusValue {
            what,
            reason: "it is empty",
        }),
        Some(v) if v.len() > MAX_JANUS_SECRET_LEN => Err(InviteError::BadJanusValue {
            what,
            reason: "it is too long",
        }),
        Some(v) if v.chars().any(char::is_control) => Err(InviteError::BadJanusValue {
            what,
            reason: "it has control characters",
        }),
        v => Ok(v),
    };
    Ok((room, secret(pin, "pin")?, secret(token, "token")?))
}

fn room_from_path(
    path: &str,
    app_form: bool,
    expected: &'static str,
) -> Result<String, InviteError> {
    // One trailing slash is forgiven: chat clients and people add them.
    let path = path.strip_suffix('/').unwrap_or(path);
    let room = if app_form {
        path.strip_prefix('/').unwrap_or(path)
    } else {
        match path.strip_prefix("/j/") {
            Some(room) => room,
            None if path.is_empty() || path == "/j" => {
                return Err(InviteError::MissingRoom { expected });
            }
            None => {
                return Err(InviteError::BadPath {
                    path: shorten(path),
                    expected,
                });
            }
        }
    };
    if room.is_empty() {
        return Err(InviteError::MissingRoom { expected });
    }
    if room.contains('/') {
        return Err(InviteError::BadPath {
            path: shorten(path),
            expected,
        });
    }
    Ok(room.to_string())
}

/// Checks a room name against PROTOCOL.md; the server uses the same rule.
pub fn validate_room(room: &str) -> Result<(), InviteError> {
    let bad = |reason| InviteError::BadRoom {
        room: shorten(room),
        reason,
    };
    if room.is_empty() {
        return Err(bad("it is empty"));
    }
    if room.len() > MAX_ROOM_LEN {
        return Err(bad("it is longer than 64 characters"));
    }
    if !room
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(bad("only letters, digits, '_' and '-' are allowed"));
    }
    Ok(())
}

fn token_from_fragment(fragment: Option<&str>) -> Result<Option<String>, InviteError> {
    let Some(fragment) = fragment.filter(|f| !f.is_empty()) else {
        return Ok(None);
    };
    let mut token = None;
    for pair in fragment.split('&') {
        // Unknown keys are left for newer versions of the link.
        if let Some(value) = pair.strip_prefix("t=") {
            token = Some(value);
        }
    }
    let Some(token) = token else {
        return Ok(None);
    };
    if token.is_empty() {
        return Err(InviteError::BadToken("it is empty"));
    }
    if token.len() > MAX_TOKEN_LEN {
        return Err(InviteError::BadToken("it is too long"));
    }
    if !token
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~'))
    {
        return Err(InviteError::BadToken(
            "only letters, digits, '-', '_', '.' and '~' are allowed",
        ));
    }
    Ok(Some(token.to_string()))
}

/// Keeps error messages one short line even when the input is a wall of text.
fn shorten(s: &str) -> String {
    const MAX: usize = 60;
    let printable: String = s
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    match printable.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}...", &printable[..cut]),
        None => printable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(link: &str) -> Result<Invite, InviteError> {
        Invite::parse(link)
    }

    #[test]
    fn parses_the_web_form() {
        let invite = parse("https://meet.example.org:8443/j/team-42#t=abc.DEF_1").unwrap();
        assert_eq!(invite.host, "meet.example.org");
        assert_eq!(invite.port, Some(8443));
        assert_eq!(invite.room, "team-42");
        assert_eq!(invite.token.as_deref(), Some("abc.DEF_1"));
        assert!(invite.secure);
        assert_eq!(invite.signaling_url(), "wss://meet.example.org:8443/ws");
    }

    #[test]
    fn parses_the_app_form_and_its_insecure_flag() {
        let invite = parse("confer://192.168.1.5:7878/standup?insecure=1#t=tok").unwrap();
        assert_eq!(invite.host, "192.168.1.5");
        assert_eq!(invite.room, "standup");
        assert!(!invite.secure);
        assert_eq!(invite.signaling_url(), "ws://192.168.1.5:7878/ws");

        let secure = parse("confer://meet.example.org/standup").unwrap();
        assert!(secure.secure);
        assert_eq!(secure.token, None);
        assert_eq!(secure.signaling_url(), "wss://meet.example.org/ws");
    }

    #[test]
    fn http_means_the_local_network() {
        let invite = parse("http://10.0.0.2:8080/j/lan#t=x").unwrap();
        assert!(!invite.secure);
        assert_eq!(invite.signaling_url(), "ws://10.0.0.2:8080/ws");
    }

    #[test]
    fn ipv6_hosts_keep_their_brackets() {
        let invite = parse("confer://[::1]:9000/r").unwrap();
        assert_eq!(invite.host, "[::1]");
        assert_eq!(invite.signaling_url(), "wss://[::1]:9000/ws");
    }

    #[test]
    fn both_forms_round_trip() {
        for link in [
            "https://meet.example.org/j/room_1#t=tok",
            "confer://meet.example.org:444/room_1#t=tok",
            "confer://10.1.2.3:7878/r?insecure=1#t=tok",
            "http://10.1.2.3:7878/j/r",
        ] {
            let invite = parse(link).unwrap();
            assert_eq!(parse(&invite.web_link()).unwrap(), invite, "{link}");
            assert_eq!(parse(&invite.app_link()).unwrap(), invite, "{link}");
        }
    }

    #[test]
    fn display_leaves_the_token_out() {
        let invite = parse("confer://h/r#t=secret").unwrap();
        assert!(!invite.to_string().contains("secret"));
    }

    #[test]
    fn pasted_white_space_and_a_trailing_slash_are_forgiven() {
        let invite = parse("  https://h/j/room/  \n").unwrap();
        assert_eq!(invite.room, "room");
    }

    #[test]
    fn each_kind_of_bad_link_gets_its_own_error() {
        assert_eq!(parse("   "), Err(InviteError::Empty));
        assert!(matches!(parse("hello"), Err(InviteError::NotALink(_))));
        assert_eq!(
            parse("ftp://h/j/r"),
            Err(InviteError::UnknownScheme("ftp".into()))
        );
        assert_eq!(parse("https://"), Err(InviteError::MissingHost));
        assert_eq!(parse("confer:///r"), Err(InviteError::MissingHost));
        assert_eq!(
            parse("https://bank.com@evil.com/j/r"),
            Err(InviteError::UserInfo)
        );
        assert!(matches!(
            parse("https://h/"),
            Err(InviteError::MissingRoom { .. })
        ));
        assert!(matches!(
            parse("https://h/x/room"),
            Err(InviteError::BadPath { .. })
        ));
        assert!(matches!(
            parse("confer://h/a/b"),
            Err(InviteError::BadPath { .. })
        ));
        assert!(matches!(
            parse("confer://h/bad%20room"),
            Err(InviteError::BadRoom { .. })
        ));
        assert!(matches!(
            parse(&format!("confer://h/{}", "a".repeat(65))),
            Err(InviteError::BadRoom { .. })
        ));
        assert!(matches!(
            parse("confer://h/r#t="),
            Err(InviteError::BadToken(_))
        ));
        assert!(matches!(
            parse("confer://h/r#t=a<b"),
            Err(InviteError::BadToken(_))
        ));
        assert!(matches!(
            parse("confer://h/r?insecure=maybe"),
            Err(InviteError::BadInsecureFlag(_))
        ));
        assert!(matches!(
            parse(&"x".repeat(MAX_LINK_LEN + 1)),
            Err(InviteError::TooLong(_))
        ));
    }

    #[test]
    fn parses_janus_links() {
        let invite =
            parse("janus+wss://janus.example.org:8989/janus?room=1234&pin=s%C3%A9same&token=a,b:c")
                .unwrap();
        assert_eq!(invite.host, "janus.example.org");
        assert_eq!(invite.port, Some(8989));
        assert_eq!(invite.room, "1234");
        assert_eq!(invite.token.as_deref(), Some("a,b:c"));
        let janus = invite.janus.clone().unwrap();
        assert_eq!(janus.path, "/janus");
        assert_eq!(janus.pin.as_deref(), Some("sésame"));
        assert_eq!(invite.signaling_url(), "wss://janus.example.org:8989/janus");
        assert_eq!(
            invite.to_string(),
            "janus+wss://janus.example.org:8989/janus?room=1234"
        );
        assert_eq!(parse(&invite.app_link()).unwrap(), invite);
        assert_eq!(invite.web_link(), invite.app_link());

        let local = parse("janus+ws://10.0.0.1:8188?room=7").unwrap();
        assert!(!local.secure);
        assert_eq!(local.signaling_url(), "ws://10.0.0.1:8188/");
        assert_eq!(local.janus.as_ref().unwrap().pin, None);
        assert_eq!(parse(&local.app_link()).unwrap(), local);
    }

    #[test]
    fn each_kind_of_bad_janus_link_gets_its_own_error() {
        assert!(matches!(
            parse("janus+wss://h/?pin=1"),
            Err(InviteError::MissingRoom { .. })
        ));
        assert_eq!(
            parse("janus+wss://h/?room=1&rom=2"),
            Err(InviteError::UnknownJanusKey("rom".into()))
        );
        assert_eq!(
            parse("janus+wss://h/?room=1&room=2"),
            Err(InviteError::RepeatedJanusKey("room"))
        );
        assert!(matches!(
            parse("janus+wss://h/?room=a%20b"),
            Err(InviteError::BadRoom { .. })
        ));
        assert!(matches!(
            parse("janus+wss://h/?room=1&pin="),
            Err(InviteError::BadJanusValue { what: "pin", .. })
        ));
        assert!(matches!(
            parse("janus+wss://h/?room=1&token=%0A"),
            Err(InviteError::BadJanusValue { what: "token", .. })
        ));
        assert_eq!(parse("janus+wss://?room=1"), Err(InviteError::MissingHost));
        assert!(matches!(
            parse("janus://h/?room=1"),
            Err(InviteError::UnknownScheme(_))
        ));
    }

    #[test]
    fn error_messages_stay_on_one_short_line() {
        let long = format!("{}://h/r", "z".repeat(500));
        let message = parse(&long).unwrap_err().to_string();
        assert!(message.len() < 200, "{message}");
        let message = parse("not\na link").unwrap_err().to_string();
        assert!(!message.contains('\n'), "{message}");
    }
}
