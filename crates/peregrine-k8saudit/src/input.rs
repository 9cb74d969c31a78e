//! Where audit events come from: the plugin's `open_params` and its file/directory reader.

use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Go's `bufio.Scanner` default: the plugin's path reader stops at a longer line.
pub const MAX_LINE: usize = 64 * 1024;

/// The plugin's `open_params`, parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OpenParams {
    /// A path without scheme: a file read once line by line, or a directory's files by
    /// modification time; `-` is standard input, read to its end.
    Path(PathBuf),
    /// `file:///abs/path`: a growing file followed from its end, as `tail -F` does (see
    /// [`follow`]).
    Follow(PathBuf),
    /// `http://HOST:PORT/PATH` or `https://…`: a webhook (empty host = every interface).
    Webhook {
        tls: bool,
        host: String,
        port: u16,
        path: String,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("scheme \"{0}\" is not supported")]
    Scheme(String),
    #[error("invalid webhook address '{0}': expected http(s)://HOST:PORT/PATH")]
    Address(String),
    #[error("reading {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: a line is longer than {max} bytes")]
    LineTooLong { path: String, max: usize },
    #[error("file:// needs an absolute path, got '{0}'")]
    Relative(String),
}

impl OpenParams {
    pub fn parse(s: &str) -> Result<OpenParams, InputError> {
        let Some((scheme, rest)) = s.split_once("://") else {
            return Ok(OpenParams::Path(PathBuf::from(s)));
        };
        let tls = match scheme {
            "http" => false,
            "https" => true,
            "file" if rest.starts_with('/') => return Ok(OpenParams::Follow(PathBuf::from(rest))),
            "file" => return Err(InputError::Relative(rest.to_string())),
            other => return Err(InputError::Scheme(other.to_string())),
        };
        let bad = || InputError::Address(s.to_string());
        let (hostport, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let (host, port) = hostport.rsplit_once(':').ok_or_else(bad)?;
        let port = port.parse().map_err(|_| bad())?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        Ok(OpenParams::Webhook {
            tls,
            host: host.to_string(),
            port,
            path: path.to_string(),
        })
    }
}

/// Calls `payload` with every non-empty line of `path` (a file, or each regular file of a
/// directory, oldest modification first) until it returns false. Stops at the first read
/// error or over-long line.
pub fn read_path(path: &Path, payload: &mut dyn FnMut(&[u8]) -> bool) -> Result<(), InputError> {
    if path == Path::new("-") {
        return read_lines(std::io::stdin().lock(), "standard input", payload);
    }
    let io = |e| InputError::Io {
        path: path.display().to_string(),
        source: e,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    if !meta.is_dir() {
        let f = std::fs::File::open(path).map_err(io)?;
        return read_lines(f, &path.display().to_string(), payload);
    }
    let mut files = Vec::new();
    for entry in std::fs::read_dir(path).map_err(io)? {
        let entry = entry.map_err(io)?;
        let m = entry.metadata().map_err(io)?;
        if m.is_file() {
            files.push((m.modified().ok(), entry.path()));
        }
    }
    files.sort();
    let mut more = true;
    for (_, f) in files {
        if !more {
            break;
        }
        read_path(&f, &mut |l| {
            more = payload(l);
            more
        })?;
    }
    Ok(())
}

/// Every non-empty line of `r`, until `payload` returns false.
pub fn read_lines(
    r: impl Read,
    name: &str,
    payload: &mut dyn FnMut(&[u8]) -> bool,
) -> Result<(), InputError> {
    let mut r = BufReader::with_capacity(1 << 16, r);
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = (&mut r)
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut line)
            .map_err(|e| InputError::Io {
                path: name.to_string(),
                source: e,
            })?;
        if n == 0 {
            return Ok(());
        }
        if line.last() != Some(&b'\n') && line.len() > MAX_LINE {
            return Err(InputError::LineTooLong {
                path: name.to_string(),
                max: MAX_LINE,
            });
        }
        let t = line.trim_ascii();
        if !t.is_empty() && !payload(t) {
            return Ok(());
        }
    }
}

/// How often [`follow`] looks for new data, a rotation or a truncation when the file had
/// nothing new (the plugin waits on inotify; a poll needs no watch and sees the same changes).
pub const FOLLOW_POLL: Duration = Duration::from_millis(50);

