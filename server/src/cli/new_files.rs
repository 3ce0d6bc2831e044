//! What a failed start leaves behind: nothing. The SQLite files a start creates before it
//! can fail (the store is opened before the port is taken, so that a standby waiting for the
//! store leaves the port free) are removed again when it fails.

use std::path::PathBuf;

/// The files of a SQLite store that do not exist before a start: a start that fails (e.g. the
/// address is in use) removes what it created, leaving no empty store behind.
pub(super) struct NewStoreFiles(Vec<PathBuf>);

impl NewStoreFiles {
    /// The store file and its companions (`-wal`, `-shm`, `.lock`) not there yet.
    pub(super) fn before_start(url: &str) -> Self {
        let Some(path) = crate::store::lock::sqlite_path(url) else {
            return Self(Vec::new());
        };
        let files = ["", "-wal", "-shm", ".lock"]
            .iter()
            .map(|suffix| PathBuf::from(format!("{path}{suffix}")))
            .filter(|file| !file.exists())
            .collect();
        Self(files)
    }

    /// Removes those of them the failed start created.
    pub(super) fn remove(&self) {
        for file in &self.0 {
            match std::fs::remove_file(file) {
                Ok(()) => {}
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                Err(error) => {
                    tracing::warn!(file = %file.display(), %error, "cannot remove a file of the failed start");
                }
            }
        }
    }
}
