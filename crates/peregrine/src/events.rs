//! `peregrine events [FILTER]`: the live view of decoded kernel events, one per line, in
//! sysdig's default layout (`num time cpu process (tid) dir type params`).
//!
//! It is the shortest path from the kernel to a human: no rules, no state engine. Process
//! names come from the exec events seen and, failing that, `/proc/<tid>/comm` (cached), so a
//! process that exited before its first line prints `<NA>`.
//!
//! FILTER: only `evt.type=NAME` and `evt.type in (A, B, …)` are understood here, and they
//! are pushed into the kernel's selection. TODO(rules): hand any other condition to the rules
//! crate's compiler and evaluate it per event.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{BufWriter, Write};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use peregrine_capture::{Capture, CaptureConfig};
use peregrine_event::{Event, EventType, EventTypeSet, Render, Value};

/// Arguments of `peregrine events`.
#[derive(clap::Args, Debug, Clone)]
pub struct EventsArgs {
    /// Condition selecting events (`evt.type=openat`, `evt.type in (execve, connect)`).
    pub filter: Vec<String>,
    /// Stop after N events.
    #[arg(short = 'n', long = "numevents")]
    pub numevents: Option<u64>,
    /// Output format with %field tokens: %evt.num %evt.time %evt.cpu %proc.name %thread.tid
    /// %proc.pid %evt.dir %evt.type %evt.info %evt.arg.NAME.
    #[arg(short = 'p', long = "print")]
    pub print: Option<String>,
    /// Capture only this process (thread group id).
    #[arg(long)]
    pub pid: Option<u32>,
    /// Kernel ring buffer size in bytes (a power of two).
    #[arg(long, default_value_t = 8 << 20)]
    pub ring_bytes: u32,
    /// Print kernel drop counters to stderr at exit.
    #[arg(long)]
    pub stats: bool,
}

/// The default line layout, as sysdig prints it.
const DEFAULT_FORMAT: &str =
    "%evt.num %evt.time %evt.cpu %proc.name (%thread.tid) %evt.dir %evt.type %evt.info";

/// Parses the trivial filters this view understands into a kernel selection.
fn selection(filter: &[String]) -> Result<Option<EventTypeSet>> {
    let text = filter.join(" ");
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let names: Vec<&str> = if let Some(rest) = text.strip_prefix("evt.type") {
        let rest = rest.trim_start();
        if let Some(v) = rest.strip_prefix('=') {
            vec![v.trim()]
        } else if let Some(list) = rest
            .strip_prefix("in")
            .map(str::trim_start)
            .and_then(|l| l.strip_prefix('('))
            .and_then(|l| l.strip_suffix(')'))
        {
            list.split(',').map(str::trim).collect()
        } else {
            bail!("unsupported filter {text:?}: only evt.type=X and evt.type in (…) for now")
        }
    } else {
        // TODO(rules): compile arbitrary conditions with the rules crate.
        bail!("unsupported filter {text:?}: only evt.type=X and evt.type in (…) for now")
    };
    let mut set = EventTypeSet::empty();
    for n in names {
        let t = EventType::from_name(n).with_context(|| format!("unknown event type {n:?}"))?;
        set.insert(t);
    }
    Ok(Some(set))
}

/// Process names by tid, bounded so a long session cannot grow it without limit.
struct Names(HashMap<u32, String>);

impl Names {
    const MAX: usize = 16384;

    fn get(&mut self, tid: u32) -> &str {
        if self.0.len() > Self::MAX {
            self.0.clear();
        }
        self.0.entry(tid).or_insert_with(|| {
            std::fs::read_to_string(format!("/proc/{tid}/comm"))
                .map(|s| s.trim_end().to_string())
                .unwrap_or_else(|_| "<NA>".to_string())
        })
    }

    fn learn(&mut self, ev: &Event<'_>) {
        if matches!(ev.name(), "execve" | "execveat") {
            if let Some(Ok(Value::Str(comm))) = ev.param("comm") {
                self.0
                    .insert(ev.tid(), String::from_utf8_lossy(comm).into_owned());
            }
        }
        if ev.name() == "procexit" {
            self.0.remove(&ev.tid());
        }
    }
}

/// Wall-clock `HH:MM:SS.nnnnnnnnn` (UTC) of ns since the epoch.
fn clock(ts: u64) -> String {
    let secs = ts / 1_000_000_000;
    let day = secs % 86_400;
    format!(
        "{:02}:{:02}:{:02}.{:09}",
        day / 3600,
        day % 3600 / 60,
        day % 60,
        ts % 1_000_000_000
    )
}

