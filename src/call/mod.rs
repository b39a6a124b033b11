//! A call: one meeting from join to leave. The meeting's policy is a sans-IO state machine
//! (`machine`, over the state in `room`), which joins the way a [`way::JoinWay`] says
//! (`confer_mesh`: Confer's protocol, a mesh; `janus_room`: a Janus VideoRoom); the driver (`driver`, `media_threads`) does its
//! I/O. The window (`running`) and the headless runner (`headless`) are its two users.

pub mod check;
pub mod confer_mesh;
mod confer_transport;
pub mod connection;
pub mod driver;
pub mod events;
pub mod headless;
pub mod ids;
pub mod janus_room;
pub mod liveness;
pub mod machine;
mod media_threads;
mod own_camera;
pub mod participant;
pub mod rate;
pub mod room;
pub mod running;
pub mod stats;
mod throttle;
pub mod video_timing;
pub mod way;
