//! The signals a call exchanges through the signaling server: offers, answers, ICE restarts,
//! resumes after a server restart, and trickled candidates (docs/PROTOCOL.md).

use std::collections::HashMap;
use std::net::SocketAddr;

use serde_json::json;
use str0m::Candidate;
use tokio::sync::mpsc;

use super::events::Notice;
use super::remote::{Remote, new_remote};
use crate::signal::client::Command;

pub(super) async fn send_signal(
    signaling: &mpsc::Sender<Command>,
    to: &str,
    data: serde_json::Value,
) {
    let _ = signaling
        .send(Command::Signal {
            to: to.to_string(),
            data,
        })
        .await;
}

/// What answering a signal needs besides the remotes.
pub(super) struct SignalContext<'a> {
    pub(super) signaling: &'a mpsc::Sender<Command>,
    pub(super) hosts: &'a [SocketAddr],
    pub(super) gathered: &'a [Candidate],
    pub(super) render: bool,
    pub(super) session: &'a str,
}

/// Tells everyone whether our microphone and camera are on (`media-state`, PROTOCOL.md).
pub(super) async fn announce_media(
    signaling: &mpsc::Sender<Command>,
    mic_on: bool,
    camera_on: bool,
) {
    let data = serde_json::json!({"type": "media-state", "audio": mic_on, "video": camera_on});
    let _ = signaling.send(Command::Broadcast { data }).await;
}

/// The longest chat message passed on, in characters; longer ones are cut.
pub const CHAT_LIMIT: usize = 2000;

/// A `chat` broadcast's text, cleaned for showing: control characters (other than new lines)
/// removed, cut to [`CHAT_LIMIT`]. None for anything else, or nothing left to show.
pub(super) fn chat_text(data: &serde_json::Value) -> Option<String> {
    if data.get("type").and_then(|t| t.as_str()) != Some("chat") {
        return None;
    }
    let text: String = data
        .get("text")?
        .as_str()?
        .chars()
        .filter(|c| *c == '\n' || !c.is_control())
        .take(CHAT_LIMIT)
        .collect();
    let text = text.trim().to_string();
    (!text.is_empty()).then_some(text)
}

/// Sends a chat message to everyone.
pub(super) async fn send_chat(signaling: &mpsc::Sender<Command>, text: &str) {
    let data = serde_json::json!({"type": "chat", "text": text});
    let _ = signaling.send(Command::Broadcast { data }).await;
}

/// A `media-state` broadcast (PROTOCOL.md): whether the sender's microphone and camera are on.
/// A missing field means on; anything else is not one.
pub(super) fn media_state(data: &serde_json::Value) -> Option<(bool, bool)> {
    if data.get("type").and_then(|t| t.as_str()) != Some("media-state") {
        return None;
    }
    let on = |key: &str| data.get(key).and_then(|v| v.as_bool()).unwrap_or(true);
    Some((on("audio"), on("video")))
}

