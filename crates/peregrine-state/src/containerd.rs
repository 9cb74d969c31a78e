//! `k8s.pod.labels` for containerd: a small synchronous gRPC client for one call,
//! `containerd.services.containers.v1.Containers/Get`, on containerd's unix socket.
//!
//! Why it exists: containerd's CRI plugin keeps a pod's labels only in its metadata database.
//! Each pod sandbox is a containerd container in namespace `k8s.io` whose labels are the pod's
//! labels merged over the sandbox image's labels (plus `io.cri-containerd.kind: sandbox`), and
//! whose extension `io.cri-containerd.sandbox.metadata` holds the sandbox metadata as JSON,
//! including the pod config exactly as the kubelet sent it (`Metadata.Config.labels`). Neither
//! is on disk in a readable form, so the runtime state reader ([`crate::oci`]) cannot see them.
//!
//! Key decision: no gRPC stack. tonic, or h2 with prost, would bring an async runtime (tokio)
//! and a dozen crates to a synchronous worker thread for one unary call. This module speaks
//! just enough HTTP/2 (prior knowledge, one stream, literal header fields) and protobuf (three
//! messages, read by field number) with std alone, and socket timeouts bound every call. The
//! response's header blocks are not decoded: HPACK decoding (Huffman code, dynamic table) would
//! be most of the code and says nothing we need. A unary call that succeeded carries exactly
//! one message; one that ends without a message failed (usually NOT_FOUND), and both mean
//! "no labels from here".

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value as Json;

/// The namespace in which containerd's CRI plugin keeps every pod sandbox and container.
pub const CRI_NAMESPACE: &str = "k8s.io";
/// The sandbox container's extension holding the CRI sandbox metadata (JSON).
pub const SANDBOX_METADATA: &str = "io.cri-containerd.sandbox.metadata";
/// Label prefix of the CRI plugin's own bookkeeping on containerd containers.
const CRI_LABEL_PREFIX: &str = "io.cri-containerd.";

const GET_PATH: &str = "/containerd.services.containers.v1.Containers/Get";
/// Most bytes of response messages accepted (a sandbox record is a few KiB).
const MAX_ANSWER: usize = 4 << 20;
/// Our receive window, stream and connection: the whole answer fits without window updates.
const WINDOW: u32 = 1 << 23;

/// Why a call gave no answer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("containerd socket: {0}")]
    Io(#[from] std::io::Error),
    #[error("containerd did not answer in time")]
    Timeout,
    #[error("malformed answer from containerd: {0}")]
    Malformed(&'static str),
}

/// A `google.protobuf.Any`: a type URL and the encoded value.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Any {
    pub type_url: String,
    pub value: Vec<u8>,
}

/// The parts of a containerd `Container` record that Peregrine reads.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Container {
    pub id: String,
    /// Sorted by key.
    pub labels: Vec<(String, String)>,
    pub extensions: Vec<(String, Any)>,
}

impl Container {
    /// The pod labels of a CRI sandbox record: the pod config's labels from the sandbox
    /// metadata extension when it is there (they are exactly the kubelet's), otherwise the
    /// record's labels without the CRI plugin's own keys. Sorted by key.
    pub fn pod_labels(&self) -> Vec<(String, String)> {
        let config = self
            .extensions
            .iter()
            .find(|(k, _)| k == SANDBOX_METADATA)
            .and_then(|(_, any)| serde_json::from_slice::<Json>(&any.value).ok())
            .and_then(|meta| meta.pointer("/Metadata/Config").cloned());
        let mut labels: Vec<(String, String)> = match config {
            // A pod without labels has none here (Go omits the empty map).
            Some(config) => config
                .get("labels")
                .and_then(Json::as_object)
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                        .collect()
                })
                .unwrap_or_default(),
            None => self
                .labels
                .iter()
                .filter(|(k, _)| !k.starts_with(CRI_LABEL_PREFIX))
                .cloned()
                .collect(),
        };
        labels.sort();
        labels
    }
}

