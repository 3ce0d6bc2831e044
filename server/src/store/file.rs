//! The files of a SQLite store (SPEC R35f): created readable by their owner only (the store
//! holds webhook secrets and token hashes), and watched, so that a store file deleted, moved
//! or replaced under a running server is noticed before the next acknowledgement — a commit
//! into a deleted file succeeds, and is lost at the next start.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

/// Permissions of every file the store creates: read and write for the owner only.
pub const OWNER_ONLY: u32 = 0o600;

/// Opens `path` for writing, creating it (owner-only) when missing; never truncates.
pub fn open_owner_only(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(OWNER_ONLY)
        .open(path)
}

/// Writes `contents` to a new file `path` (owner-only), replacing one that exists.
pub fn write_owner_only(path: &Path, contents: &[u8]) -> io::Result<()> {
    use std::io::Write as _;
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(OWNER_ONLY)
        .open(path)?;
    file.write_all(contents)
}

/// Which file a path named when the store opened it (device and inode).
#[derive(Debug, Clone)]
pub struct WatchedFile {
    path: PathBuf,
    device: u64,
    inode: u64,
}

impl WatchedFile {
    /// The file `path` names now.
    pub fn of(path: &Path) -> io::Result<Self> {
        let meta = std::fs::metadata(path)?;
        Ok(Self {
            path: path.to_owned(),
            device: meta.dev(),
            inode: meta.ino(),
        })
    }

    /// Whether the path still names the same file; `Err` says what happened to it.
    pub fn check(&self) -> Result<(), String> {
        let path = self.path.display();
        match std::fs::metadata(&self.path) {
            Ok(meta) if meta.dev() == self.device && meta.ino() == self.inode => Ok(()),
            Ok(_) => Err(format!(
                "the store file `{path}` was replaced by another file while the server ran"
            )),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(format!(
                "the store file `{path}` was deleted or moved while the server ran"
            )),
            Err(e) => Err(format!("the store file `{path}` cannot be checked: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("openline-file-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join(name)
    }

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn created_files_are_for_the_owner_only() {
        let path = scratch("a.db");
        drop(open_owner_only(&path).unwrap());
        assert_eq!(mode(&path), 0o600);
        let other = path.with_extension("marker");
        write_owner_only(&other, b"1").unwrap();
        write_owner_only(&other, b"2").unwrap();
        assert_eq!(mode(&other), 0o600);
        assert_eq!(std::fs::read(&other).unwrap(), b"2");
    }

    #[test]
    fn a_deleted_moved_or_replaced_file_is_noticed() {
        let path = scratch("a.db");
        drop(open_owner_only(&path).unwrap());
        let watched = WatchedFile::of(&path).unwrap();
        assert_eq!(watched.check(), Ok(()));
        let moved = path.with_extension("moved");
        std::fs::rename(&path, &moved).unwrap();
        let gone = watched.check().unwrap_err();
        assert!(gone.contains("deleted or moved"), "{gone}");
        assert!(gone.contains(&path.display().to_string()), "{gone}");
        // Another file put in its place (the moved one kept alive, so its inode is not reused).
        drop(open_owner_only(&path).unwrap());
        let replaced = watched.check().unwrap_err();
        assert!(replaced.contains("replaced"), "{replaced}");
        std::fs::remove_file(&moved).unwrap();
    }
}
