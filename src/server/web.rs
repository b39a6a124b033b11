//! The browser client behind an invite's `https://HOST/j/ROOM#t=TOKEN` form: one HTML page, its
//! script and its style sheet, embedded in the binary (no build step). The token stays in the
//! fragment: the browser never sends it here; the page's script reads it and joins over `/ws`.

/// The page for a room; `room` has been checked against the room-name rule, so it is safe to
/// place in HTML as it is.
pub fn page(room: &str) -> String {
    ROOM_PAGE.replace("{{ROOM}}", room)
}

/// The page's own files, by path: (content type, body).
pub fn asset(path: &str) -> Option<(&'static str, &'static str)> {
    match path {
        "/web/room.js" => Some(("text/javascript; charset=utf-8", ROOM_SCRIPT)),
        "/web/room.css" => Some(("text/css; charset=utf-8", ROOM_STYLE)),
        _ => None,
    }
}

/// The page runs only its own script and style and talks only to its own server (and to the
/// Janus its rooms move to, `janus`: that WebSocket's origin): names, chat and session
/// descriptions come from other people, and must never become code.
pub fn page_policy(janus: Option<&str>) -> String {
    let janus = janus
        .and_then(crate::signal::janus::scheme_and_host)
        .map(|(scheme, host)| format!(" {scheme}://{host}"))
        .unwrap_or_default();
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'{janus}; \
         img-src 'self' data:; media-src 'self' blob: mediastream:; base-uri 'none'; \
         form-action 'none'; frame-ancestors 'none'"
    )
}

const ROOM_PAGE: &str = include_str!("web/room.html");
const ROOM_SCRIPT: &str = include_str!("web/room.js");
const ROOM_STYLE: &str = include_str!("web/room.css");

/// What `/` shows: this is a signaling server, and where to go.
pub const INDEX: &str = r##"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Confer</title></head>
<body style="font-family: system-ui, sans-serif">
<h1>Confer signaling server</h1>
<p>Open an invite link (<code>/j/ROOM#t=...</code>) to join a meeting.</p>
</body></html>
"##;

#[cfg(test)]
mod tests {
    #[test]
    fn the_page_names_the_room_and_loads_its_own_files() {
        let page = super::page("team-42");
        assert!(page.contains("<code>team-42</code>"));
        assert!(page.contains(r#"data-room="team-42""#));
        assert!(!page.contains("{{ROOM}}"));
        for file in ["/web/room.js", "/web/room.css"] {
            assert!(page.contains(file), "{file}");
            assert!(super::asset(file).is_some_and(|(_, body)| !body.is_empty()));
        }
        assert!(super::asset("/web/../Cargo.toml").is_none());
    }

    #[test]
    fn the_script_links_to_the_app_and_puts_names_in_as_text() {
        let (_, script) = super::asset("/web/room.js").unwrap();
        assert!(script.contains(r#""confer://" + location.host + "/" + room"#));
        assert!(script.contains("location.hash"));
        // Names from other people go in as text.
        assert!(!script.contains("innerHTML"));
    }

    #[test]
    fn the_page_may_reach_its_server_and_the_janus_its_rooms_move_to_only() {
        let alone = super::page_policy(None);
        assert!(alone.contains("connect-src 'self';"), "{alone}");
        let with_janus = super::page_policy(Some("wss://sfu.example.org:8989/janus"));
        assert!(
            with_janus.contains("connect-src 'self' wss://sfu.example.org:8989;"),
            "{with_janus}"
        );
        assert!(with_janus.contains("script-src 'self';"), "{with_janus}");
    }
}
