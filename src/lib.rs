//! Confer: a native desktop meeting client. The layers and threads are described in
//! `docs/ARCHITECTURE.md`; imports point down only:
//! `ui` -> `call` -> `rtc`, `signal`, `media`; `server` uses only `signal::proto` and leaf modules.
//! Layers appear here as the issues that build them land.

pub mod call;
pub mod cli;
pub mod config;
pub mod duration;
pub mod invite;
pub mod loadtest;
pub mod logging;
pub mod media;
pub mod paths;
pub mod report;
pub mod rlimit;
pub mod rtc;
pub mod server;
pub mod signal;
pub mod single_instance;
pub mod token;
#[cfg(feature = "gui")]
pub mod ui;
