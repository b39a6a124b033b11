//! Peer connections (str0m): `peer` is one remote participant, sans-IO; the network driver
//! that owns sockets and the clock comes next to it.

pub mod peer;
