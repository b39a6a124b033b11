//! The call engine: one meeting from join to leave. The window and the headless runner are its
//! two users.

pub mod check;
pub mod engine;
pub mod events;
pub mod headless;
pub mod liveness;
mod network;
mod own_camera;
pub mod rate;
mod remote;
pub mod running;
mod signals;
pub mod stats;
