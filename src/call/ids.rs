//! The two things a call keeps apart: participants (people) and connections (peer
//! connections). In a mesh each participant has a connection of their own; through an SFU one
//! connection carries many participants, and ours goes out on another.

use std::fmt;

/// A participant as the window knows them. It stays the same for the whole meeting, also when
/// the signaling server hands them a new id (after it restarts).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ParticipantId(String);

impl ParticipantId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<&str> for ParticipantId {
    fn from(id: &str) -> Self {
        ParticipantId(id.to_string())
    }
}

impl From<String> for ParticipantId {
    fn from(id: String) -> Self {
        ParticipantId(id)
    }
}

impl fmt::Display for ParticipantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One peer connection of the call; numbered in the order they were made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionId(pub(crate) u64);

impl fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "c{}", self.0)
    }
}
