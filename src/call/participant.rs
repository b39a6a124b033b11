//! A remote participant as the call holds them: who they are, what they said of their
//! microphone and camera, which connections carry their media, and their figures.

use std::time::{Duration, Instant};

use str0m::media::Mid;

use super::events::{MediaState, PeerState};
use super::ids::{ConnectionId, ParticipantId};
use super::stats::Figures;
use super::throttle::Throttled;
use super::video_timing::VideoTiming;

/// PLIs to one participant, at most this often.
const PLI_EVERY_AT_MOST: Duration = Duration::from_millis(500);

/// Where some of a participant's media arrives: on a connection, in one media section of it
/// (an SFU's connection carries many participants, one section each) or in all of them (a
/// mesh's connection is theirs alone).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Track {
    pub connection: ConnectionId,
    pub mid: Option<Mid>,
}

pub struct Participant {
    pub id: ParticipantId,
    /// Their id in the meeting's signaling now (it changes when a signaling server restarts).
    pub peer: String,
    pub name: String,
    /// Microphone, camera and hand as they last said; None before they said.
    pub media: Option<MediaState>,
    pub tracks: Vec<Track>,
    /// Whether the window knows of them. A connection we offered after a server restart may
    /// turn out to be someone we are still connected to under their old id; they are told of
    /// only once that is ruled out.
    pub(crate) told: bool,
    pub(crate) figures: Figures,
    /// The PLIs we send them: one is due when their video is broken until a keyframe.
    pub(crate) pli: Throttled,
    /// Likewise for the screen they share.
    pub(crate) screen_pli: Throttled,
    /// The state the window was last told.
    pub(crate) shown: Option<PeerState>,
    /// How long their sound waits between arriving and playing, less what it may lag the
    /// picture: their pictures wait at least this long (lip sync).
    pub(crate) sync: Duration,
    /// When their pictures are shown.
    pub(crate) timing: VideoTiming,
    /// Their pictures decoded so far, as the decoder counts them.
    pub(crate) frames_decoded: u64,
    /// Until their first picture: when to ask for a keyframe next (their connection is up).
    pub(crate) no_picture_yet: Option<Instant>,
}

impl Participant {
    /// Someone the window has not heard of yet (`Room::tell`).
    pub(crate) fn new(id: ParticipantId, peer: String, name: String) -> Self {
        Self {
            id,
            peer,
            name,
            media: None,
            tracks: Vec::new(),
            told: false,
            figures: Figures::default(),
            pli: Throttled::new(PLI_EVERY_AT_MOST),
            screen_pli: Throttled::new(PLI_EVERY_AT_MOST),
            shown: None,
            sync: Duration::ZERO,
            timing: VideoTiming::default(),
            frames_decoded: 0,
            no_picture_yet: None,
        }
    }

    /// Whether media on `connection` in section `mid` is theirs.
    pub fn receives(&self, connection: ConnectionId, mid: Mid) -> bool {
        self.tracks
            .iter()
            .any(|t| t.connection == connection && t.mid.is_none_or(|m| m == mid))
    }

    /// Their sections of `connection`: None when the whole connection is theirs (a mesh).
    pub fn sections_on(&self, connection: ConnectionId) -> Option<Vec<Mid>> {
        let mut mids = Vec::new();
        for track in self.tracks.iter().filter(|t| t.connection == connection) {
            mids.push(track.mid?);
        }
        Some(mids)
    }

    /// The connection their media comes on (the first, if several do).
    pub fn connection(&self) -> Option<ConnectionId> {
        self.tracks.first().map(|t| t.connection)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_is_theirs_on_their_tracks_only() {
        let (audio, video) = (Mid::from("0"), Mid::from("1"));
        let (mesh, sfu) = (ConnectionId(1), ConnectionId(2));
        // A mesh: the whole connection is theirs.
        let mut ana = Participant::new("ana".into(), "p1".into(), "Ana".into());
        ana.tracks.push(Track {
            connection: mesh,
            mid: None,
        });
        assert!(ana.receives(mesh, audio) && ana.receives(mesh, video));
        assert!(!ana.receives(sfu, audio));
        // Through an SFU: their sections of a connection shared with others.
        let mut bo = Participant::new("bo".into(), "p2".into(), "Bo".into());
        for mid in [audio, video] {
            bo.tracks.push(Track {
                connection: sfu,
                mid: Some(mid),
            });
        }
        assert!(bo.receives(sfu, video));
        assert!(
            !bo.receives(sfu, Mid::from("2")),
            "another sender's section"
        );
        assert!(!bo.receives(mesh, audio));
        assert_eq!(bo.connection(), Some(sfu));
        assert_eq!(ana.sections_on(mesh), None);
        assert_eq!(bo.sections_on(sfu), Some(vec![audio, video]));
        assert_eq!(bo.sections_on(mesh), Some(vec![]));
    }
}
