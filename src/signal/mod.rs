//! Signaling: the protocol's messages (`proto`), shared by the server, the client and the tests;
//! what participants say to each other through it (`relayed`); and the client the call uses
//! (`client`).

pub mod client;
pub mod proto;
pub mod relayed;
