//! Which cpal host plays and records. On Linux: PulseAudio's protocol where a server answers
//! (PulseAudio itself, or PipeWire's pipewire-pulse, which is what desktops run), ALSA otherwise.
//! cpal's ALSA host through the pulse plugin stalls; its own Pulse client runs in real time.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum AudioHostError {
    #[error("no audio system is available: {0}")]
    Unavailable(String),
}

/// Opens the host Confer uses on this platform.
pub fn open() -> Result<cpal::Host, AudioHostError> {
    #[cfg(target_os = "linux")]
    {
        use cpal::HostId;
        match pulse_host() {
            Ok(host) => return Ok(host),
            Err(reason) => tracing::debug!("not using PulseAudio: {reason}"),
        }
        cpal::host_from_id(HostId::Alsa).map_err(|e| AudioHostError::Unavailable(e.to_string()))
    }
    #[cfg(not(target_os = "linux"))]
    {
        Ok(cpal::default_host())
    }
}

#[cfg(target_os = "linux")]
fn pulse_host() -> Result<cpal::Host, String> {
    use cpal::HostId;
    if !cpal::available_hosts().contains(&HostId::PulseAudio) {
        return Err("no PulseAudio or PipeWire server socket found".into());
    }
    // Connecting can take up to cpal's 2 s time-out when a socket exists but nobody answers.
    cpal::host_from_id(HostId::PulseAudio).map_err(|e| e.to_string())
}

/// A name for the host, as shown to users.
pub fn display_name(host: &cpal::Host) -> &'static str {
    host.id().name()
}
