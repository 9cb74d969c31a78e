//! Peregrine's picture of the system: processes and threads, their file descriptors, users
//! and containers — kept current from the event stream, seeded from `/proc`, and exposed to
//! rules through [`peregrine_filter::FieldSource`].
//!
//! Key decisions:
//! - **Events update state before rules see them, removals happen one event late** (libsinsp's
//!   order): an `openat` exit already has its fd; a `close` or `procexit` still shows the fd or
//!   thread it ends. [`State::update`] then [`State::source`] is the whole contract.
//! - **Process-wide data lives once per process** ([`thread::Process`]); threads are a tid → pid
//!   map. Threads share one fd table and cwd for free; ancestry is one hash probe per level.
//! - **Bounded memory**: a maximum thread count, per-process fd caps and byte budgets for
//!   arguments and environment ([`StateConfig`]); whatever is refused is counted
//!   ([`Counters`]), never silently dropped.
//! - **Nothing on the event path blocks on the network**: container ids come from cgroup paths
//!   ([`container`]); the only file reads on the event path are the /proc lookup of a thread the
//!   stream never introduced and the one-time load of a container's `/etc/passwd`.
//!
//! - **Container metadata arrives asynchronously** ([`runtime`]): a worker thread asks the
//!   podman/docker API, or reads the OCI runtime state of containerd/CRI-O containers ([`oci`]),
//!   once per container, and asks containerd for its pods' labels ([`containerd`]), once per
//!   pod; until it answers, name/image/labels have no value.
//!
//! What is not here yet: a real `evt.latency` (records are exits only, so it is 0), and
//! `fdlist.*` (the records carry no descriptor list for poll-like events). Syscall dispatch
//! assumes x86-64 numbers, as the capture does.

// Not `forbid`: `state::utf8` holds the one allowed `unsafe` (an ASCII fast path).
#![deny(unsafe_code)]

pub mod caps;
mod category;
pub mod container;
pub mod containerd;
mod extract;
pub mod fd;
mod intern;
pub mod oci;
mod params;
pub mod procfs;
pub mod runtime;
mod state;
pub mod thread;
pub mod users;

pub use extract::EventSource;
pub use state::{host_path, ContainerMetadata, Counters, MetadataStatus, State, StateConfig};
