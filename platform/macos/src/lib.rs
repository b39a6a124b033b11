//! Confer's code that only macOS runs (links handed over as Apple Events, screens and windows to
//! share), kept apart from the app's crate so that it can be
//! checked for both Apple targets where there is no Apple SDK to build the app's C libraries
//! (scripts/test does, on Linux). On other systems it is empty.

#[cfg(target_os = "macos")]
mod links;

#[cfg(target_os = "macos")]
pub use links::listen_for_links;

#[cfg(target_os = "macos")]
pub mod screen;
