//! Screen sharing in the call machine, on simulated time and network (`sim`): a share goes to
//! everyone in the mesh as a second video by renegotiation, beside the camera; it stops; both
//! sides sharing at once resolves (the polite side, by peer id, gives way and offers again);
//! a newcomer receives a share already going. The screen is a page of text through the real
//! screen encoder and decoder; what arrives is compared with it.

mod sim;

use std::time::Duration;

use confer::call::events::{CallControl, CallReport};
use confer::media::video::screen::ShareTarget;
use sim::{Sim, clean, video_quality};

/// What a share asks of the media threads (the simulation shares a page of its own).
const A_SCREEN: ShareTarget = ShareTarget::Screen {
    x: 0,
    y: 0,
    width: 640,
    height: 360,
};

/// A mesh of `joined`, everyone seeing everyone; the rest of `names` can join later.
fn meeting(names: &[&str], joined: usize) -> Sim {
    let mut sim = Sim::new(names, clean(), 7);
    for name in &names[..joined] {
        sim.join(name);
        sim.run(Duration::from_millis(200));
    }
    sim.run_until_connected(Duration::from_secs(10));
    sim
}

/// `who` sees `of`'s shared page: pictures came, and the last is the page (text survives).
fn sees_share(sim: &Sim, who: &str, of: &str) -> u64 {
    let seen = sim.person(who).seen_of(of);
    let last = seen
        .screen_last
        .as_ref()
        .unwrap_or_else(|| panic!("{who} never decoded {of}'s screen"));
    let psnr = last
        .psnr_y(&sim.person(of).screen_page)
        .expect("the same size");
    assert!(psnr > 30.0, "{who} sees {of}'s page at {psnr:.1} dB");
    seen.screen_decoded
}

/// `who` still sees `of`'s camera at a steady rate over the last two seconds.
fn camera_goes_on(sim: &Sim, who: &str, of: &str) {
    let seen = sim.person(who).seen_of(of);
    let (fps, _) = video_quality(seen, sim.now - Duration::from_secs(2), sim.now);
    assert!(fps >= 20.0, "{who} sees {of}'s camera at {fps:.1} fps");
}

#[test]
fn a_share_reaches_the_other_beside_the_camera_and_stops() {
    let mut sim = meeting(&["alice", "bob"], 2);
    sim.control("alice", CallControl::Share(Some(A_SCREEN)));
    sim.run(Duration::from_secs(3));
    assert!(sim.person("alice").sharing(), "alice's window was not told");
    let decoded = sees_share(&sim, "bob", "alice");
    assert!(decoded >= 5, "bob decoded {decoded} pictures of the share");
    camera_goes_on(&sim, "bob", "alice");
    // The share takes most of the rate; the camera keeps the rest.
    let screen = sim.person("alice").screen_bitrates();
    let camera = sim.person("alice").bitrates();
    let (last_screen, last_camera) = (screen.last().unwrap().1, camera.last().unwrap().1);
    assert!(
        last_screen > last_camera,
        "screen {last_screen}, camera {last_camera}"
    );
    // Bob shares nothing: Alice receives no screen.
    assert_eq!(sim.person("alice").seen_of("bob").screen_decoded, 0);

    sim.control("alice", CallControl::Share(None));
    sim.run(Duration::from_secs(1));
    assert!(!sim.person("alice").sharing());
    let bob = sim.person("bob");
    let alice_id = bob.id_of("alice").unwrap();
    assert!(
        bob.reports
            .iter()
            .any(|(_, r)| matches!(r, CallReport::ScreenEnded { id } if *id == alice_id)),
        "bob was not told the share ended"
    );
    let after_stop = bob.seen_of("alice").screen_decoded;
    sim.run(Duration::from_secs(2));
    assert_eq!(
        sim.person("bob").seen_of("alice").screen_decoded,
        after_stop,
        "pictures of a stopped share"
    );
    camera_goes_on(&sim, "bob", "alice");
    assert!(
        !sim.person("alice").noticed("cannot"),
        "{:?}",
        sim.person("alice").notices()
    );
}

#[test]
fn both_sharing_at_once_each_sees_the_other() {
    let mut sim = meeting(&["alice", "bob"], 2);
    // The same instant: both offer, the offers cross, one side gives way and offers again.
    sim.control("alice", CallControl::Share(Some(A_SCREEN)));
    sim.control("bob", CallControl::Share(Some(A_SCREEN)));
    sim.run(Duration::from_secs(4));
    assert!(sees_share(&sim, "bob", "alice") >= 5);
    assert!(sees_share(&sim, "alice", "bob") >= 5);
    camera_goes_on(&sim, "alice", "bob");
    camera_goes_on(&sim, "bob", "alice");
}

#[test]
fn a_share_stopped_then_started_again_as_the_other_starts_arrives_both_ways() {
    let mut sim = meeting(&["alice", "bob"], 2);
    sim.control("alice", CallControl::Share(Some(A_SCREEN)));
    sim.run(Duration::from_secs(2));
    sim.control("alice", CallControl::Share(None));
    sim.run(Duration::from_secs(1));
    let before = sim.person("bob").seen_of("alice").screen_decoded;
    // Alice's section comes back by a change of its direction, crossing Bob's new section.
    sim.control("alice", CallControl::Share(Some(A_SCREEN)));
    sim.control("bob", CallControl::Share(Some(A_SCREEN)));
    sim.run(Duration::from_secs(4));
    let again = sees_share(&sim, "bob", "alice");
    assert!(
        again >= before + 5,
        "{again} pictures, {before} before the stop"
    );
    assert!(sees_share(&sim, "alice", "bob") >= 5);
}

#[test]
fn a_newcomer_receives_a_share_already_going() {
    let mut sim = meeting(&["alice", "bob", "carol"], 2);
    sim.control("alice", CallControl::Share(Some(A_SCREEN)));
    sim.run(Duration::from_secs(3));
    assert!(sees_share(&sim, "bob", "alice") >= 5);
    sim.join("carol");
    sim.run_until_connected(Duration::from_secs(10));
    sim.run(Duration::from_secs(3));
    assert!(sees_share(&sim, "carol", "alice") >= 5);
    camera_goes_on(&sim, "carol", "alice");
    camera_goes_on(&sim, "carol", "bob");
}