/// An offer, answer, resume or candidate from a remote participant. Ok(Some) is worth telling.
pub(super) async fn on_signal(
    cx: &SignalContext<'_>,
    remotes: &mut HashMap<String, Remote>,
    from: &str,
    name: &str,
    data: &serde_json::Value,
) -> Result<Option<Notice>, String> {
    let kind = data.get("type").and_then(|t| t.as_str()).unwrap_or("");
    let their_session = data.get("session").and_then(|s| s.as_str());
    match kind {
        "offer" => {
            let sdp = data
                .get("sdp")
                .and_then(|s| s.as_str())
                .ok_or("an offer without sdp")?;
            // Someone we are connected to, back under a new id: keep the connection.
            if let Some(old) = their_session.and_then(|s| same_session(remotes, from, s)) {
                let kept = remotes.remove(&old).filter(|r| r.peer.is_connected());
                if let Some(remote) = kept {
                    if let Some(mut replaced) = remotes.insert(from.to_string(), remote) {
                        replaced.peer.close();
                    }
                    send_signal(
                        cx.signaling,
                        from,
                        json!({"type": "resume", "session": cx.session}),
                    )
                    .await;
                    return Ok(Some(Notice::CarriedOn { name: name.into() }));
                }
            }
            // The same connection's ICE restart: it goes on with new credentials.
            if let Some(remote) = remotes.get_mut(from)
                && their_session.is_some()
                && remote.session.as_deref() == their_session
            {
                answer(cx, remote, from, sdp).await?;
                return Ok(Some(Notice::TheyLookForPath { name: name.into() }));
            }
            // A new offer otherwise replaces their connection (they came back).
            let mut remote = new_remote((cx.hosts, cx.gathered), from, name, cx.render, false)?;
            remote.session = their_session.map(str::to_string);
            answer(cx, &mut remote, from, sdp).await?;
            if let Some(mut old) = remotes.insert(from.to_string(), remote) {
                old.peer.close();
            }
            Ok(None)
        }
        "answer" => {
            let sdp = data
                .get("sdp")
                .and_then(|s| s.as_str())
                .ok_or("an answer without sdp")?;
            let remote = remotes.get_mut(from).ok_or("an answer to no offer")?;
            remote.session = their_session.map(str::to_string);
            remote.peer.accept_answer(sdp).map_err(|e| e.to_string())?;
            Ok(None)
        }
        // Our offer reached someone who still has a working connection with us: it goes on
        // under their new id, and the offer's connection is not needed.
        "resume" => {
            let session = their_session.ok_or("a resume without a session")?;
            let old = same_session(remotes, from, session).ok_or("a resume of no connection")?;
            let remote = remotes.remove(&old).ok_or("a resume of no connection")?;
            if let Some(mut offered) = remotes.insert(from.to_string(), remote) {
                offered.peer.close();
            }
            Ok(Some(Notice::CarriedOn { name: name.into() }))
        }
        "candidate" => {
            let Some(line) = data
                .get("candidate")
                .and_then(|c| c.get("candidate"))
                .and_then(|c| c.as_str())
            else {
                return Ok(None); // end of candidates
            };
            if line.is_empty() {
                return Ok(None);
            }
            let remote = remotes
                .get_mut(from)
                .ok_or("a candidate for no connection")?;
            remote
                .peer
                .add_remote_candidate(line)
                .map_err(|e| e.to_string())?;
            Ok(None)
        }
        other => Err(format!("unknown signal type \"{other}\"")),
    }
}

/// Accepts `from`'s offer on `remote` and sends the answer, with our session.
async fn answer(
    cx: &SignalContext<'_>,
    remote: &mut Remote,
    from: &str,
    offer: &str,
) -> Result<(), String> {
    let sdp = remote.peer.accept_offer(offer).map_err(|e| e.to_string())?;
    let answer = json!({"type": "answer", "sdp": sdp, "session": cx.session});
    send_signal(cx.signaling, from, answer).await;
    Ok(())
}

/// The id under which we hold a connection with `session`, other than `id` itself.
fn same_session(remotes: &HashMap<String, Remote>, id: &str, session: &str) -> Option<String> {
    remotes
        .iter()
        .find(|(other, r)| other.as_str() != id && r.session.as_deref() == Some(session))
        .map(|(other, _)| other.clone())
}

/// Adds a local candidate to every peer and trickles it to them.
pub(super) async fn announce(
    remotes: &mut HashMap<String, Remote>,
    candidate: &Candidate,
    signaling: &mpsc::Sender<Command>,
) {
    for (id, remote) in remotes.iter_mut() {
        if let Some(line) = remote.peer.add_local_candidate(candidate.clone()) {
            let mid = remote.peer.candidate_mid().unwrap_or_default();
            let trickled = json!({"type": "candidate", "candidate": {
                "candidate": line, "sdpMid": mid, "sdpMLineIndex": 0}});
            send_signal(signaling, id, trickled).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn a_media_state_is_read_with_missing_fields_on_and_anything_else_ignored() {
        let read = |v| super::media_state(&v);
        assert_eq!(
            read(json!({"type": "media-state", "audio": false, "video": true})),
            Some((false, true))
        );
        assert_eq!(
            read(json!({"type": "media-state", "video": false})),
            Some((true, false))
        );
        assert_eq!(
            read(json!({"type": "media-state", "audio": "no"})),
            Some((true, true))
        );
        assert_eq!(read(json!({"type": "chat", "text": "hi"})), None);
        assert_eq!(read(json!(["media-state"])), None);
    }

    #[test]
    fn chat_text_is_cleaned_and_cut() {
        let read = |v| super::chat_text(&v);
        assert_eq!(
            read(json!({"type": "chat", "text": " 你好\u{7}, world\n "})),
            Some("你好, world".into())
        );
        assert_eq!(
            read(json!({"type": "chat", "text": "a\nb"})),
            Some("a\nb".into())
        );
        assert_eq!(read(json!({"type": "chat", "text": "\u{1b}\u{0}"})), None);
        assert_eq!(read(json!({"type": "chat", "text": 5})), None);
        assert_eq!(read(json!({"type": "media-state"})), None);
        let long = "x".repeat(super::CHAT_LIMIT + 10);
        assert_eq!(
            read(json!({"type": "chat", "text": long})).unwrap().len(),
            super::CHAT_LIMIT
        );
    }
}
