//! Files that hold customer data: private to the server's user (issue 21). A directory 0700,
//! a file 0600 — set on creation and again on every start, whatever they were before.

use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use crate::{StoreError, StoreResult};

fn failed(what: &str, path: &Path, e: std::io::Error) -> StoreError {
    StoreError::Unavailable(format!("{what} {}: {e}", path.display()))
}

pub fn make_private_dir(path: &Path) -> StoreResult<()> {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700)).map_err(|e| failed("restricting", path, e))
}

/// Makes `path` 0600 if it exists.
pub fn make_private(path: &Path) -> StoreResult<()> {
    match std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        other => other.map_err(|e| failed("restricting", path, e)),
    }
}

/// Creates `path` empty with mode 0600 unless it exists; then makes it 0600 either way.
pub fn create_private_file(path: &Path) -> StoreResult<()> {
    match std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => make_private(path),
        Err(e) => Err(failed("creating", path, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn files_become_private_whatever_they_were() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, b"x").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        create_private_file(&file).unwrap();
        assert_eq!(mode(&file), 0o600);
        assert_eq!(std::fs::read(&file).unwrap(), b"x", "an existing file is kept");
        let new = dir.path().join("g");
        create_private_file(&new).unwrap();
        assert_eq!(mode(&new), 0o600);
        make_private_dir(dir.path()).unwrap();
        assert_eq!(mode(dir.path()), 0o700);
        make_private(&dir.path().join("missing")).unwrap();
    }
}
