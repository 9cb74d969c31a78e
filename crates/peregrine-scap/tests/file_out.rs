//! Capture files are created safely: owner-only, never through a link, never into another file.

use peregrine_scap::writer::FileOut;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::PathBuf;

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pg-fileout-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn write(path: &std::path::Path) -> std::io::Result<()> {
    let mut f = FileOut::create(path, false)?;
    f.write_all(b"capture")?;
    f.close()
}

#[test]
fn a_capture_is_readable_by_its_owner_only() {
    let dir = temp_dir("mode");
    let path = dir.join("c.scap");
    write(&path).expect("created");
    let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    // Written again, it is replaced and stays private.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    write(&path).expect("replaced");
    let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    assert_eq!(std::fs::read(&path).expect("read"), b"capture");
}

#[test]
fn a_symlink_at_the_path_is_refused_and_its_target_untouched() {
    let dir = temp_dir("link");
    let target = dir.join("precious");
    std::fs::write(&target, "keep me").expect("target");
    let path = dir.join("c.scap");
    std::os::unix::fs::symlink(&target, &path).expect("symlink");
    let err = write(&path).expect_err("refused");
    assert!(err.to_string().contains("not a regular file"), "{err}");
    assert_eq!(std::fs::read_to_string(&target).expect("read"), "keep me");
    assert!(std::fs::symlink_metadata(&path)
        .expect("meta")
        .file_type()
        .is_symlink());
}

#[test]
fn a_hard_link_at_the_path_is_replaced_not_written_through() {
    let dir = temp_dir("hardlink");
    let target = dir.join("precious");
    std::fs::write(&target, "keep me").expect("target");
    let path = dir.join("c.scap");
    std::fs::hard_link(&target, &path).expect("hard link");
    write(&path).expect("created");
    assert_eq!(std::fs::read_to_string(&target).expect("read"), "keep me");
    let (a, b) = (
        std::fs::metadata(&target).expect("meta").ino(),
        std::fs::metadata(&path).expect("meta").ino(),
    );
    assert_ne!(a, b);
}

#[test]
fn a_fifo_at_the_path_is_refused_without_blocking() {
    let dir = temp_dir("fifo");
    let path = dir.join("c.scap");
    let status = std::process::Command::new("mkfifo")
        .arg(&path)
        .status()
        .expect("mkfifo runs");
    assert!(status.success());
    let err = write(&path).expect_err("refused");
    assert!(err.to_string().contains("not a regular file"), "{err}");
}
