//! Invite tokens: HMAC-SHA256 with the server's secret over the room and an expiry time.
//!
//! A token is `EXPIRY.SIGNATURE`: the expiry in Unix seconds, a dot, and the base64url HMAC of
//! `confer-invite-v1`, the room and the expiry. It admits to one room until it expires; nothing
//! about it is stored on the server, so any number can be minted offline with `confer invite`.

use std::path::{Path, PathBuf};

use aws_lc_rs::hmac;
use data_encoding::BASE64URL_NOPAD;
use thiserror::Error;

/// A secret shorter than this is refused: it could be guessed.
pub const MIN_SECRET_LEN: usize = 16;
const SECRET_FILE_NAME: &str = "server-secret";
const CONTEXT: &[u8] = b"confer-invite-v1";
/// HMAC-SHA256 output.
const SIGNATURE_LEN: usize = 32;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("the token is malformed")]
    Malformed,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid for this room or this server")]
    Forged,
}

#[derive(Debug, Error)]
pub enum SecretError {
    #[error("cannot read the secret file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the secret in {path} is too short: at least {MIN_SECRET_LEN} characters")]
    TooShort { path: PathBuf },
    #[error("cannot create the secret file {path}: {source}")]
    Create {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot generate a secret: the system's random source failed")]
    Random,
}

/// The key that signs and checks tokens.
pub struct Secret(hmac::Key);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

impl Secret {
    pub fn from_bytes(bytes: &[u8]) -> Secret {
        Secret(hmac::Key::new(hmac::HMAC_SHA256, bytes))
    }

