//! The page behind an invite's `https://HOST/j/ROOM#t=TOKEN` form, for people without the app
//! open yet. The token stays in the fragment: the browser never sends it here, and the page's
//! script hands it on to the `confer://` link without the server seeing it.
//! (The browser client that joins from this page comes with the browser issue.)

/// The landing page for a room; `room` has been checked against the room-name rule, so it is
/// safe to place in HTML and in a script string as it is.
pub fn page(room: &str) -> String {
    LANDING.replace("{{ROOM}}", room)
}

const LANDING: &str = r##"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>Join {{ROOM}} · Confer</title>
<style>
  body { font-family: system-ui, sans-serif; background: #1b1b1f; color: #eee; display: grid;
         place-items: center; min-height: 100vh; margin: 0; }
  main { max-width: 28rem; padding: 2rem; text-align: center; }
  h1 { font-weight: 400; font-size: 2.5rem; margin: 0 0 .25rem; }
  p { color: #bbb; }
  a.button { display: inline-block; margin-top: 1rem; padding: .75rem 1.5rem; border-radius: .5rem;
             background: #1f6feb; color: white; text-decoration: none; font-weight: 600; }
  code { color: #9ecbff; }
</style>
</head>
<body>
<main>
  <h1>Confer</h1>
  <p>You are invited to the meeting <code>{{ROOM}}</code>.</p>
  <a id="open" class="button" href="#">Open in the Confer app</a>
  <p id="note">Joining from the browser is coming soon; until then, open the link in the app.</p>
</main>
<script>
  // The token is in the fragment, which browsers never send to the server.
  const insecure = location.protocol === "http:" ? "?insecure=1" : "";
  document.getElementById("open").href =
    "confer://" + location.host + "/{{ROOM}}" + insecure + location.hash;
</script>
</body>
</html>
"##;

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
    fn the_page_names_the_room_and_links_to_the_app() {
        let page = super::page("team-42");
        assert!(page.contains("<code>team-42</code>"));
        assert!(
            page.contains(
                r##""confer://" + location.host + "/team-42" + insecure + location.hash"##
            )
        );
        assert!(!page.contains("{{ROOM}}"));
    }
}
