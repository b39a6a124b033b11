//! "New meeting": the app's own server on this machine's LAN address, which admits holders of
//! the invite it minted and nobody else, and stops with the meeting. Run in a network
//! namespace with only loopback, so the "LAN address" is loopback and nothing leaves the test.

mod support;

use confer::server::embedded::LanMeeting;
use confer::signal::proto::ServerMessage;
use support::browser::NetNs;
use support::serve::Client;

#[test]
fn a_new_meeting_admits_its_invite_and_only_it_and_stops_with_the_meeting() {
    let _ns = NetNs::enter();
    let meeting = LanMeeting::start("lan-test").expect("the meeting's server");
    let invite = meeting.invite().clone();
    assert_eq!(invite.host, "127.0.0.1", "no LAN here: loopback");
    assert!(!invite.secure && invite.token.is_some());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut ana = Client::connect(&invite.signaling_url()).await;
        ana.join(&invite.room, invite.token.as_deref(), "Ana").await;
        // Without the token, or with one for another room, nobody gets in.
        let mut intruder = Client::connect(&invite.signaling_url()).await;
        intruder
            .send(confer::signal::proto::outgoing::join(
                &invite.room,
                None,
                "Eve",
                None,
            ))
            .await;
        intruder.expect_error("bad-token").await;
        let mut elsewhere = Client::connect(&invite.signaling_url()).await;
        elsewhere
            .send(confer::signal::proto::outgoing::join(
                "other-room",
                invite.token.as_deref(),
                "Eve",
                None,
            ))
            .await;
        elsewhere.expect_error("bad-token").await;
        // Ana is still alone in the room.
        assert!(!matches!(
            ana.try_recv(std::time::Duration::from_millis(300)).await,
            Some(ServerMessage::PeerJoined { .. })
        ));
    });
    drop(meeting);
    let url = invite.signaling_url();
    let refused = runtime.block_on(async {
        tokio_tungstenite::connect_async(url.as_str())
            .await
            .is_err()
    });
    assert!(refused, "the server still answers after the meeting ended");
}
