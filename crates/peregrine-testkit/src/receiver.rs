//! A Falcosidekick-like HTTP receiver on loopback for the delivery tests: it records every
//! request (headers and body) before answering, so an alert it got counts even when the
//! answer is lost (that is how duplicates arise), answers a fixed status after an adjustable
//! delay, and can be stopped (listener closed, open connections shut) and started again on
//! the same port: the outage of a destination.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long [`Receiver::restart`] may wait for its port to be free again.
const REBIND: Duration = Duration::from_secs(15);

/// One request as received.
#[derive(Clone, Debug)]
pub struct Post {
    /// The header lines, as sent (each with its line end).
    pub head: Vec<String>,
    pub body: Vec<u8>,
}

impl Post {
    /// The value of header `name` (case-insensitive), trimmed.
    pub fn header(&self, name: &str) -> Option<String> {
        self.head.iter().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }

    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// The receiver; dropping it stops it.
pub struct Receiver {
    addr: SocketAddr,
    status: u16,
    delay_ms: Arc<AtomicU64>,
    posts: Arc<Mutex<Vec<Post>>>,
    stop: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<TcpStream>>>,
    thread: Option<JoinHandle<()>>,
}

/// The lock even if a connection thread panicked holding it (the list is still whole).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Receiver {
    /// Listens on a free loopback port and answers `status` to every request.
    pub fn start(status: u16) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let mut r = Receiver {
            addr: listener.local_addr().expect("listener address"),
            status,
            delay_ms: Arc::default(),
            posts: Arc::default(),
            stop: Arc::default(),
            conns: Arc::default(),
            thread: None,
        };
        r.serve(listener);
        r
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:port/`.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// Answers each request `delay` after recording it (a slow destination).
    pub fn set_delay(&self, delay: Duration) {
        let ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self.delay_ms.store(ms, Ordering::SeqCst);
    }

    /// Every request received so far, in order.
    pub fn posts(&self) -> Vec<Post> {
        lock(&self.posts).clone()
    }

    /// Closes the listener and every open connection.
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        for c in lock(&self.conns).drain(..) {
            let _ = c.shutdown(Shutdown::Both);
        }
    }

    /// Listens again on the same port (after [`Receiver::stop`]); panics if the port stays
    /// taken for 15 s.
    pub fn restart(&mut self) {
        let end = Instant::now() + REBIND;
        let listener = loop {
            match TcpListener::bind(self.addr) {
                Ok(l) => break l,
                Err(e) => {
                    assert!(
                        Instant::now() < end,
                        "cannot listen on {} again: {e}",
                        self.addr
                    );
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        };
        self.serve(listener);
    }

    fn serve(&mut self, listener: TcpListener) {
        // Non-blocking, so the accept loop sees the stop flag.
        listener
            .set_nonblocking(true)
            .expect("nonblocking listener");
        self.stop.store(false, Ordering::SeqCst);
        let conn = Conn {
            status: self.status,
            delay_ms: self.delay_ms.clone(),
            posts: self.posts.clone(),
            stop: self.stop.clone(),
        };
        let conns = self.conns.clone();
        self.thread = Some(std::thread::spawn(move || {
            while !conn.stop.load(Ordering::SeqCst) {
                let Ok((stream, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                };
                let _ = stream.set_nonblocking(false);
                if let Ok(c) = stream.try_clone() {
                    lock(&conns).push(c);
                }
                let conn = conn.clone();
                std::thread::spawn(move || conn.serve(stream));
            }
        }));
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop();
    }
}

/// What a connection's thread shares with the receiver.
#[derive(Clone)]
struct Conn {
    status: u16,
    delay_ms: Arc<AtomicU64>,
    posts: Arc<Mutex<Vec<Post>>>,
    stop: Arc<AtomicBool>,
}

impl Conn {
    /// Requests on one keep-alive connection until it closes or the receiver stops.
    fn serve(&self, stream: TcpStream) {
        let Ok(mut write) = stream.try_clone() else {
            return;
        };
        let mut r = BufReader::new(stream);
        loop {
            let mut head = Vec::new();
            loop {
                let mut line = String::new();
                match r.read_line(&mut line) {
                    Ok(0) | Err(_) => return,
                    Ok(_) if line == "\r\n" => break,
                    Ok(_) => head.push(line),
                }
            }
            let mut post = Post {
                head,
                body: Vec::new(),
            };
            let len = post
                .header("content-length")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            post.body = vec![0; len];
            if r.read_exact(&mut post.body).is_err() || self.stop.load(Ordering::SeqCst) {
                return;
            }
            lock(&self.posts).push(post);
            std::thread::sleep(Duration::from_millis(self.delay_ms.load(Ordering::SeqCst)));
            let reason = if self.status == 200 { "OK" } else { "Refused" };
            let reply = format!(
                "HTTP/1.1 {} {reason}\r\nContent-Length: 0\r\n\r\n",
                self.status
            );
            if write.write_all(reply.as_bytes()).is_err() {
                return;
            }
        }
    }
}
