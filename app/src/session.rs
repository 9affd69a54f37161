//! The account this client is signed in with: server URL, user name and bearer token.
//!
//! The token goes to the OS keyring where there is one (the Secret Service on Linux, the
//! Keychain on macOS, the Credential Manager on Windows); `session.json` in the data
//! directory then names the keyring entry and holds no secret. Where no keyring answers
//! (a headless box, a minimal desktop) or `VIGIL_CLIENT_KEYRING=off`, the token is kept
//! in `session.json` itself, readable by the user alone (mode 0600 on Unix).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::store::StoreError;

/// The keyring service name every Vigil token is filed under.
pub const KEYRING_SERVICE: &str = "vigil";

/// A signed-in session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub server: String,
    pub username: String,
    pub token: String,
}

/// Where a session's token is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenPlace {
    /// In the OS keyring, under service [`KEYRING_SERVICE`] and this entry name.
    Keyring(String),
    /// In `session.json`, readable by the user alone; the reason there is no keyring.
    File { why: String },
}

/// `session.json` as written: the token itself, or the keyring entry holding it.
#[derive(Debug, Serialize, Deserialize)]
struct SessionFile {
    server: String,
    username: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    keyring: Option<String>,
}

fn path(dir: &Path) -> PathBuf {
    dir.join("session.json")
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.display().to_string(),
        source,
    }
}

fn keyring_enabled() -> bool {
    !matches!(
        std::env::var("VIGIL_CLIENT_KEYRING").as_deref(),
        Ok("off" | "0" | "false" | "no")
    )
}

fn entry(name: &str) -> keyring::Result<keyring::Entry> {
    keyring::Entry::new(KEYRING_SERVICE, name)
}

fn read_file(p: &Path) -> Result<Option<SessionFile>, StoreError> {
    match std::fs::read(p) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| StoreError::Invalid {
                field: p.display().to_string(),
                reason: format!("{e}; log in again to replace it"),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io(p)(e)),
    }
}

/// Writes `bytes` to `p` atomically, readable by the user alone.
fn write_private(p: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let tmp = p.with_extension("tmp");
    {
        use std::io::Write;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut f = options.open(&tmp).map_err(io(&tmp))?;
        f.write_all(bytes)
            .and_then(|()| f.sync_all())
            .map_err(io(&tmp))?;
    }
    std::fs::rename(&tmp, p).map_err(io(p))
}

impl Session {
    /// The saved session, if any, with its token from wherever it was kept.
    pub fn load(dir: &Path) -> Result<Option<Session>, StoreError> {
        let p = path(dir);
        let Some(file) = read_file(&p)? else {
            return Ok(None);
        };
        let token = match (file.token, &file.keyring) {
            (Some(token), _) => token,
            (None, Some(name)) => {
                entry(name)
                    .and_then(|e| e.get_password())
                    .map_err(|e| StoreError::Invalid {
                        field: "session".into(),
                        reason: format!(
                            "the token is not in the OS keyring any more ({e}); log in again"
                        ),
                    })?
            }
            (None, None) => {
                return Err(StoreError::Invalid {
                    field: p.display().to_string(),
                    reason: "holds no token; log in again".into(),
                });
            }
        };
        Ok(Some(Session {
            server: file.server,
            username: file.username,
            token,
        }))
    }

    /// Saves the session: the token in the OS keyring when one answers, else in the file.
    /// Replaces an earlier session (and its keyring entry). Says where the token went.
    pub fn save(&self, dir: &Path) -> Result<TokenPlace, StoreError> {
        self.save_in(dir, keyring_enabled())
    }

    /// Saves the session with the token in `session.json`, never in the keyring (for
    /// scripts and tests that must not touch the user's keyring).
    pub fn save_without_keyring(&self, dir: &Path) -> Result<TokenPlace, StoreError> {
        self.save_in(dir, false)
    }

    fn save_in(&self, dir: &Path, use_keyring: bool) -> Result<TokenPlace, StoreError> {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let p = path(dir);
        let earlier = read_file(&p).ok().flatten().and_then(|f| f.keyring);
        let name = format!(
            "{}@{} #{}",
            self.username,
            self.server,
            uuid::Uuid::now_v7().simple()
        );
        let place = if use_keyring {
            match entry(&name).and_then(|e| e.set_password(&self.token)) {
                Ok(()) => TokenPlace::Keyring(name),
                Err(e) => TokenPlace::File {
                    why: format!("no OS keyring answered ({e})"),
                },
            }
        } else {
            TokenPlace::File {
                why: "the keyring is switched off (VIGIL_CLIENT_KEYRING=off)".into(),
            }
        };
        let file = SessionFile {
            server: self.server.clone(),
            username: self.username.clone(),
            token: matches!(place, TokenPlace::File { .. }).then(|| self.token.clone()),
            keyring: match &place {
                TokenPlace::Keyring(name) => Some(name.clone()),
                TokenPlace::File { .. } => None,
            },
        };
        let bytes = serde_json::to_vec_pretty(&file).unwrap_or_default();
        write_private(&p, &bytes)?;
        if let Some(old) = earlier {
            let _ = entry(&old).and_then(|e| e.delete_credential());
        }
        Ok(place)
    }

    /// Signs out: forgets the token, in the keyring and on disk.
    pub fn clear(dir: &Path) -> Result<(), StoreError> {
        let p = path(dir);
        if let Some(name) = read_file(&p).ok().flatten().and_then(|f| f.keyring) {
            let _ = entry(&name).and_then(|e| e.delete_credential());
        }
        match std::fs::remove_file(&p) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io(&p)(e)),
            _ => Ok(()),
        }
    }
}