/// Renders one event with a format string.
fn render(out: &mut String, format: &str, num: u64, ev: &Event<'_>, names: &mut Names) {
    let mut rest = format;
    while let Some(i) = rest.find('%') {
        out.push_str(&rest[..i]);
        let tail = &rest[i + 1..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == '_'))
            .unwrap_or(tail.len());
        let field = &tail[..end];
        let _ = match field {
            "evt.num" => write!(out, "{num}"),
            "evt.time" => write!(out, "{}", clock(ev.ts)),
            "evt.rawtime" => write!(out, "{}", ev.ts),
            "evt.cpu" => write!(out, "{}", ev.cpu()),
            "proc.name" => write!(out, "{}", names.get(ev.tid())),
            "thread.tid" => write!(out, "{}", ev.tid()),
            "proc.pid" => write!(out, "{}", ev.pid()),
            "evt.dir" => write!(out, "<"),
            "evt.type" => write!(out, "{}", ev.name()),
            "evt.info" | "evt.args" => write!(out, "{}", ev.info()),
            f => match f.strip_prefix("evt.arg.") {
                Some(arg) => {
                    let ty = ev.schema.index_of(arg).map(|i| ev.schema.params[i].ty);
                    match (ty, ev.param(arg)) {
                        (Some(ty), Some(Ok(v))) => write!(out, "{}", Render { ty, value: &v }),
                        _ => write!(out, "<NA>"),
                    }
                }
                // Unknown tokens print as written, like an unresolvable field.
                None => write!(out, "%{f}"),
            },
        };
        rest = &tail[end..];
    }
    out.push_str(rest);
}

/// Runs the live view until `-n` events were printed (or forever).
pub fn run(args: EventsArgs) -> Result<()> {
    let started = Instant::now();
    let mut config = CaptureConfig {
        ring_bytes: args.ring_bytes,
        only_tgid: args.pid,
        ..CaptureConfig::default()
    };
    if let Some(set) = selection(&args.filter)? {
        config.procexit = set.contains(EventType::from_name("procexit").context("procexit")?);
        config.syscalls = set;
    }
    let mut cap = Capture::open(&config).context("starting kernel capture")?;
    let format = args.print.as_deref().unwrap_or(DEFAULT_FORMAT);
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut names = Names(HashMap::new());
    let mut line = String::new();
    let mut num = 0u64;
    let limit = args.numevents.unwrap_or(u64::MAX);
    if args.stats {
        eprintln!("capture started in {:?}", started.elapsed());
    }
    let mut write_err = None;
    while num < limit && write_err.is_none() {
        cap.poll(Duration::from_millis(10), |ev| {
            if num >= limit || write_err.is_some() {
                return;
            }
            num += 1;
            names.learn(ev);
            line.clear();
            render(&mut line, format, num, ev, &mut names);
            line.push('\n');
            if let Err(e) = out.write_all(line.as_bytes()) {
                write_err = Some(e);
            }
        })?;
        if let Err(e) = out.flush() {
            write_err = Some(e);
        }
    }
    if args.stats {
        let c = cap.counters()?;
        eprintln!(
            "events={} delivered={} drops_ring_full={} drops_too_large={} read_failures={} \
             malformed={}",
            c.events,
            c.delivered,
            c.drops_ring_full,
            c.drops_too_large,
            c.read_failures,
            c.malformed
        );
    }
    match write_err {
        // A closed pipe (`| head`) is a normal way to stop.
        Some(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Some(e) => Err(e).context("writing events"),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_selection(filter: &str, expected: Result<Vec<&str>, ()>) {
        let got = selection(&[filter.to_string()])
            .map(|s| s.map(|s| s.iter().map(|t| t.name()).collect::<Vec<_>>()))
            .map_err(|_| ());
        let expected = expected.map(|v| (!v.is_empty()).then_some(v));
        assert_eq!(got, expected, "{filter}");
    }

    #[test]
    fn filters() {
        check_selection("", Ok(vec![]));
        check_selection("evt.type=openat", Ok(vec!["openat"]));
        check_selection(
            "evt.type in (execve, connect)",
            Ok(vec!["connect", "execve"]),
        );
        check_selection("evt.type=nosuch", Err(()));
        check_selection("proc.name=cat", Err(()));
    }

    /// An openat record as the kernel writes it.
    fn openat_record() -> Vec<u8> {
        use peregrine_event::raw::{Header, KIND_SYSCALL};
        let params: [&[u8]; 7] = [
            &3i64.to_le_bytes(),
            &(-100i64).to_le_bytes(),
            b"/etc/shadow\0",
            &0o2000000u32.to_le_bytes(),
            &0u32.to_le_bytes(),
            &2049u32.to_le_bytes(),
            &77u64.to_le_bytes(),
        ];
        let header = Header {
            ts_boot_ns: 5_000_000_123,
            tid: 4242,
            pid: 4240,
            kind: KIND_SYSCALL,
            nr: 257,
            cpu: 1,
        };
        header.encode(&params)
    }

    fn check_render(format: &str, expected: &str) {
        let rec = openat_record();
        let ev = Event::decode(&rec, 0).expect("decodes");
        let mut names = Names(HashMap::from([(4242, "cat".to_string())]));
        let mut out = String::new();
        render(&mut out, format, 7, &ev, &mut names);
        assert_eq!(out, expected);
    }

    #[test]
    fn renders_lines() {
        check_render(
            DEFAULT_FORMAT,
            "7 00:00:05.000000123 1 cat (4242) < openat fd=3 dirfd=-100(AT_FDCWD) \
             name=/etc/shadow flags=4097(O_RDONLY|O_CLOEXEC) mode=0 dev=2049 ino=77",
        );
        check_render(
            "%proc.pid %evt.arg.name %evt.arg.flags %evt.arg.nosuch %bogus!",
            "4240 /etc/shadow 4097(O_RDONLY|O_CLOEXEC) <NA> %bogus!",
        );
    }

    #[test]
    fn clock_format() {
        assert_eq!(
            clock(86_400 * 1_000_000_000 + 3_723_000_000_005),
            "01:02:03.000000005"
        );
    }
}
