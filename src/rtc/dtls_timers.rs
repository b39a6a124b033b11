//! str0m's DTLS (dimpl on aws-lc-rs, as str0m builds it) with quicker first retransmissions.
//!
//! A DTLS handshake sends its flights again only when a timer says one was lost. dimpl starts
//! that timer at RFC 6347's 1 s and doubles it; with 5 % loss on a path, one handshake in a few
//! lost a flight and media waited 1, 3, sometimes 7 s more (measured through Janus, whose
//! OpenSSL paces the same way). libwebrtc starts at about twice the round trip, at least 50 ms.
//! Our handshakes run after ICE has found a path, most often one with a round trip well under
//! `FIRST_RESEND`; where it is longer, a flight sent twice costs a few hundred bytes. More
//! retries keep the total wait near the standard's: the 40 s handshake deadline still ends it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use str0m::crypto::CryptoProvider;
use str0m::crypto::dtls::{
    DtlsCert, DtlsImplError, DtlsInstance, DtlsOutput, DtlsProvider, DtlsVersion, ProtocolVersion,
};

/// The first wait for an answer to a flight; each retry doubles it.
pub const FIRST_RESEND: Duration = Duration::from_millis(250);
/// 250 ms doubled eight times passes the 40 s handshake deadline.
const RETRIES: usize = 8;

/// str0m's crypto (SRTP, hashes) as its feature flags choose it, with this DTLS.
pub fn crypto_provider() -> Arc<CryptoProvider> {
    static DTLS: QuickDtls = QuickDtls;
    let mut provider = str0m::crypto::from_feature_flags();
    provider.dtls_provider = &DTLS;
    Arc::new(provider)
}

#[derive(Debug)]
struct QuickDtls;

impl DtlsProvider for QuickDtls {
    fn generate_certificate(&self) -> Option<DtlsCert> {
        dimpl::certificate::generate_self_signed_certificate().ok()
    }

    fn new_dtls(
        &self,
        cert: &DtlsCert,
        now: Instant,
        version: DtlsVersion,
        mtu: Option<usize>,
    ) -> Result<Box<dyn DtlsInstance>, str0m::crypto::CryptoError> {
        // ICE has checked the path both ways before DTLS: no cookie round trip (as str0m).
        let mut builder = dimpl::Config::builder()
            .use_server_cookie(false)
            .flight_start_rto(FIRST_RESEND)
            .flight_retries(RETRIES);
        if let Some(mtu) = mtu {
            builder = builder.mtu(mtu);
        }
        let config =
            Arc::new(builder.build().map_err(|e| {
                str0m::crypto::CryptoError::Other(format!("DTLS configuration: {e}"))
            })?);
        let dtls = match version {
            DtlsVersion::Dtls12 => dimpl::Dtls::new_12(config, cert.clone(), now),
            DtlsVersion::Dtls13 => dimpl::Dtls::new_13(config, cert.clone(), now),
            DtlsVersion::Auto => dimpl::Dtls::new_auto(config, cert.clone(), now),
            other => {
                return Err(str0m::crypto::CryptoError::Other(format!(
                    "DTLS version {other} is not supported"
                )));
            }
        };
        Ok(Box::new(Instance(dtls)))
    }
}

/// dimpl's connection as str0m drives it.
struct Instance(dimpl::Dtls);

impl std::fmt::Debug for Instance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("dimpl DTLS")
    }
}

impl DtlsInstance for Instance {
    fn set_active(&mut self, active: bool) {
        self.0.set_active(active);
    }
    fn handle_packet(&mut self, packet: &[u8]) -> Result<(), DtlsImplError> {
        self.0.handle_packet(packet)
    }
    fn poll_output<'a>(&mut self, buf: &'a mut [u8]) -> DtlsOutput<'a> {
        self.0.poll_output(buf)
    }
    fn handle_timeout(&mut self, now: Instant) -> Result<(), DtlsImplError> {
        self.0.handle_timeout(now)
    }
    fn send_application_data(&mut self, data: &[u8]) -> Result<usize, DtlsImplError> {
        self.0.send_application_data(data)
    }
    fn is_active(&self) -> bool {
        self.0.is_active()
    }
    fn protocol_version(&self) -> Option<ProtocolVersion> {
        self.0.protocol_version()
    }
    fn is_closing(&self) -> bool {
        self.0.is_closing()
    }
    fn is_closed(&self) -> bool {
        self.0.is_closed()
    }
    fn close(&mut self) -> Result<(), DtlsImplError> {
        self.0.close()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Everything `dtls` has to send now, and when it wants to be called again.
    fn drain(dtls: &mut dyn DtlsInstance) -> (Vec<Vec<u8>>, Instant) {
        let mut buf = vec![0; 2048];
        let mut packets = Vec::new();
        loop {
            match dtls.poll_output(&mut buf) {
                DtlsOutput::Packet(p) => packets.push(p.to_vec()),
                DtlsOutput::Timeout(at) => return (packets, at),
                _ => {}
            }
        }
    }

    #[test]
    fn a_lost_first_flight_is_sent_again_within_a_fraction_of_a_second() {
        let provider = QuickDtls;
        let cert = provider.generate_certificate().expect("a certificate");
        let start = Instant::now();
        let new = |active| {
            let mut dtls = provider
                .new_dtls(&cert, start, DtlsVersion::Auto, None)
                .expect("a DTLS instance");
            dtls.set_active(active);
            dtls.handle_timeout(start).unwrap();
            dtls
        };
        let mut client = new(true);
        let mut server = new(false);
        // As str0m starts a client: an empty input, which it refuses, kicks off the hello.
        let _ = client.handle_packet(&[]);
        let (hello, resend_at) = drain(client.as_mut());
        assert!(!hello.is_empty(), "the client says hello");
        // The hello is lost. Jitter is a quarter either way of the first wait: RFC 6347's
        // 1 s (dimpl's default) would be at least 750 ms.
        let waited = resend_at - start;
        assert!(waited < Duration::from_millis(500), "{waited:?}");
        client.handle_timeout(resend_at).unwrap();
        let (again, _) = drain(client.as_mut());
        assert!(!again.is_empty(), "the hello is sent again at {waited:?}");
        // And the one sent again opens the handshake.
        for packet in &again {
            server.handle_packet(packet).unwrap();
        }
        let (answer, _) = drain(server.as_mut());
        assert!(
            !answer.is_empty(),
            "the server answers the hello sent again"
        );
    }
}
