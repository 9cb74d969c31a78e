//! Reading the files an operator names: rules files and configuration files.
//!
//! Both are read whole, so a path that is not an ordinary file could make the agent read
//! forever (`/dev/zero`), block forever (a FIFO with no writer) or read something no one meant
//! to hand it (a device). Only regular files are read, up to a size limit far above any real
//! file; symbolic links are followed, because Kubernetes mounts ConfigMaps through them. The
//! check is made on the path before opening (so opening a FIFO cannot block) and again on the
//! open file (so what is read is what was checked).

use std::io::Read;
use std::os::unix::fs::FileTypeExt;
use std::path::Path;

/// The largest rules file read: Falco's own rules files are about 100 KB.
pub const MAX_RULES_FILE: u64 = 64 << 20;

/// Why a file was not read.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("not a regular file (it is a {0})")]
    NotRegular(&'static str),
    #[error("larger than the limit of {0} bytes")]
    TooLarge(u64),
}

/// Reads the regular file at `path`, at most `limit` bytes.
pub fn read_regular(path: &Path, limit: u64) -> Result<Vec<u8>, InputError> {
    check_kind(&std::fs::metadata(path)?)?;
    let file = std::fs::File::open(path)?;
    let meta = file.metadata()?;
    check_kind(&meta)?;
    if meta.len() > limit {
        return Err(InputError::TooLarge(limit));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    // The file may grow after the check: read one byte past the limit to notice.
    file.take(limit + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(InputError::TooLarge(limit));
    }
    Ok(bytes)
}

fn check_kind(meta: &std::fs::Metadata) -> Result<(), InputError> {
    let t = meta.file_type();
    let kind = if t.is_file() {
        return Ok(());
    } else if t.is_dir() {
        "directory"
    } else if t.is_fifo() {
        "FIFO"
    } else if t.is_char_device() {
        "character device"
    } else if t.is_block_device() {
        "block device"
    } else if t.is_socket() {
        "socket"
    } else {
        "special file"
    };
    Err(InputError::NotRegular(kind))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_regular_files_within_the_limit_are_read() {
        let dir = std::env::temp_dir().join(format!("pg-input-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let file = dir.join("rules.yaml");
        std::fs::write(&file, "- list: a\n  items: []\n").expect("write");
        assert_eq!(read_regular(&file, 1024).expect("read").len(), 22);
        assert!(matches!(
            read_regular(&file, 10),
            Err(InputError::TooLarge(10))
        ));
        let link = dir.join("link.yaml");
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(&file, &link).expect("symlink");
        assert!(read_regular(&link, 1024).is_ok(), "links are followed");
        for (path, kind) in [
            (Path::new("/dev/zero"), "character device"),
            (dir.as_path(), "directory"),
        ] {
            let err = read_regular(path, 1 << 30).expect_err("refused");
            assert_eq!(
                err.to_string(),
                format!("not a regular file (it is a {kind})")
            );
        }
        let fifo = dir.join("fifo");
        let _ = std::fs::remove_file(&fifo);
        assert!(std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .expect("mkfifo")
            .success());
        // Returns at once instead of blocking in open().
        let err = read_regular(&fifo, 1024).expect_err("refused");
        assert_eq!(err.to_string(), "not a regular file (it is a FIFO)");
    }
}
