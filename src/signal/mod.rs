//! Signaling: the protocol's messages (`proto`), shared by the server, the client and the tests;
//! what participants say to each other through it (`relayed`); and the client the call uses
//! (`client`). Janus's API, for joining a room on a Janus server (`janus`, `janus_client`).

pub mod client;
pub mod janus;
pub mod janus_client;
pub mod proto;
pub mod relayed;