/// Asks containerd at `socket` for container `id` in `namespace`. `Ok(None)`: containerd
/// answered without a record (it does not know the id). Waits at most about `timeout`.
pub fn get_container(
    socket: &Path,
    namespace: &str,
    id: &str,
    timeout: Duration,
) -> Result<Option<Container>, Error> {
    match call(
        socket,
        GET_PATH,
        namespace,
        &encode_get_request(id),
        timeout,
    )? {
        Some(msg) => decode_get_response(&msg),
        None => Ok(None),
    }
}

/// One unary call: the answer's message, `None` when the call ended without one (it failed:
/// the status is in the trailers, which are not decoded).
fn call(
    socket: &Path,
    path: &str,
    namespace: &str,
    message: &[u8],
    timeout: Duration,
) -> Result<Option<Vec<u8>>, Error> {
    let deadline = Instant::now() + timeout;
    let mut s = UnixStream::connect(socket)?;
    s.set_write_timeout(Some(timeout))?;
    s.write_all(&request_to(path, namespace, message))?;
    let body = read_response(&mut s, deadline)?;
    Ok(grpc_message(&body)?.map(<[u8]>::to_vec))
}

const PAUSE_PATH: &str = "/containerd.services.tasks.v1.Tasks/Pause";
const KILL_PATH: &str = "/containerd.services.tasks.v1.Tasks/Kill";

/// Pauses the task of container `id` in `namespace` (containerd freezes it through its shim,
/// so containerd itself reports it paused). `Ok(false)`: containerd refused (no such task,
/// not running…).
pub fn pause_task(
    socket: &Path,
    namespace: &str,
    id: &str,
    timeout: Duration,
) -> Result<bool, Error> {
    // `PauseTaskRequest { string container_id = 1; }`, encoded as `GetContainerRequest`.
    Ok(call(
        socket,
        PAUSE_PATH,
        namespace,
        &encode_get_request(id),
        timeout,
    )?
    .is_some())
}

/// Sends `signal` to the init of container `id`'s task in `namespace`. `Ok(false)`:
/// containerd refused (no such task, already stopped…).
pub fn kill_task(
    socket: &Path,
    namespace: &str,
    id: &str,
    signal: u32,
    timeout: Duration,
) -> Result<bool, Error> {
    Ok(call(
        socket,
        KILL_PATH,
        namespace,
        &encode_kill_request(id, signal),
        timeout,
    )?
    .is_some())
}

/// `KillRequest { string container_id = 1; string exec_id = 2; uint32 signal = 3; bool all = 4; }`
/// with the init's exec id (empty) and `all` false: the init's death ends the container.
pub fn encode_kill_request(id: &str, signal: u32) -> Vec<u8> {
    let mut out = encode_get_request(id);
    put_varint(&mut out, 3 << 3);
    put_varint(&mut out, u64::from(signal));
    out
}

// ---- protobuf ----------------------------------------------------------------------------

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// `GetContainerRequest { string id = 1; }`.
pub fn encode_get_request(id: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(id.len() + 3);
    put_varint(&mut out, 1 << 3 | 2);
    put_varint(&mut out, id.len() as u64);
    out.extend_from_slice(id.as_bytes());
    out
}

/// One field's value, as its wire type carries it.
enum Wire<'a> {
    Varint,
    Bytes(&'a [u8]),
    Fixed,
}

/// Iterates over the fields of one encoded message.
struct Fields<'a> {
    buf: &'a [u8],
}

