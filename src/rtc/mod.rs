//! Peer connections (str0m): `peer` is one remote participant, sans-IO; `driver` owns the UDP
//! sockets the call engine sends and receives on.

pub mod driver;
pub mod peer;
