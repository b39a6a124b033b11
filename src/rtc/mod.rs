//! WebRTC transport: peer connections (str0m, sans-IO), the candidates found through STUN and
//! TURN servers, and the UDP sockets that carry them.

pub mod driver;
pub mod dtls_timers;
pub mod gather;
pub mod peer;
pub mod relay;
pub mod srtp_rollover;
pub mod stun;
