//! The data lake: the immutable master dataset of every incident change, as Parquet
//! objects under `incidents/date=YYYY-MM-DD/`.
//!
//! [`Lake`] is a directory on local disk (embedded) or a bucket on S3 (scale-out), behind
//! the same four calls: put, get, list, delete. Objects are written whole: a local put
//! writes a temporary file, syncs it and renames it into place; an S3 put is atomic by
//! itself. A reader therefore sees an object entirely or not at all.

pub mod parquet;
mod s3;

use std::path::{Path, PathBuf};

use bytes::Bytes;
use serde::{Deserialize, Serialize};

pub use s3::{S3Config, S3Lake};

/// Where every archived incident change lives in the lake.
pub const INCIDENTS_PREFIX: &str = "incidents/";

/// Why the lake refused.
#[derive(Debug, thiserror::Error)]
pub enum LakeError {
    #[error("lake {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("S3 {op} {key}: {detail}")]
    S3 {
        op: &'static str,
        key: String,
        detail: String,
    },
    #[error("object key {0:?} is not allowed (letters, digits, `/=._-`, no `..`)")]
    BadKey(String),
}

/// One object in a listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectInfo {
    pub key: String,
    pub size: u64,
}

/// A lake on local disk or on S3.
#[derive(Debug, Clone)]
pub enum Lake {
    Local(LocalLake),
    S3(S3Lake),
}

impl Lake {
    /// A lake in directory `root` (created on first write).
    pub fn local(root: impl Into<PathBuf>) -> Lake {
        Lake::Local(LocalLake { root: root.into() })
    }

    /// `"local"` or `"s3"`.
    pub fn engine(&self) -> &'static str {
        match self {
            Lake::Local(_) => "local",
            Lake::S3(_) => "s3",
        }
    }

    /// Where the lake is, for logs and answers.
    pub fn describe(&self) -> String {
        match self {
            Lake::Local(l) => l.root.display().to_string(),
            Lake::S3(s) => s.describe(),
        }
    }

    /// Stores `bytes` under `key`, replacing any object there; durable when it returns.
    pub async fn put(&self, key: &str, bytes: Bytes) -> Result<(), LakeError> {
        check_key(key)?;
        match self {
            Lake::Local(l) => l.put(key, bytes).await,
            Lake::S3(s) => s.put(key, bytes).await,
        }
    }

    /// The object under `key`.
    pub async fn get(&self, key: &str) -> Result<Bytes, LakeError> {
        check_key(key)?;
        match self {
            Lake::Local(l) => l.get(key).await,
            Lake::S3(s) => s.get(key).await,
        }
    }

    /// Every object whose key starts with `prefix`, in key order.
    pub async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, LakeError> {
        let mut out = match self {
            Lake::Local(l) => l.list(prefix).await?,
            Lake::S3(s) => s.list(prefix).await?,
        };
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    /// Removes the object under `key` (no error if it is not there).
    pub async fn delete(&self, key: &str) -> Result<(), LakeError> {
        check_key(key)?;
        match self {
            Lake::Local(l) => l.delete(key).await,
            Lake::S3(s) => s.delete(key).await,
        }
    }
}

fn check_key(key: &str) -> Result<(), LakeError> {
    let ok = !key.is_empty()
        && !key.starts_with('/')
        && !key.split('/').any(|part| part.is_empty() || part == "..")
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/=._-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(LakeError::BadKey(key.to_owned()))
    }
}

/// A lake in a local directory; keys are relative paths.
#[derive(Debug, Clone)]
pub struct LocalLake {
    root: PathBuf,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> LakeError + '_ {
    move |source| LakeError::Io {
        path: path.display().to_string(),
        source,
    }
}

impl LocalLake {
    async fn put(&self, key: &str, bytes: Bytes) -> Result<(), LakeError> {
        let path = self.root.join(key);
        tokio::task::spawn_blocking(move || {
            let dir = path.parent().unwrap_or(Path::new("."));
            std::fs::create_dir_all(dir).map_err(io(dir))?;
            let tmp = path.with_extension(format!("tmp-{}", uuid::Uuid::now_v7().simple()));
            let written = (|| {
                use std::io::Write;
                let mut f = std::fs::File::create(&tmp)?;
                f.write_all(&bytes)?;
                f.sync_all()?;
                std::fs::rename(&tmp, &path)?;
                // The rename itself is durable once the directory is synced.
                std::fs::File::open(dir)?.sync_all()
            })();
            if written.is_err() {
                let _ = std::fs::remove_file(&tmp);
            }
            written.map_err(io(&path))
        })
        .await
        .map_err(|e| LakeError::Io {
            path: self.root.display().to_string(),
            source: std::io::Error::other(e),
        })?
    }

    async fn get(&self, key: &str) -> Result<Bytes, LakeError> {
        let path = self.root.join(key);
        tokio::fs::read(&path)
            .await
            .map(Bytes::from)
            .map_err(io(&path))
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, LakeError> {
        let root = self.root.clone();
        let prefix = prefix.to_owned();
        tokio::task::spawn_blocking(move || {
            let mut out = Vec::new();
            let mut stack = vec![root.clone()];
            while let Some(dir) = stack.pop() {
                let entries = match std::fs::read_dir(&dir) {
                    Ok(e) => e,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(io(&dir)(e)),
                };
                for entry in entries {
                    let entry = entry.map_err(io(&dir))?;
                    let path = entry.path();
                    let meta = entry.metadata().map_err(io(&path))?;
                    if meta.is_dir() {
                        stack.push(path);
                        continue;
                    }
                    let Ok(rel) = path.strip_prefix(&root) else {
                        continue;
                    };
                    let key = rel.to_string_lossy().replace('\\', "/");
                    // Half-written temporary files are not objects.
                    let temporary = path
                        .extension()
                        .is_some_and(|e| e.to_string_lossy().starts_with("tmp-"));
                    if key.starts_with(&prefix) && !temporary {
                        out.push(ObjectInfo {
                            key,
                            size: meta.len(),
                        });
                    }
                }
            }
            Ok(out)
        })
        .await
        .map_err(|e| LakeError::Io {
            path: self.root.display().to_string(),
            source: std::io::Error::other(e),
        })?
    }

    async fn delete(&self, key: &str) -> Result<(), LakeError> {
        let path = self.root.join(key);
        match tokio::fs::remove_file(&path).await {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io(&path)(e)),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_stay_inside_the_lake() {
        for good in [
            "incidents/date=2026-11-28/p000-00000000000000000001-00000000000000000009.parquet",
            "a",
        ] {
            assert!(check_key(good).is_ok(), "{good}");
        }
        for bad in ["", "/abs", "a/../b", "a//b", "a/b/", "a b", "ä"] {
            assert!(check_key(bad).is_err(), "{bad}");
        }
    }
}