/// Follows the growing file `path` as the plugin's `file://` input does: from its end at the
/// start, every new complete line to `payload`; when the path names a new file (rotation)
/// the old one is read to its end and the new one from its start; when the file shrinks
/// (copytruncate) reading starts again at 0. A line longer than `max_line` (the plugin's
/// `maxEventSize`) stops the reader. Returns when `payload` returns false or `stop` says so.
pub fn follow(
    path: &Path,
    max_line: usize,
    payload: &mut dyn FnMut(&[u8]) -> bool,
    stop: &dyn Fn() -> bool,
) -> Result<(), InputError> {
    let name = path.display().to_string();
    let io = |e| InputError::Io {
        path: name.clone(),
        source: e,
    };
    let mut file = std::fs::File::open(path).map_err(io)?;
    let mut id = file.metadata().map(|m| (m.dev(), m.ino())).map_err(io)?;
    let mut pos = file.seek(SeekFrom::End(0)).map_err(io)?;
    let mut partial: Vec<u8> = Vec::new();
    let mut chunk = vec![0u8; 1 << 16];
    loop {
        if stop() {
            return Ok(());
        }
        let n = file.read(&mut chunk).map_err(io)?;
        if n > 0 {
            pos += n as u64;
            let mut rest = &chunk[..n];
            while let Some(nl) = rest.iter().position(|&b| b == b'\n') {
                let line = if partial.is_empty() {
                    &rest[..nl]
                } else {
                    partial.extend_from_slice(&rest[..nl]);
                    &partial[..]
                };
                if line.len() > max_line {
                    return Err(InputError::LineTooLong {
                        path: name.clone(),
                        max: max_line,
                    });
                }
                let t = line.trim_ascii();
                if !t.is_empty() && !payload(t) {
                    return Ok(());
                }
                partial.clear();
                rest = &rest[nl + 1..];
            }
            partial.extend_from_slice(rest);
            if partial.len() > max_line {
                return Err(InputError::LineTooLong {
                    path: name.clone(),
                    max: max_line,
                });
            }
            continue;
        }
        // At the end of the open file: has the path moved on to another file, or shrunk?
        match std::fs::metadata(path) {
            Ok(m) if (m.dev(), m.ino()) != id => {
                // Rotated: the old file was read to its end above; a line it left
                // unterminated is dropped, as the plugin drops it.
                if let Ok(f) = std::fs::File::open(path) {
                    file = f;
                    id = (m.dev(), m.ino());
                    pos = 0;
                    partial.clear();
                    continue;
                }
            }
            Ok(m) if m.len() < pos => {
                pos = file.seek(SeekFrom::Start(0)).map_err(io)?;
                partial.clear();
                continue;
            }
            // Unchanged, or gone until the next file is created.
            _ => {}
        }
        std::thread::sleep(FOLLOW_POLL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_params() {
        assert_eq!(
            OpenParams::parse("http://:9765/k8s-audit").unwrap(),
            OpenParams::Webhook {
                tls: false,
                host: String::new(),
                port: 9765,
                path: "/k8s-audit".into()
            }
        );
        assert!(matches!(
            OpenParams::parse("https://127.0.0.1:8765/a/b").unwrap(),
            OpenParams::Webhook {
                tls: true,
                port: 8765,
                ..
            }
        ));
        assert_eq!(
            OpenParams::parse("/tmp/x.json").unwrap(),
            OpenParams::Path("/tmp/x.json".into())
        );
        assert_eq!(
            OpenParams::parse("ftp://x").unwrap_err().to_string(),
            "scheme \"ftp\" is not supported"
        );
        assert!(OpenParams::parse("http://nohost/path").is_err());
        assert_eq!(
            OpenParams::parse("file:///var/log/audit.log").unwrap(),
            OpenParams::Follow("/var/log/audit.log".into())
        );
        assert_eq!(
            OpenParams::parse("file://audit.log")
                .unwrap_err()
                .to_string(),
            "file:// needs an absolute path, got 'audit.log'"
        );
    }

    #[test]
    fn lines() {
        let mut got = Vec::new();
        read_lines(&b"a\n\n  b  \r\nc"[..], "t", &mut |l| {
            got.push(l.to_vec());
            true
        })
        .unwrap();
        assert_eq!(got, vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]);
        let long = vec![b'x'; MAX_LINE + 5];
        assert!(read_lines(&long[..], "t", &mut |_| true).is_err());
    }

    /// Follows a file through appends, a line written in two parts, a rotation (rename and
    /// a new file) and a copytruncate, and stops when told.
    #[test]
    fn follow_is_tail_f() {
        use std::io::Write;
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::{mpsc, Arc};

        let dir = std::env::temp_dir().join(format!("k8saudit-follow-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("audit.log");
        std::fs::write(&path, "old line, before the start\n").unwrap();
        let (tx, rx) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let reader = {
            let (path, stop) = (path.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut send = |l: &[u8]| tx.send(String::from_utf8_lossy(l).into_owned()).is_ok();
                follow(&path, 100, &mut send, &|| stop.load(Ordering::Relaxed))
            })
        };
        let next = || rx.recv_timeout(Duration::from_secs(10)).unwrap();
        // Give the reader time to open the file and seek to its end.
        std::thread::sleep(FOLLOW_POLL * 4);
        let append = |s: &str| {
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .open(&path)
                .unwrap();
            f.write_all(s.as_bytes()).unwrap();
        };
        append("a\n\nb\n");
        assert_eq!((next(), next()), ("a".into(), "b".into()));
        append("par");
        std::thread::sleep(FOLLOW_POLL * 3);
        append("tial\n");
        assert_eq!(next(), "partial");
        // Rotation: the old file is renamed away (its last line still read), a new one made.
        append("last of the old file\n");
        std::fs::rename(&path, dir.join("audit.log.1")).unwrap();
        std::fs::write(&path, "first of the new file\n").unwrap();
        assert_eq!(next(), "last of the old file");
        assert_eq!(next(), "first of the new file");
        // copytruncate: the same file emptied, then written from 0.
        std::thread::sleep(FOLLOW_POLL * 3);
        std::fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(&path)
            .unwrap();
        std::thread::sleep(FOLLOW_POLL * 4);
        append("after truncate\n");
        assert_eq!(next(), "after truncate");
        stop.store(true, Ordering::Relaxed);
        reader.join().unwrap().unwrap();
        assert!(rx.try_recv().is_err());
        // A line over the limit stops the reader with an error naming the file.
        std::fs::write(&path, "").unwrap();
        let long = {
            let path = path.clone();
            std::thread::spawn(move || follow(&path, 100, &mut |_| true, &|| false))
        };
        std::thread::sleep(FOLLOW_POLL * 4);
        append(&"x".repeat(150));
        let e = long.join().unwrap().unwrap_err();
        assert!(
            e.to_string().ends_with("a line is longer than 100 bytes"),
            "{e}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
