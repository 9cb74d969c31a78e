//! A helper program run with a deadline: the `script` action and the OCI runtime binary.

use std::io::Read;
use std::process::{Child, ExitStatus};
use std::time::{Duration, Instant};

/// The `PATH` a helper program runs with (its environment is cleared), and where the OCI
/// runtime binary is looked for when the agent's own `PATH` lacks it (a service's may be short).
pub(crate) const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Bytes of a program's stderr quoted in the outcome.
pub(crate) const STDERR_QUOTE: u64 = 512;

/// Waits for `child` until `timeout`, then kills it (status `None`). The first
/// [`STDERR_QUOTE`] bytes of its stderr are read meanwhile on a thread of their own, so a
/// child writing more than a pipe holds cannot stall the wait; returned trimmed, not escaped.
pub(crate) fn wait_quoting_stderr(
    child: &mut Child,
    timeout: Duration,
) -> std::io::Result<(Option<ExitStatus>, String)> {
    let stderr = child.stderr.take();
    let reader = std::thread::spawn(move || {
        let mut text = Vec::new();
        if let Some(s) = stderr {
            let _ = s.take(STDERR_QUOTE).read_to_end(&mut text);
        }
        String::from_utf8_lossy(&text).trim().to_string()
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait()? {
            Some(st) => break Some(st),
            None if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            None => std::thread::sleep(Duration::from_millis(5)),
        }
    };
    Ok((status, reader.join().unwrap_or_default()))
}
