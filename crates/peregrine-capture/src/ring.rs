//! A BPF ring buffer consumer over the map's memory mapping.
//!
//! libbpf's consumer invokes a callback fixed at construction; owning the mapping lets
//! [`RingReader::drain`] hand each record to a per-call closure as a slice of the ring itself
//! (the data area is mapped twice back to back by the kernel, so a record that wraps is still
//! contiguous) and release the space only after the closure returns: zero copies.
//!
//! Protocol (kernel/bpf/ringbuf.c): page 0 holds the consumer position (we write it), page 1
//! the producer position (read-only), then the data. Each record starts with an 8-byte header:
//! `u32 len` whose bit 31 means "still being written" and bit 30 "discarded", and a `u32`
//! page offset; records are 8-byte aligned.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

const BUSY: u32 = 1 << 31;
const DISCARD: u32 = 1 << 30;
const HDR: u64 = 8;

pub(crate) struct RingReader {
    fd: i32,
    consumer: NonNull<u8>,
    producer: NonNull<u8>,
    data: *const u8,
    page: usize,
    size: u64,
}

impl RingReader {
    /// Maps the ring buffer map `fd` of `size` bytes (a power of two, as the kernel requires).
    pub(crate) fn new(fd: BorrowedFd<'_>, size: u64) -> io::Result<Self> {
        // SAFETY: sysconf has no preconditions.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize;
        let raw = fd.as_raw_fd();
        // SAFETY: mapping a ring buffer map fd as documented by the kernel; results checked.
        let consumer = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                page,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                raw,
                0,
            )
        };
        if consumer == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let len = page + 2 * size as usize;
        // SAFETY: as above; the producer page and the double-mapped data are read-only.
        let producer = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_SHARED,
                raw,
                page as libc::off_t,
            )
        };
        if producer == libc::MAP_FAILED {
            let e = io::Error::last_os_error();
            // SAFETY: unmapping what we mapped above.
            unsafe { libc::munmap(consumer, page) };
            return Err(e);
        }
        // The fd is owned by the libbpf object, which outlives this reader (field order).
        Ok(RingReader {
            fd: raw,
            consumer: NonNull::new(consumer.cast()).ok_or_else(io::Error::last_os_error)?,
            producer: NonNull::new(producer.cast()).ok_or_else(io::Error::last_os_error)?,
            // SAFETY: the data area starts one page into the producer mapping.
            data: unsafe { producer.cast::<u8>().add(page) },
            page,
            size,
        })
    }

    fn consumer_pos(&self) -> &AtomicU64 {
        // SAFETY: page-aligned mapping of at least 8 bytes, alive as long as self.
        unsafe { &*self.consumer.as_ptr().cast::<AtomicU64>() }
    }

    fn producer_pos(&self) -> &AtomicU64 {
        // SAFETY: as for consumer_pos.
        unsafe { &*self.producer.as_ptr().cast::<AtomicU64>() }
    }

    /// Hands every record committed when the call starts to `f`, oldest first, then releases
    /// its space. Returns the number of records handed over, and whether it reached the
    /// producer position seen on entry (false: it stopped at a record still being written).
    /// Never blocks.
    pub(crate) fn drain(&mut self, f: impl FnMut(&[u8])) -> (usize, bool) {
        let prod = self.producer();
        self.drain_to(prod, f)
    }

    /// The producer position now: what [`RingReader::drain_to`] can drain up to.
    pub(crate) fn producer(&self) -> u64 {
        self.producer_pos().load(Ordering::Acquire)
    }

    /// [`RingReader::drain`] up to a producer position read earlier with
    /// [`RingReader::producer`].
    pub(crate) fn drain_to(&mut self, prod: u64, mut f: impl FnMut(&[u8])) -> (usize, bool) {
        let mask = self.size - 1;
        let mut n = 0;
        let mut cons = self.consumer_pos().load(Ordering::Acquire);
        let mut released = cons;
        // One pass, up to the producer position seen on entry. Chasing the producer instead
        // never returns while the kernel writes as fast as we read (a syscall flood on a busy
        // host), which starves the caller's stop flag, deadline and housekeeping; the
        // caller's next wait finds the rest pending and returns at once.
        while cons < prod {
            let off = (cons & mask) as usize;
            // SAFETY: off < size and the header is 8-byte aligned inside the data area.
            let hdr = unsafe { &*self.data.add(off).cast::<AtomicU32>() };
            let word = hdr.load(Ordering::Acquire);
            if word & BUSY != 0 {
                // Still being written: stop here, the rest comes on the next drain.
                self.consumer_pos().store(cons, Ordering::Release);
                return (n, false);
            }
            let len = (word & !(BUSY | DISCARD)) as u64;
            if len > self.size {
                // Cannot happen with a sane kernel; never read outside the mapping.
                self.consumer_pos().store(cons, Ordering::Release);
                return (n, false);
            }
            if word & DISCARD == 0 {
                // SAFETY: the record lies within the double mapping (off + 8 + len <=
                // size + size), and the kernel does not touch it until we advance.
                let rec = unsafe {
                    std::slice::from_raw_parts(self.data.add(off + HDR as usize), len as usize)
                };
                f(rec);
                n += 1;
            }
            cons += (len + HDR + 7) & !7;
            // Releasing space once per quarter ring rather than per record keeps the
            // consumer-position cache line from moving between CPUs on every record: the
            // kernel reads it on each reservation.
            if cons - released >= self.size / 4 {
                self.consumer_pos().store(cons, Ordering::Release);
                released = cons;
            }
        }
        if cons != released {
            self.consumer_pos().store(cons, Ordering::Release);
        }
        (n, true)
    }

    /// Whether committed or in-flight records are waiting.
    pub(crate) fn pending(&self) -> bool {
        self.producer_pos().load(Ordering::Acquire) > self.consumer_pos().load(Ordering::Acquire)
    }
}

/// Waits until one of `rings` signals data or `timeout` passes (the kernel signals a ring
/// only when it is half full: callers poll on a short timeout anyway).
pub(crate) fn wait_any(rings: &[&RingReader], timeout: Duration) -> io::Result<()> {
    let mut fds: Vec<libc::pollfd> = rings
        .iter()
        .map(|r| libc::pollfd {
            fd: r.fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
    // SAFETY: `fds` is a valid array of `fds.len()` pollfds for the duration of the call.
    let r = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
    if r < 0 {
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
    Ok(())
}

impl Drop for RingReader {
    fn drop(&mut self) {
        // SAFETY: unmapping the two mappings made in new(), with their lengths.
        unsafe {
            libc::munmap(self.consumer.as_ptr().cast(), self.page);
            libc::munmap(
                self.producer.as_ptr().cast(),
                self.page + 2 * self.size as usize,
            );
        }
    }
}
