//! Private files: the process creates every file for its owner only ([`restrict_umask`]), and a
//! data folder of an earlier version (created 0755 with 0644 files) is made private on start
//! ([`data_folder`]). The folder holds password hashes, key hashes, sealed credentials, the
//! sealing key and all business data.

use std::path::Path;

/// Sets the process umask to 0o077: files and folders created from here on (the SQLite files
/// with their `-wal` and `-shm`, `credentials.json`, `secret.key`) are the owner's only.
pub fn restrict_umask() {
    #[cfg(unix)]
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
}

/// Makes `dir` 0700 and every file directly in it 0600 (symbolic links are left alone).
pub fn data_folder(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            let kind = entry.file_type()?;
            let mode = if kind.is_file() {
                0o600
            } else if kind.is_dir() {
                0o700
            } else {
                continue;
            };
            let path = entry.path();
            if std::fs::symlink_metadata(&path)?.permissions().mode() & 0o777 != mode {
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))?;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn a_data_folder_of_an_earlier_version_becomes_private() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("kontor-data");
        std::fs::create_dir(&data).unwrap();
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
        for name in ["financials.sqlite", "financials.sqlite-wal", "credentials.json"] {
            std::fs::write(data.join(name), b"x").unwrap();
            std::fs::set_permissions(data.join(name), std::fs::Permissions::from_mode(0o644))
                .unwrap();
        }
        data_folder(&data).unwrap();
        assert_eq!(mode(&data), 0o700);
        for name in ["financials.sqlite", "financials.sqlite-wal", "credentials.json"] {
            assert_eq!(mode(&data.join(name)), 0o600, "{name}");
        }
    }
}
