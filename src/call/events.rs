//! What a call tells its user (the window, the headless runner) as it runs, what it is asked
//! to do, and why it ended.

use super::ids::ParticipantId;
use super::stats::ParticipantStats;
/// Why a device gives nothing, as the window is told of it.
pub use crate::media::DeviceProblem;
use crate::media::video::decode_thread::Picture;
use crate::media::video::frame::RgbaImage;
use crate::media::video::screen::ShareTarget;
use crate::signal::proto::ErrorCode;

/// What the call reports as it runs (the headless runner writes them; the window draws them).
#[derive(Debug, Clone, PartialEq)]
pub enum CallReport {
    /// One remote participant's figures, every second (`--stats` writes them as a JSON line).
    Stats {
        id: ParticipantId,
        stats: Box<ParticipantStats>,
    },
    Notice(Notice),
    /// A participant's connection changed. `id` stays the same for the whole connection,
    /// even when the signaling server restarts and hands out new ones.
    Participant {
        id: ParticipantId,
        name: String,
        state: PeerState,
    },
    /// Audio levels (RMS, 0 to 1) ten times a second: our microphone's before processing, and
    /// what each participant's playout last played (for meters and the active speaker).
    Levels {
        local: f32,
        remotes: Vec<(ParticipantId, f32)>,
    },
    /// A participant's newest picture, ready for a texture (only when the call renders video:
    /// a window). `id` as in `Participant`.
    Picture {
        id: ParticipantId,
        picture: Picture,
    },
    /// A participant's shared screen: its newest picture (converted for a texture only when
    /// the call renders video or keeps shares; `id` as in `Participant`).
    ScreenPicture {
        id: ParticipantId,
        picture: Picture,
    },
    /// The participant stopped sharing their screen.
    ScreenEnded {
        id: ParticipantId,
    },
    /// Whether our own screen is being shared now (pictures are going out): on at its first
    /// picture, off when we stopped it or it ended by itself (a notice says why).
    Sharing(bool),
    /// Our own camera, half size, 15 times a second (only when the call renders video).
    Preview(RgbaImage),
    /// Whether we are in touch with the signaling server: false while it is being reached
    /// again (media between participants goes on meanwhile).
    Signaling {
        connected: bool,
    },
    /// A device started working (None) or stopped (why). The call goes on without it; the
    /// microphone and speaker are reopened when they come back.
    Device {
        device: Device,
        problem: Option<DeviceProblem>,
    },
    /// A chat message from a participant (`id` as in `Participant`; the name is the one they
    /// joined with). The text has been cleaned of control characters and cut to length.
    Chat {
        id: ParticipantId,
        name: String,
        text: String,
    },
    /// A participant said their microphone or camera is on or off, or raised or lowered their
    /// hand (`media-state`, PROTOCOL.md); `id` as in `Participant`.
    Media {
        id: ParticipantId,
        state: MediaState,
    },
}

/// What a participant says of their microphone, camera and hand (`media-state`, PROTOCOL.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaState {
    pub mic_on: bool,
    pub camera_on: bool,
    pub hand_up: bool,
}

impl Default for MediaState {
    /// What someone who said nothing yet is taken to have: microphone and camera on (their
    /// media shows the truth), hand down.
    fn default() -> Self {
        Self {
            mic_on: true,
            camera_on: true,
            hand_up: false,
        }
    }
}

/// A device the call uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Device {
    Camera,
    Microphone,
    Speaker,
}

/// What a running call is asked to do (the window's buttons and shortcuts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallControl {
    /// Microphone on or off. Off sends silence, so the others' buffers stay calm and turning
    /// it back on is instant.
    Mic(bool),
    /// Camera on or off. Off sends no pictures; back on starts with a keyframe.
    Camera(bool),
    /// Our hand raised (true) or lowered, for the others to see.
    Hand(bool),
    /// A chat message to everyone in the meeting.
    Chat(String),
    /// Share this screen or window (one at a time: a new one replaces the last), or stop
    /// sharing (None).
    Share(Option<ShareTarget>),
    /// A participant's pictures are shown in a tile this many pixels across and down: they
    /// are converted no larger than needed to fill it (`id` as in `CallReport::Participant`).
    Fit {
        id: ParticipantId,
        width: u32,
        height: u32,
    },
}

/// Where a participant's connection stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerState {
    Connecting,
    Connected,
    /// Nothing heard for a few seconds: a new path is being looked for.
    Reconnecting,
    Left,
    /// Given up on: unreachable.
    Unreachable,
}