impl<'a> Fields<'a> {
    fn varint(&mut self) -> Result<u64, Error> {
        let mut v: u64 = 0;
        for shift in (0..64).step_by(7) {
            let (&b, rest) = self
                .buf
                .split_first()
                .ok_or(Error::Malformed("truncated varint"))?;
            self.buf = rest;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(Error::Malformed("varint longer than 64 bits"))
    }

    fn take(&mut self, n: u64) -> Result<&'a [u8], Error> {
        let n = usize::try_from(n).map_err(|_| Error::Malformed("field length"))?;
        if n > self.buf.len() {
            return Err(Error::Malformed("truncated field"));
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    /// The next (field number, value), or `None` at the end.
    fn next_field(&mut self) -> Result<Option<(u64, Wire<'a>)>, Error> {
        if self.buf.is_empty() {
            return Ok(None);
        }
        let key = self.varint()?;
        let value = match key & 7 {
            0 => {
                self.varint()?;
                Wire::Varint
            }
            1 => {
                self.take(8)?;
                Wire::Fixed
            }
            2 => {
                let n = self.varint()?;
                Wire::Bytes(self.take(n)?)
            }
            5 => {
                self.take(4)?;
                Wire::Fixed
            }
            _ => return Err(Error::Malformed("unsupported wire type")),
        };
        Ok(Some((key >> 3, value)))
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A map entry (`key = 1`, `value = 2`), both length-delimited.
fn map_entry(buf: &[u8]) -> Result<(&[u8], &[u8]), Error> {
    let (mut k, mut v): (&[u8], &[u8]) = (&[], &[]);
    let mut f = Fields { buf };
    while let Some((n, w)) = f.next_field()? {
        match (n, w) {
            (1, Wire::Bytes(b)) => k = b,
            (2, Wire::Bytes(b)) => v = b,
            _ => {}
        }
    }
    Ok((k, v))
}

fn decode_any(buf: &[u8]) -> Result<Any, Error> {
    let mut any = Any::default();
    let mut f = Fields { buf };
    while let Some((n, w)) = f.next_field()? {
        match (n, w) {
            (1, Wire::Bytes(b)) => any.type_url = text(b),
            (2, Wire::Bytes(b)) => any.value = b.to_vec(),
            _ => {}
        }
    }
    Ok(any)
}

/// `Container { id = 1; map<string,string> labels = 2; map<string,Any> extensions = 10; … }`;
/// the other fields are skipped.
pub fn decode_container(buf: &[u8]) -> Result<Container, Error> {
    let mut c = Container::default();
    let mut f = Fields { buf };
    while let Some((n, w)) = f.next_field()? {
        let Wire::Bytes(b) = w else { continue };
        match n {
            1 => c.id = text(b),
            2 => {
                let (k, v) = map_entry(b)?;
                c.labels.push((text(k), text(v)));
            }
            10 => {
                let (k, v) = map_entry(b)?;
                c.extensions.push((text(k), decode_any(v)?));
            }
            _ => {}
        }
    }
    c.labels.sort();
    Ok(c)
}

/// `GetContainerResponse { Container container = 1; }`.
pub fn decode_get_response(buf: &[u8]) -> Result<Option<Container>, Error> {
    let mut f = Fields { buf };
    let mut found = None;
    while let Some((n, w)) = f.next_field()? {
        if let (1, Wire::Bytes(b)) = (n, w) {
            found = Some(decode_container(b)?);
        }
    }
    Ok(found)
}

// ---- gRPC over HTTP/2 --------------------------------------------------------------------

const DATA: u8 = 0;
const HEADERS: u8 = 1;
const RST_STREAM: u8 = 3;
const SETTINGS: u8 = 4;
const PING: u8 = 6;
const GOAWAY: u8 = 7;
const WINDOW_UPDATE: u8 = 8;
const END_STREAM: u8 = 0x1;
const ACK: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
const PADDED: u8 = 0x8;
/// The one stream of a connection.
const STREAM: u32 = 1;

fn frame(out: &mut Vec<u8>, kind: u8, flags: u8, stream: u32, payload: &[u8]) {
    let len = payload.len() as u32;
    out.extend_from_slice(&len.to_be_bytes()[1..]);
    out.push(kind);
    out.push(flags);
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(payload);
}

/// An HPACK integer with an `prefix`-bit prefix whose upper bits are `first`.
fn hpack_int(out: &mut Vec<u8>, first: u8, prefix: u32, v: usize) {
    let max = (1usize << prefix) - 1;
    if v < max {
        out.push(first | v as u8);
        return;
    }
    out.push(first | max as u8);
    let mut rest = v - max;
    while rest >= 0x80 {
        out.push((rest as u8 & 0x7f) | 0x80);
        rest >>= 7;
    }
    out.push(rest as u8);
}

/// One header field as an HPACK "literal without indexing, new name", no Huffman coding:
/// nothing enters the peer's dynamic table, so nothing needs to be tracked.
fn hpack_literal(out: &mut Vec<u8>, name: &str, value: &str) {
    out.push(0);
    for s in [name, value] {
        hpack_int(out, 0, 7, s.len());
        out.extend_from_slice(s.as_bytes());
    }
}

/// The whole client side of the exchange: connection preface and settings, a larger
/// connection window, then the call on stream 1 as one HEADERS and one DATA frame.
pub fn request(namespace: &str, message: &[u8]) -> Vec<u8> {
    request_to(GET_PATH, namespace, message)
}

/// [`request`] for the method at `path` (`/package.Service/Method`).
pub fn request_to(path: &str, namespace: &str, message: &[u8]) -> Vec<u8> {
    let mut out = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    let mut settings = Vec::new();
    for (id, v) in [(0x2u16, 0u32), (0x4, WINDOW)] {
        settings.extend_from_slice(&id.to_be_bytes());
        settings.extend_from_slice(&v.to_be_bytes());
    }
    frame(&mut out, SETTINGS, 0, 0, &settings);
    frame(
        &mut out,
        WINDOW_UPDATE,
        0,
        0,
        &(WINDOW - 65_535).to_be_bytes(),
    );
    let mut headers = Vec::new();
    for (k, v) in [
        (":method", "POST"),
        (":scheme", "http"),
        (":path", path),
        (":authority", "localhost"),
        ("content-type", "application/grpc"),
        ("te", "trailers"),
        ("containerd-namespace", namespace),
    ] {
        hpack_literal(&mut headers, k, v);
    }
    frame(&mut out, HEADERS, END_HEADERS, STREAM, &headers);
    // gRPC's length-prefixed message: uncompressed flag, big-endian length.
    let mut data = vec![0u8];
    data.extend_from_slice(&(message.len() as u32).to_be_bytes());
    data.extend_from_slice(message);
    frame(&mut out, DATA, END_STREAM, STREAM, &data);
    out
}

fn read_exact_by(s: &mut UnixStream, buf: &mut [u8], deadline: Instant) -> Result<(), Error> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(Error::Timeout);
    }
    s.set_read_timeout(Some(left))?;
    s.read_exact(buf).map_err(|e| match e.kind() {
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => Error::Timeout,
        _ => Error::Io(e),
    })
}

/// Reads frames until stream 1 ends; returns its DATA bytes. Settings and pings are
/// acknowledged (the peer may wait for that); everything else not on stream 1 is skipped.
fn read_response(s: &mut UnixStream, deadline: Instant) -> Result<Vec<u8>, Error> {
    let mut body = Vec::new();
    loop {
        let mut head = [0u8; 9];
        read_exact_by(s, &mut head, deadline)?;
        let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
        let (kind, flags) = (head[3], head[4]);
        let stream = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
        if len > MAX_ANSWER {
            return Err(Error::Malformed("oversized frame"));
        }
        let mut payload = vec![0u8; len];
        read_exact_by(s, &mut payload, deadline)?;
        match (kind, stream) {
            (SETTINGS, 0) if flags & ACK == 0 => {
                let mut ack = Vec::new();
                frame(&mut ack, SETTINGS, ACK, 0, &[]);
                s.write_all(&ack)?;
            }
            (PING, 0) if flags & ACK == 0 => {
                let mut ack = Vec::new();
                frame(&mut ack, PING, ACK, 0, &payload);
                s.write_all(&ack)?;
            }
            (GOAWAY, 0) | (RST_STREAM, STREAM) => return Ok(body),
            (DATA, STREAM) => {
                let data = if flags & PADDED != 0 {
                    let pad = usize::from(*payload.first().ok_or(Error::Malformed("padding"))?);
                    payload
                        .get(1..len.saturating_sub(pad))
                        .ok_or(Error::Malformed("padding"))?
                } else {
                    &payload[..]
                };
                if body.len() + data.len() > MAX_ANSWER {
                    return Err(Error::Malformed("oversized answer"));
                }
                body.extend_from_slice(data);
                if flags & END_STREAM != 0 {
                    return Ok(body);
                }
            }
            (HEADERS, STREAM) if flags & END_STREAM != 0 => return Ok(body),
            _ => {}
        }
    }
}

/// The one message of a unary call's answer, if there is one.
fn grpc_message(body: &[u8]) -> Result<Option<&[u8]>, Error> {
    let Some((head, rest)) = body.split_first_chunk::<5>() else {
        return if body.is_empty() {
            Ok(None)
        } else {
            Err(Error::Malformed("truncated message"))
        };
    };
    if head[0] != 0 {
        return Err(Error::Malformed("compressed message"));
    }
    let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
    rest.get(..len)
        .map(Some)
        .ok_or(Error::Malformed("truncated message"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A length-delimited field, encoded by hand (key byte, one-byte length).
    fn ld(field: u8, body: &[u8]) -> Vec<u8> {
        assert!(body.len() < 128 && field < 16);
        let mut v = vec![field << 3 | 2, body.len() as u8];
        v.extend_from_slice(body);
        v
    }

    fn entry(k: &[u8], v: &[u8]) -> Vec<u8> {
        [ld(1, k), ld(2, v)].concat()
    }

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn encodes_the_request() {
        assert_eq!(encode_get_request("abc"), b"\x0a\x03abc");
        let long = "x".repeat(200);
        let enc = encode_get_request(&long);
        // 200 = 0xc8 → varint c8 01.
        assert_eq!(&enc[..3], &[0x0a, 0xc8, 0x01]);
        assert_eq!(enc.len(), 203);
    }

    #[test]
    fn decodes_a_sandbox_record() {
        let meta = br#"{"Version":"v1","Metadata":{"ID":"sb","Config":{"metadata":{"name":"web-0"},"labels":{"app":"web","io.kubernetes.pod.name":"web-0"}}}}"#;
        let any = [ld(1, b"types.containerd.io/x/Metadata"), {
            // A 2-byte length: the JSON is longer than 127 bytes.
            let mut v = vec![2 << 3 | 2];
            put_varint(&mut v, meta.len() as u64);
            v.extend_from_slice(meta);
            v
        }]
        .concat();
        let mut ext = ld(1, SANDBOX_METADATA.as_bytes());
        ext.push(2 << 3 | 2);
        put_varint(&mut ext, any.len() as u64);
        ext.extend_from_slice(&any);
        let mut container = [
            ld(1, b"sb"),
            ld(2, &entry(b"io.cri-containerd.kind", b"sandbox")),
            ld(2, &entry(b"app", b"from-image")),
            ld(3, b"registry.k8s.io/pause:3.9"),
            // created_at (a Timestamp message) and a varint and fixed fields to skip.
            ld(8, &[0x08, 0x96, 0x01]),
            vec![12 << 3, 0x01],
            vec![13 << 3 | 5, 1, 2, 3, 4],
            vec![14 << 3 | 1, 1, 2, 3, 4, 5, 6, 7, 8],
        ]
        .concat();
        container.push(10 << 3 | 2);
        put_varint(&mut container, ext.len() as u64);
        container.extend_from_slice(&ext);
        let mut resp = vec![1 << 3 | 2];
        put_varint(&mut resp, container.len() as u64);
        resp.extend_from_slice(&container);

        let c = decode_get_response(&resp)
            .expect("decodes")
            .expect("has a record");
        assert_eq!(c.id, "sb");
        assert_eq!(
            c.labels,
            pairs(&[("app", "from-image"), ("io.cri-containerd.kind", "sandbox")])
        );
        assert_eq!(c.extensions.len(), 1);
        assert_eq!(c.extensions[0].1.type_url, "types.containerd.io/x/Metadata");
        // The pod config wins over the merged record labels.
        assert_eq!(
            c.pod_labels(),
            pairs(&[("app", "web"), ("io.kubernetes.pod.name", "web-0")])
        );
        // Without the extension: the record's labels minus the CRI plugin's own.
        let bare = Container {
            extensions: Vec::new(),
            ..c.clone()
        };
        assert_eq!(bare.pod_labels(), pairs(&[("app", "from-image")]));
        // Metadata for a pod without labels: none, not the image's.
        let no_labels = Container {
            extensions: vec![(
                SANDBOX_METADATA.to_string(),
                Any {
                    type_url: String::new(),
                    value: br#"{"Version":"v1","Metadata":{"Config":{}}}"#.to_vec(),
                },
            )],
            ..c
        };
        assert!(no_labels.pod_labels().is_empty());
    }

    #[test]
    fn empty_and_malformed_messages() {
        assert_eq!(decode_get_response(&[]).expect("empty is valid"), None);
        for bad in [
            &[0x0a, 0x05, b'a'][..],       // length past the end
            &[0x0a][..],                   // key without a value
            &[0x0b, 0x00][..],             // group wire type
            &[0x08, 0xff, 0xff, 0xff][..], // unterminated varint
            &[0x0a; 11][..],               // nested lengths past the end
        ] {
            assert!(
                matches!(decode_get_response(bad), Err(Error::Malformed(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn encodes_the_task_calls() {
        assert_eq!(encode_kill_request("abc", 15), b"\x0a\x03abc\x18\x0f");
        assert_eq!(encode_kill_request("a", 300), b"\x0a\x01a\x18\xac\x02");
        let req = request_to(KILL_PATH, "default", &encode_kill_request("a", 9));
        let mut path = b"\x05:path".to_vec();
        path.push(KILL_PATH.len() as u8);
        path.extend_from_slice(KILL_PATH.as_bytes());
        assert!(
            req.windows(path.len()).any(|w| w == path),
            "the method's path is in the headers"
        );
    }

    #[test]
    fn frames_the_call() {
        let req = request("k8s.io", &encode_get_request("sb"));
        let preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
        assert!(req.starts_with(preface));
        // Walk the frames: type, flags, stream of each, and the payloads that matter.
        let mut rest = &req[preface.len()..];
        let mut seen = Vec::new();
        while !rest.is_empty() {
            let len = u32::from_be_bytes([0, rest[0], rest[1], rest[2]]) as usize;
            let stream = u32::from_be_bytes([rest[5], rest[6], rest[7], rest[8]]);
            let payload = &rest[9..9 + len];
            seen.push((rest[3], rest[4], stream));
            match rest[3] {
                SETTINGS => assert_eq!(
                    payload,
                    [0, 2, 0, 0, 0, 0, 0, 4, 0, 0x80, 0, 0],
                    "push off, 8 MiB window"
                ),
                HEADERS => {
                    // First field: literal, new name, ":method" (7), "POST" (4).
                    assert_eq!(&payload[..14], b"\x00\x07:method\x04POST");
                    let ns = b"\x00\x14containerd-namespace\x06k8s.io";
                    assert!(payload.ends_with(ns));
                }
                DATA => assert_eq!(payload, b"\x00\x00\x00\x00\x04\x0a\x02sb"),
                _ => {}
            }
            rest = &rest[9 + len..];
        }
        assert_eq!(
            seen,
            [
                (SETTINGS, 0, 0),
                (WINDOW_UPDATE, 0, 0),
                (HEADERS, END_HEADERS, 1),
                (DATA, END_STREAM, 1)
            ]
        );
    }

    #[test]
    fn hpack_lengths_past_the_prefix() {
        let mut out = Vec::new();
        hpack_int(&mut out, 0, 7, 126);
        hpack_int(&mut out, 0, 7, 127);
        hpack_int(&mut out, 0, 7, 300);
        // 300 - 127 = 173 = 0xad → ad|80, 01.
        assert_eq!(out, [126, 127, 0, 127, 0xad, 0x01]);
    }

    #[test]
    fn unwraps_grpc_messages() {
        assert_eq!(grpc_message(&[]).expect("none"), None);
        assert_eq!(
            grpc_message(&[0, 0, 0, 0, 2, 7, 8]).expect("one"),
            Some(&[7u8, 8][..])
        );
        assert!(grpc_message(&[0, 0, 0, 0, 3, 7]).is_err());
        assert!(grpc_message(&[1, 0, 0, 0, 0]).is_err());
        assert!(grpc_message(&[0, 0]).is_err());
    }

    /// A fake containerd on a socket pair: answers the call with the frames a gRPC server
    /// sends (settings, a ping, response headers, the message, trailers).
    #[test]
    fn a_whole_call_against_canned_frames() {
        let (mut client, mut server) = UnixStream::pair().expect("pair");
        let record = [ld(1, b"sb"), ld(2, &entry(b"tier", b"db"))].concat();
        let peer = std::thread::spawn(move || {
            let mut got = vec![0u8; request("k8s.io", &encode_get_request("sb")).len()];
            server.read_exact(&mut got).expect("request");
            let mut out = Vec::new();
            frame(&mut out, SETTINGS, 0, 0, &[0, 3, 0, 0, 0, 100]);
            frame(&mut out, PING, 0, 0, &[1, 2, 3, 4, 5, 6, 7, 8]);
            // Header blocks are opaque to the client: any bytes will do.
            frame(&mut out, HEADERS, END_HEADERS, 1, &[0x88]);
            let mut msg = vec![0, 0, 0, 0];
            let resp = ld(1, &record);
            msg.push(resp.len() as u8);
            msg.extend_from_slice(&resp);
            // Padded: pad length 2, then two pad bytes.
            let mut padded = vec![2];
            padded.extend_from_slice(&msg);
            padded.extend_from_slice(&[0, 0]);
            frame(&mut out, DATA, PADDED, 1, &padded);
            frame(&mut out, HEADERS, END_HEADERS | END_STREAM, 1, &[0x40]);
            server.write_all(&out).expect("answer");
            // The client's acknowledgements.
            let mut acks = [0u8; 9 + 17];
            server.read_exact(&mut acks).expect("acks");
            acks
        });
        client
            .write_all(&request("k8s.io", &encode_get_request("sb")))
            .expect("send");
        let body =
            read_response(&mut client, Instant::now() + Duration::from_secs(30)).expect("answer");
        let c = decode_get_response(grpc_message(&body).expect("framed").expect("message"))
            .expect("decodes")
            .expect("record");
        assert_eq!(c.pod_labels(), pairs(&[("tier", "db")]));
        let acks = peer.join().expect("peer");
        assert_eq!(&acks[3..5], &[SETTINGS, ACK]);
        assert_eq!(&acks[12..14], &[PING, ACK]);
        assert_eq!(&acks[18..], &[1, 2, 3, 4, 5, 6, 7, 8]);
    }

    #[test]
    fn no_socket_is_an_io_error() {
        let missing = std::env::temp_dir().join(format!("pg-no-ctrd-{}.sock", std::process::id()));
        assert!(matches!(
            get_container(&missing, CRI_NAMESPACE, "sb", Duration::from_secs(1)),
            Err(Error::Io(_))
        ));
    }
}