    /// Reads the secret from `path`, which must exist (a mistyped path must not silently make a
    /// new secret that turns every invite invalid).
    pub fn read(path: &Path) -> Result<Secret, SecretError> {
        let text = std::fs::read(path).map_err(|source| SecretError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let trimmed = text.trim_ascii();
        if trimmed.len() < MIN_SECRET_LEN {
            return Err(SecretError::TooShort {
                path: path.to_path_buf(),
            });
        }
        Ok(Secret::from_bytes(trimmed))
    }

    /// The server's own secret in `data_dir`, generated on first use.
    pub fn load_or_create(data_dir: &Path) -> Result<Secret, SecretError> {
        let path = data_dir.join(SECRET_FILE_NAME);
        if path.exists() {
            return Secret::read(&path);
        }
        let create = |source| SecretError::Create {
            path: path.clone(),
            source,
        };
        let mut bytes = [0u8; 32];
        aws_lc_rs::rand::fill(&mut bytes).map_err(|_| SecretError::Random)?;
        let text = BASE64URL_NOPAD.encode(&bytes);
        std::fs::create_dir_all(data_dir).map_err(create)?;
        write_private(&path, text.as_bytes()).map_err(create)?;
        tracing::info!(path = %path.display(), "generated a new invite secret");
        Ok(Secret::from_bytes(text.as_bytes()))
    }

    /// Mints a token for `room` valid until `expires` (Unix seconds).
    pub fn mint(&self, room: &str, expires: u64) -> String {
        let tag = hmac::sign(&self.0, &message(room, expires));
        format!("{expires}.{}", BASE64URL_NOPAD.encode(tag.as_ref()))
    }

    /// Checks a token for `room` at time `now` (Unix seconds).
    pub fn verify(&self, room: &str, token: &str, now: u64) -> Result<(), TokenError> {
        let (expires, signature) = token.split_once('.').ok_or(TokenError::Malformed)?;
        if expires.is_empty() || expires.len() > 20 || !expires.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(TokenError::Malformed);
        }
        let expires: u64 = expires.parse().map_err(|_| TokenError::Malformed)?;
        let signature = BASE64URL_NOPAD
            .decode(signature.as_bytes())
            .map_err(|_| TokenError::Malformed)?;
        if signature.len() != SIGNATURE_LEN {
            return Err(TokenError::Malformed);
        }
        // Constant-time comparison inside aws-lc.
        hmac::verify(&self.0, &message(room, expires), &signature)
            .map_err(|_| TokenError::Forged)?;
        if now >= expires {
            return Err(TokenError::Expired);
        }
        Ok(())
    }
}

fn message(room: &str, expires: u64) -> Vec<u8> {
    let mut m = Vec::with_capacity(CONTEXT.len() + room.len() + 24);
    m.extend_from_slice(CONTEXT);
    m.push(b'\n');
    m.extend_from_slice(room.as_bytes());
    m.push(b'\n');
    m.extend_from_slice(expires.to_string().as_bytes());
    m
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}

/// Now, in Unix seconds.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A random identifier of `bytes` bytes (at most 16), base64url without padding.
pub fn random_id(bytes: usize) -> String {
    let mut buf = [0u8; 16];
    let buf = &mut buf[..bytes.min(16)];
    // The system RNG failing is not recoverable in any useful way; a predictable id would be
    // worse than stopping, but aws-lc's fill does not fail on supported platforms.
    if aws_lc_rs::rand::fill(buf).is_err() {
        panic!("the system random number generator failed");
    }
    BASE64URL_NOPAD.encode(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret() -> Secret {
        Secret::from_bytes(b"0123456789abcdef0123456789abcdef")
    }

    #[test]
    fn a_minted_token_admits_to_its_room_until_it_expires() {
        let token = secret().mint("standup", 1_000);
        assert_eq!(secret().verify("standup", &token, 999), Ok(()));
        assert_eq!(
            secret().verify("standup", &token, 1_000),
            Err(TokenError::Expired)
        );
    }

    #[test]
    fn other_rooms_other_secrets_and_edits_are_refused() {
        let token = secret().mint("standup", 1_000);
        assert_eq!(secret().verify("other", &token, 0), Err(TokenError::Forged));
        let other = Secret::from_bytes(b"another secret of enough length");
        assert_eq!(other.verify("standup", &token, 0), Err(TokenError::Forged));
        // Moving the expiry forward breaks the signature.
        let (_, sig) = token.split_once('.').unwrap();
        assert_eq!(
            secret().verify("standup", &format!("9999.{sig}"), 0),
            Err(TokenError::Forged)
        );
    }

    #[test]
    fn malformed_tokens_are_told_apart_from_forged_ones() {
        for token in [
            "",
            "abc",
            ".sig",
            "12.",
            "12.!!!",
            "-1.abc",
            "1e3.abc",
            &"9".repeat(30),
        ] {
            assert_eq!(
                secret().verify("r", token, 0),
                Err(TokenError::Malformed),
                "{token}"
            );
        }
    }

    #[test]
    fn tokens_fit_invite_links() {
        let token = secret().mint("r", u64::MAX);
        let link = format!("confer://h/r#t={token}");
        let invite = crate::invite::Invite::parse(&link).unwrap();
        assert_eq!(invite.token.as_deref(), Some(token.as_str()));
    }

    #[test]
    fn the_server_secret_is_made_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let first = Secret::load_or_create(dir.path()).unwrap();
        let token = first.mint("r", 10);
        let again = Secret::load_or_create(dir.path()).unwrap();
        assert_eq!(again.verify("r", &token, 0), Ok(()));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(SECRET_FILE_NAME))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "the secret is readable by others");
        }
    }

    #[test]
    fn a_named_secret_file_must_exist_and_be_long_enough() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            Secret::read(&dir.path().join("missing")),
            Err(SecretError::Read { .. })
        ));
        let short = dir.path().join("short");
        std::fs::write(&short, "tiny\n").unwrap();
        assert!(matches!(
            Secret::read(&short),
            Err(SecretError::TooShort { .. })
        ));
        let good = dir.path().join("good");
        std::fs::write(&good, "a long enough shared secret\n").unwrap();
        let token = Secret::read(&good).unwrap().mint("r", 5);
        // Surrounding white space (an editor's newline) is not part of the key.
        assert_eq!(
            Secret::from_bytes(b"a long enough shared secret").verify("r", &token, 0),
            Ok(())
        );
    }
}
