//! Invite links, the two forms of PROTOCOL.md:
//! `https://HOST[:PORT]/j/ROOM#t=TOKEN` (the web page; `http://` means the local network) and
//! `confer://HOST[:PORT]/ROOM#t=TOKEN` (the app; `?insecure=1` means the local network).
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
    #[error("unknown scheme \"{0}\": an invite link starts with confer:// or https://")]
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
}

/// A parsed invite: where the signaling server is, which room, and the token that admits us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invite {
    /// Host as written in the link, IPv6 addresses in brackets.
    pub host: String,
    pub port: Option<u16>,
    pub room: String,
    pub token: Option<String>,
    /// `false` for `http://` and `confer://...?insecure=1` links: plain `ws://`, local network only.
    pub secure: bool,
}

const HTTPS_FORM: &str = "https://HOST[:PORT]/j/ROOM#t=TOKEN";
const CONFER_FORM: &str = "confer://HOST[:PORT]/ROOM#t=TOKEN";

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

        let room = room_from_path(url.path(), url.scheme() == "confer", expected)?;
        validate_room(&room)?;
        let token = token_from_fragment(url.fragment())?;

        Ok(Invite {
            host,
            port: url.port(),
            room,
            token,
            secure,
        })
    }

    /// `HOST[:PORT]`, as shown to a user deciding whether to trust the link.
    pub fn authority(&self) -> String {
        match self.port {
            Some(port) => format!("{}:{port}", self.host),
            None => self.host.clone(),
        }
    }

    /// The WebSocket address of the signaling server (PROTOCOL.md: path `/ws`).
    pub fn signaling_url(&self) -> String {
        let scheme = if self.secure { "wss" } else { "ws" };
        format!("{scheme}://{}/ws", self.authority())
    }

    /// The `https://` (or `http://`) form, which opens the web page for guests.
    pub fn web_link(&self) -> String {
        let scheme = if self.secure { "https" } else { "http" };
        format!(
            "{scheme}://{}/j/{}{}",
            self.authority(),
            self.room,
            self.fragment()
        )
    }

    /// The `confer://` form, which opens the app.
    pub fn app_link(&self) -> String {
        let query = if self.secure { "" } else { "?insecure=1" };
        format!(
            "confer://{}/{}{query}{}",
            self.authority(),
            self.room,
            self.fragment()
        )
    }

    fn fragment(&self) -> String {
        self.token
            .as_ref()
            .map(|t| format!("#t={t}"))
            .unwrap_or_default()
    }
}

impl fmt::Display for Invite {
    /// The `confer://` form, without the token: safe for logs and window titles.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "confer://{}/{}", self.authority(), self.room)
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
    fn error_messages_stay_on_one_short_line() {
        let long = format!("{}://h/r", "z".repeat(500));
        let message = parse(&long).unwrap_err().to_string();
        assert!(message.len() < 200, "{message}");
        let message = parse("not\na link").unwrap_err().to_string();
        assert!(!message.contains('\n'), "{message}");
    }
}
