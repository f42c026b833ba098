//! Secret key files (the token signing keys, the audit key): created with mode 0600 by
//! `create_new` (never over an existing file), in directories created 0700, and read only when
//! they are private to the user the portal runs as — a key file another user could read or
//! replace is refused with the command that fixes it.

use std::io::Write;
use std::path::{Path, PathBuf};

use secrecy::SecretString;

/// A key file could not be created or read, or is not private: the path and what is wrong.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {reason}")]
pub struct KeyFileError {
    pub path: PathBuf,
    pub reason: String,
}

fn err(path: &Path, reason: impl std::fmt::Display) -> KeyFileError {
    KeyFileError {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

/// Create `dir` (and its parents) if missing; the directories created here get mode 0700.
pub fn create_private_dir(dir: &Path) -> Result<(), KeyFileError> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(|e| err(dir, e))
}

/// Create a file readable by its owner only (0600) holding `contents`; an existing file is an
/// error, never overwritten. The file appears whole or not at all (written under a temporary
/// name, then linked into place), so a second process starting at the same moment never reads
/// it half-written.
pub fn create_private(path: &Path, contents: &str) -> Result<(), KeyFileError> {
    publish(path, contents).map_err(|e| err(path, e))
}

/// [`create_private`], where a file already there (made by another process first) is fine.
pub fn create_private_if_absent(path: &Path, contents: &str) -> Result<(), KeyFileError> {
    match publish(path, contents) {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        other => other.map_err(|e| err(path, e)),
    }
}

fn publish(path: &Path, contents: &str) -> std::io::Result<()> {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp-{}-{n}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let written = opts
        .open(&tmp)
        .and_then(|mut f| f.write_all(contents.as_bytes()).and_then(|()| f.sync_all()))
        .and_then(|()| std::fs::hard_link(&tmp, path));
    let _ = std::fs::remove_file(&tmp);
    written
}

/// Why a file's owner and mode make it unfit to hold a secret, if they do (pure: the file's
/// owner and mode, and the uid the process runs as).
pub fn not_private(mode: u32, owner: u32, process_uid: u32) -> Option<String> {
    if owner != process_uid {
        return Some(format!(
            "owned by uid {owner}, not by uid {process_uid} that trustdesk runs as (chown it)"
        ));
    }
    if mode & 0o077 != 0 {
        return Some(format!(
            "mode {:04o}: a key file must be readable by its owner only (chmod 600 it)",
            mode & 0o7777
        ));
    }
    None
}

/// Read a secret file after checking that it is private (mode 0600 or stricter, owned by the
/// process's user); the text is wiped from memory when dropped.
pub fn read_private(path: &Path) -> Result<SecretString, KeyFileError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(path).map_err(|e| err(path, e))?;
        let uid = rustix::process::geteuid().as_raw();
        if let Some(reason) = not_private(meta.mode(), meta.uid(), uid) {
            return Err(err(path, reason));
        }
    }
    std::fs::read_to_string(path)
        .map(SecretString::from)
        .map_err(|e| err(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_file_of_the_process_user_with_no_group_or_other_bits_is_private() {
        assert_eq!(not_private(0o100600, 1000, 1000), None);
        assert_eq!(not_private(0o100400, 1000, 1000), None);
        let loose = not_private(0o100644, 1000, 1000).unwrap();
        assert!(
            loose.contains("0644") && loose.contains("chmod 600"),
            "{loose}"
        );
        assert!(not_private(0o100640, 1000, 1000).is_some());
        assert!(not_private(0o100604, 1000, 1000).is_some());
        let other = not_private(0o100600, 0, 1000).unwrap();
        assert!(
            other.contains("uid 0") && other.contains("uid 1000"),
            "{other}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_loose_key_file_is_refused_and_a_private_one_read() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let keys = dir.path().join("a/b");
        create_private_dir(&keys).unwrap();
        let mode = std::fs::metadata(&keys).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        let path = keys.join("k.key");
        create_private(&path, "secret").unwrap();
        use secrecy::ExposeSecret;
        assert_eq!(read_private(&path).unwrap().expose_secret(), "secret");
        assert!(create_private(&path, "other").is_err(), "never overwritten");
        create_private_if_absent(&path, "other").unwrap();
        assert_eq!(read_private(&path).unwrap().expose_secret(), "secret");
        assert_eq!(
            std::fs::read_dir(&keys).unwrap().count(),
            1,
            "no temporary file left"
        );
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = read_private(&path).unwrap_err().to_string();
        assert!(e.contains("k.key") && e.contains("chmod 600"), "{e}");
    }
}
