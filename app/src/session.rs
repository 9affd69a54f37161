//! The account this client is signed in with: server URL, user name and bearer token, in
//! `session.json` in the data directory, readable by the user alone (mode 0600 on Unix).
//! The OS keyring is not used yet.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::store::StoreError;

/// A signed-in session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub server: String,
    pub username: String,
    pub token: String,
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

impl Session {
    /// The saved session, if any.
    pub fn load(dir: &Path) -> Result<Option<Session>, StoreError> {
        let p = path(dir);
        match std::fs::read(&p) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes)
                    .map(Some)
                    .map_err(|e| StoreError::Invalid {
                        field: p.display().to_string(),
                        reason: format!("{e}; log in again to replace it"),
                    })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(&p)(e)),
        }
    }

    /// Saves the session, replacing the file atomically, readable by the user alone.
    pub fn save(&self, dir: &Path) -> Result<(), StoreError> {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let p = path(dir);
        let tmp = p.with_extension("tmp");
        let bytes = serde_json::to_vec_pretty(self).unwrap_or_default();
        {
            use std::io::Write;
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create(true).truncate(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut f = options.open(&tmp).map_err(io(&tmp))?;
            f.write_all(&bytes)
                .and_then(|()| f.sync_all())
                .map_err(io(&tmp))?;
        }
        std::fs::rename(&tmp, &p).map_err(io(&p))
    }

    /// Signs out: forgets the token.
    pub fn clear(dir: &Path) -> Result<(), StoreError> {
        let p = path(dir);
        match std::fs::remove_file(&p) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io(&p)(e)),
            _ => Ok(()),
        }
    }
}
