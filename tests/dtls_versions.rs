//! Confer's peer connection against peers that speak only DTLS 1.2 (older browsers, many
//! SFUs) or only DTLS 1.3, in both roles (it offers, it answers), in process: a str0m `Rtc`
//! limited to one version is the other side, datagrams pass directly, time is simulated.
//! Chromium, which offers 1.3 and falls back to 1.2, is tested for real in tests/browser.rs.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use confer::rtc::peer::{Peer, PeerEvent};
use str0m::change::{SdpAnswer, SdpOffer};
use str0m::config::DtlsVersion;
use str0m::format::Codec;
use str0m::media::{Direction, Frequency, MediaKind, MediaTime, Mid};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, Input, Output, Rtc};

const OURS: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 5000);
const THEIRS: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 6000);

fn other_side(now: Instant, version: DtlsVersion) -> Rtc {
    let mut rtc = Rtc::builder()
        .clear_codecs()
        .enable_h264(true)
        .enable_opus(true, false)
        .set_dtls_version(version)
        .build(now);
    rtc.add_local_candidate(Candidate::host(THEIRS, "udp").unwrap());
    rtc
}

/// Runs both sides until each says it is connected and has received audio from the other;
/// panics after ten simulated seconds.
/// `their_audio`: the audio mid when they offered (str0m announces only media the other side
/// added).
fn run_until_media_flows(
    now: &mut Instant,
    ours: &mut Peer,
    theirs: &mut Rtc,
    mut their_audio: Option<Mid>,
    label: &str,
) {
    let deadline = *now + Duration::from_secs(10);
    let (mut we_connected, mut they_connected) = (false, false);
    let (mut we_heard, mut they_heard) = (false, false);
    let mut timestamp = 0u32;
    while *now < deadline {
        ours.handle_timeout(*now).unwrap();
        theirs.handle_input(Input::Timeout(*now)).unwrap();
        if we_connected {
            ours.send_audio(*now, timestamp, &[0xf8, 0xff, 0xfe])
                .unwrap();
        }
        let opus = their_audio.and_then(|mid| {
            let writer = theirs.writer(mid)?;
            let pt = writer
                .payload_params()
                .find(|p| p.spec().codec == Codec::Opus)?
                .pt();
            Some((mid, pt))
        });
        if let Some((mid, pt)) = opus
            && let Some(writer) = theirs.writer(mid)
        {
            let time = MediaTime::new(u64::from(timestamp), Frequency::FORTY_EIGHT_KHZ);
            let _ = writer.write(pt, *now, time, vec![0xf8, 0xff, 0xfe]);
        }
        timestamp = timestamp.wrapping_add(960);
        // Everything each side has to send goes straight to the other.
        while let Ok(Ok(t)) = ours.poll() {
            let receive = Receive::new(Protocol::Udp, t.source, t.destination, &t.data).unwrap();
            theirs.handle_input(Input::Receive(*now, receive)).unwrap();
        }
        for event in ours.take_events() {
            match event {
                PeerEvent::Connected => we_connected = true,
                PeerEvent::Audio { .. } => we_heard = true,
                _ => {}
            }
        }
        loop {
            match theirs.poll_output().unwrap() {
                Output::Transmit(t) => {
                    let _ = ours.handle_datagram(*now, t.source, t.destination, &t.contents);
                }
                Output::Event(Event::Connected) => they_connected = true,
                Output::Event(Event::MediaAdded(added)) if added.kind == MediaKind::Audio => {
                    their_audio = Some(added.mid);
                }
                Output::Event(Event::MediaData(_)) => they_heard = true,
                Output::Event(_) => {}
                Output::Timeout(_) => break,
            }
        }
        if we_heard && they_heard {
            return;
        }
        *now += Duration::from_millis(20);
    }
    panic!(
        "{label}: connected {we_connected}/{they_connected}, audio heard {we_heard}/{they_heard}"
    );
}

fn we_offer(version: DtlsVersion) {
    let mut now = Instant::now();
    let mut ours = Peer::new(now, &[OURS]);
    let mut theirs = other_side(now, version);
    let offer = ours.create_offer().unwrap();
    let answer = theirs
        .sdp_api()
        .accept_offer(SdpOffer::from_sdp_string(&offer).unwrap())
        .unwrap();
    ours.accept_answer(&answer.to_sdp_string()).unwrap();
    run_until_media_flows(
        &mut now,
        &mut ours,
        &mut theirs,
        None,
        &format!("we offer, {version}"),
    );
}

fn they_offer(version: DtlsVersion) {
    let mut now = Instant::now();
    let mut ours = Peer::new(now, &[OURS]);
    let mut theirs = other_side(now, version);
    let mut change = theirs.sdp_api();
    let audio = change.add_media(MediaKind::Audio, Direction::SendRecv, None, None, None);
    change.add_media(MediaKind::Video, Direction::SendRecv, None, None, None);
    let (offer, pending) = change.apply().unwrap();
    let answer = ours.accept_offer(&offer.to_sdp_string()).unwrap();
    theirs
        .sdp_api()
        .accept_answer(pending, SdpAnswer::from_sdp_string(&answer).unwrap())
        .unwrap();
    run_until_media_flows(
        &mut now,
        &mut ours,
        &mut theirs,
        Some(audio),
        &format!("they offer, {version}"),
    );
}

#[test]
fn a_dtls_1_2_only_peer_connects_whoever_offers() {
    we_offer(DtlsVersion::Dtls12);
    they_offer(DtlsVersion::Dtls12);
}

#[test]
fn a_dtls_1_3_only_peer_connects_whoever_offers() {
    we_offer(DtlsVersion::Dtls13);
    they_offer(DtlsVersion::Dtls13);
}
