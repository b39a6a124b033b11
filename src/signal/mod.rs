//! Signaling: the protocol's messages (`proto`), shared by the server, the client and the tests.

pub mod proto;
