//! Signaling: the protocol's messages (`proto`), shared by the server, the client and the tests,
//! and the client the call engine uses (`client`).

pub mod client;
pub mod proto;