/// Something worth telling people during a call. The window words it in their language;
/// `Display` is the English of logs and the headless runner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    Joined {
        already: usize,
    },
    /// Someone joined after us.
    Arrived {
        name: String,
    },
    /// The connection to the signaling server came back and the server still knew us.
    BackInRoom,
    /// The server had lost us (it restarted): everyone is back under new ids.
    Rejoined {
        here: usize,
    },
    Left {
        name: String,
    },
    /// Their connection went quiet; we look for a new path to them (an ICE restart).
    LookingForPath {
        name: String,
    },
    /// They look for a new path to us.
    TheyLookForPath {
        name: String,
    },
    /// They came back under a new id and the connection carried on.
    CarriedOn {
        name: String,
    },
    /// No path to them was found again; their connection is closed.
    Dropped {
        name: String,
    },
    SignalingLost {
        attempt: u32,
        after: std::time::Duration,
    },
    /// Our media goes through a server that decrypts it (an SFU), unlike a mesh's.
    ThroughServer {
        server: String,
    },
    /// A fault described by what lies below (a server's refusal, a STUN or TURN server, a
    /// peer's message): told as it is.
    Problem(String),
}

impl std::fmt::Display for Notice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Joined { already } => write!(f, "joined, {already} already here"),
            Self::BackInRoom => f.write_str("back in the room"),
            Self::Rejoined { here } => write!(f, "rejoined, {here} here"),
            Self::Left { name } => write!(f, "{name} left"),
            Self::Arrived { name } => write!(f, "{name} joined"),
            Self::LookingForPath { name } => {
                write!(f, "{name} went quiet; looking for a new path")
            }
            Self::TheyLookForPath { name } => write!(f, "{name} is looking for a new path"),
            Self::CarriedOn { name } => write!(f, "{name} is back; the connection carried on"),
            Self::Dropped { name } => write!(f, "{name} cannot be reached; dropped"),
            Self::SignalingLost { attempt, after } => {
                write!(f, "signaling lost; retry {attempt} in {after:?}")
            }
            Self::ThroughServer { server } => {
                write!(f, "media goes through {server}, which decrypts it")
            }
            Self::Problem(text) => f.write_str(text),
        }
    }
}

/// Why a call could not go on. The window words it in the person's language; `Display` is the
/// English of logs and of `confer join`'s last line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallError {
    /// The server refused the invite's token (forged, for another room, or expired).
    BadInvite,
    RoomFull,
    /// The server speaks another version of the protocol.
    OtherVersion,
    /// The server refused us for another reason, and closed.
    Refused {
        code: ErrorCode,
        message: String,
    },
    /// The signaling server could not be reached this many times before the first join.
    Unreachable {
        attempts: u32,
    },
    /// The server has no such room (a Janus room that does not exist).
    NoSuchRoom,
    /// The room's PIN was wrong or missing (a Janus room that has one).
    WrongPin,
    /// A Janus server refused, for a reason with no words of its own here.
    JanusRefused {
        code: i64,
        reason: String,
    },
    /// The signaling client stopped without saying why.
    SignalingEnded,
    /// Our network sockets closed under the call.
    NetworkGone,
    /// Something the call needs could not start: what, and the reason below.
    Setup {
        what: Setup,
        reason: String,
    },
}

/// The parts of a call that must start for it to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setup {
    Signaling,
    VideoEncoder,
    Audio,
    Network,
    /// The call's own thread or runtime.
    Call,
}

impl Setup {
    /// What it is called in English (the window translates it).
    pub fn noun(self) -> &'static str {
        match self {
            Setup::Signaling => "the connection to the server",
            Setup::VideoEncoder => "the video encoder",
            Setup::Audio => "the audio",
            Setup::Network => "the network",
            Setup::Call => "the call",
        }
    }
}

impl CallError {
    /// What the server's refusal `code` means for the call.
    pub fn refused(code: ErrorCode, message: String) -> Self {
        match code {
            ErrorCode::BadToken => CallError::BadInvite,
            ErrorCode::RoomFull => CallError::RoomFull,
            ErrorCode::Version => CallError::OtherVersion,
            _ => CallError::Refused { code, message },
        }
    }
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::BadInvite => {
                f.write_str("this invite link is not valid or has expired: ask for a new one")
            }
            Self::RoomFull => f.write_str("this meeting is full: try again when someone leaves"),
            Self::OtherVersion => {
                f.write_str("the server speaks another version of Confer: update the app")
            }
            Self::Refused { code, message } => write!(f, "the server refused: {code}: {message}"),
            Self::Unreachable { attempts: 1 } => {
                f.write_str("could not reach the server: it did not answer")
            }
            Self::Unreachable { attempts } => {
                write!(f, "could not reach the server after {attempts} attempts")
            }
            Self::NoSuchRoom => f.write_str("the server has no such room: check the link"),
            Self::WrongPin => f.write_str("the room's PIN is wrong or missing: check the link"),
            Self::JanusRefused { code, reason } => {
                write!(f, "the Janus server refused: {code}: {reason}")
            }
            Self::SignalingEnded => f.write_str("the signaling connection ended"),
            Self::NetworkGone => f.write_str("the network sockets closed"),
            Self::Setup { what, reason } => write!(f, "cannot start {}: {reason}", what.noun()),
        }
    }
}

impl std::error::Error for CallError {}
