//! The call engine: one meeting from join to leave. The window and the headless runner are its
//! two users.

pub mod engine;
pub mod headless;
pub mod liveness;
pub mod rate;
pub mod stats;
