//! Where audit events come from: the plugin's `open_params` and its file/directory reader.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

/// Go's `bufio.Scanner` default: the plugin's path reader stops at a longer line.
pub const MAX_LINE: usize = 64 * 1024;

/// The plugin's `open_params`, parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OpenParams {
    /// A path without scheme: a file read once line by line, or a directory's files by
    /// modification time.
    Path(PathBuf),
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
    #[error("{path}: a line is longer than {MAX_LINE} bytes")]
    LineTooLong { path: String },
}

impl OpenParams {
    pub fn parse(s: &str) -> Result<OpenParams, InputError> {
        let Some((scheme, rest)) = s.split_once("://") else {
            return Ok(OpenParams::Path(PathBuf::from(s)));
        };
        let tls = match scheme {
            "http" => false,
            "https" => true,
            // `file://` follows a growing file; the native source reads paths only so far.
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
            });
        }
        let t = line.trim_ascii();
        if !t.is_empty() && !payload(t) {
            return Ok(());
        }
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
}
