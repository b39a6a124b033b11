//! `confer invite`: links that parse, carry a token the server accepts, and say clearly when the
//! request is wrong.

mod support;

use confer::invite::Invite;
use confer::token::{Secret, unix_now};
use support::serve::{Client, Serve};
use support::{confer, run, stderr, stdout};

#[test]
fn invite_prints_both_links_with_a_token_for_the_room() {
    let home = tempfile::tempdir().unwrap();
    let secret = home.path().join("secret");
    std::fs::write(&secret, "a shared secret of some length\n").unwrap();
    let out = run(confer(home.path()).args([
        "invite",
        "--server",
        "https://meet.example.org:8443",
        "--room",
        "team-7",
        "--ttl",
        "2h",
        "--secret-file",
        secret.to_str().unwrap(),
    ]));
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(
        lines[0].starts_with("https://meet.example.org:8443/j/team-7#t="),
        "{text}"
    );
    assert!(
        lines[1].starts_with("confer://meet.example.org:8443/team-7#t="),
        "{text}"
    );
    let web = Invite::parse(lines[0]).unwrap();
    let app = Invite::parse(lines[1]).unwrap();
    assert_eq!(web, app);
    let token = web.token.unwrap();
    let secret = Secret::read(&secret).unwrap();
    assert_eq!(secret.verify("team-7", &token, unix_now()), Ok(()));
    // Valid for about two hours, not longer.
    assert!(
        secret
            .verify("team-7", &token, unix_now() + 2 * 3600 + 5)
            .is_err()
    );
}

#[test]
fn a_local_network_server_gets_insecure_links() {
    let home = tempfile::tempdir().unwrap();
    let out = run(confer(home.path()).args([
        "invite",
        "--server",
        "http://192.168.1.20:7878",
        "--room",
        "lan",
    ]));
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("http://192.168.1.20:7878/j/lan#t="), "{text}");
    assert!(
        text.contains("confer://192.168.1.20:7878/lan?insecure=1#t="),
        "{text}"
    );
}

#[test]
fn bad_invite_requests_are_usage_errors() {
    let home = tempfile::tempdir().unwrap();
    for (args, words) in [
        (&["--server", "ftp://h", "--room", "r"][..], "https://"),
        (&["--server", "not a url", "--room", "r"][..], "not a URL"),
        (
            &["--server", "https://h", "--room", "bad room"][..],
            "bad room name",
        ),
    ] {
        let out = run(confer(home.path()).arg("invite").args(args));
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(stderr(&out).contains(words), "{args:?}: {}", stderr(&out));
    }
    let out = run(confer(home.path()).args([
        "invite",
        "--server",
        "https://h",
        "--room",
        "r",
        "--ttl",
        "soon",
    ]));
    assert_eq!(out.status.code(), Some(2));
}

/// The server's own secret, made at its first start in the data dir, signs what
/// `confer invite` prints on the same machine.
#[tokio::test]
async fn the_server_admits_what_invite_mints_from_its_data_dir() {
    let home = tempfile::tempdir().unwrap();
    let server = Serve::start(home.path(), &[]);
    let out = run(confer(home.path()).args([
        "invite",
        "--server",
        &format!("http://{}", server.addr),
        "--room",
        "standup",
    ]));
    assert!(out.status.success(), "{}", stderr(&out));
    let invite = Invite::parse(stdout(&out).lines().nth(1).unwrap()).unwrap();
    assert_eq!(invite.signaling_url(), server.ws_url());
    let mut client = Client::connect(&invite.signaling_url()).await;
    client
        .join(&invite.room, invite.token.as_deref(), "Ana")
        .await;
}
