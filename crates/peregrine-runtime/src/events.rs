//! `peregrine events [FILTER]`: the live view of decoded kernel events, one per line, in
//! sysdig's default layout (`num time cpu process (tid) dir type params`).
//!
//! The shortest path from the kernel to a human that still speaks the rules' language: no
//! rules and no alerts, but every event goes through the state engine, so FILTER is any Falco
//! condition (compiled by `peregrine-filter`, evaluated on `peregrine-state`'s fields:
//! `proc.name`, `fd.name`, `user.name` …) and `-p` takes any `%field` of the catalogue.
//!
//! Kernel selection: the event types FILTER can match (its `evt.type` part, inferred as the
//! engine does for rules) plus the syscalls the state engine needs to keep processes and fds
//! true, as the agent selects them under Falco's default `base_syscalls`. Events of the state
//! set that FILTER rejects update the state and are not printed.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use peregrine_engine::interest::{interest, BaseSyscalls};
use peregrine_engine::live::{LiveOptions, LiveSource};
use peregrine_engine::{Engine, Pipeline, Settings};
use peregrine_event::{Event, EventType, EventTypeSet};
use peregrine_filter::ast::{CmpOp, Expr, Operand, Pos, Rhs};
use peregrine_filter::compile::{check_identifiers, compile, Filter, Scratch};
use peregrine_filter::evttype::event_types;
use peregrine_filter::format::OutputFormat;
use peregrine_filter::{parser, Extracted};
use peregrine_rules::RuleSet;
use peregrine_state::StateConfig;
use std::io::{BufWriter, Write};

use crate::error::{Context, Result, RuntimeError};
use crate::live::{self, Seed};

/// How often printed lines are flushed to stdout while events flow.
const FLUSH_INTERVAL: Duration = Duration::from_millis(10);

/// Arguments of `peregrine events`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventsArgs {
    /// Condition selecting events, in Falco's condition language (`evt.type=openat and
    /// proc.name=cat`, `fd.name contains /etc and not user.name=root`).
    pub filter: Vec<String>,
    /// Stop after N events.
    pub numevents: Option<u64>,
    /// Output format with %field tokens (any field of `--list`), e.g. `%evt.num %proc.name
    /// %evt.type %fd.name %evt.arg.flags`.
    pub print: Option<String>,
    /// Capture only this process (thread group id).
    pub pid: Option<u32>,
    /// Kernel ring buffer size in bytes (a power of two; the command line's default is 8 MiB).
    pub ring_bytes: u32,
    /// Print kernel drop counters to stderr at exit.
    pub stats: bool,
}

/// The default line layout, as sysdig prints it.
const DEFAULT_FORMAT: &str =
    "%evt.num %evt.time %evt.cpu %proc.name (%thread.tid) %evt.dir %evt.type %evt.info";

/// A compiled FILTER and the event types it can match.
struct EventFilter {
    filter: Filter,
    types: EventTypeSet,
}

impl EventFilter {
    /// Compiles the words of FILTER (joined by spaces); `None` when there is no filter. Every
    /// error says where in FILTER it is, so that a typo is not a view that silently prints
    /// nothing.
    fn compile(words: &[String]) -> Result<Option<EventFilter>> {
        let text = words.join(" ");
        let text = text.trim();
        if text.is_empty() {
            return Ok(None);
        }
        let at = |m: &str, pos: Pos| located(text, m, pos);
        let expr = parser::parse(text).map_err(|e| at(&e.message, e.pos))?;
        check_identifiers(&expr).map_err(|e| at(&e.message, e.pos))?;
        if let Some((name, pos)) = unknown_event_type(&expr) {
            return Err(at(&format!("unknown event type '{name}'"), pos));
        }
        let types = event_types(&expr).map_err(|e| {
            RuntimeError::Invalid(format!("invalid filter {text:?}: {}", e.message))
        })?;
        let filter = compile(&expr).map_err(|e| at(&e.message, e.pos))?.filter;
        Ok(Some(EventFilter { filter, types }))
    }
}

/// An error in FILTER `text` at `pos`: the message, the line and column, and for a one-line
/// filter the text with a caret under the column.
fn located(text: &str, message: &str, pos: Pos) -> RuntimeError {
    let mut m = format!(
        "invalid filter: {message} (line {}, column {})",
        pos.line, pos.col
    );
    if !text.contains('\n') {
        let pad = " ".repeat(pos.col.saturating_sub(1) as usize);
        m.push_str(&format!("\n  {text}\n  {pad}^"));
    }
    RuntimeError::Invalid(m)
}

/// The first value compared with `evt.type` that names no event, and where it is. Falco's
/// compiler accepts such a value (it matches nothing); in a live view it means a filter that
/// never prints, so here it is an error.
fn unknown_event_type(expr: &Expr) -> Option<(String, Pos)> {
    match expr {
        Expr::And(c, _) | Expr::Or(c, _) => c.iter().find_map(unknown_event_type),
        Expr::Not(c, _) => unknown_event_type(c),
        Expr::Binary {
            left: Operand::Field(f),
            op,
            right,
            ..
        } if matches!(f.name.as_str(), "evt.type" | "syscall.type")
            && f.arg.is_none()
            && matches!(
                op,
                CmpOp::Eq | CmpOp::EqEq | CmpOp::Ne | CmpOp::In | CmpOp::Intersects
            ) =>
        {
            let values: Vec<(&[u8], Pos)> = match right {
                Rhs::Value(v, p) => vec![(v, *p)],
                Rhs::List(items, _) => items.iter().map(|(v, p)| (v.as_slice(), *p)).collect(),
                Rhs::Identifier(..) | Rhs::Transformer(_) => Vec::new(),
            };
            values
                .into_iter()
                .find(|(v, _)| {
                    std::str::from_utf8(v)
                        .ok()
                        .and_then(EventType::from_name)
                        .is_none()
                })
                .map(|(v, p)| (String::from_utf8_lossy(v).into_owned(), p))
        }
        _ => None,
    }
}

/// What the kernel must deliver for `filter`: its event types plus the state set, limited to
/// what the capture can write (and procexit, which the capture emits on request).
fn selection(filter: Option<&EventFilter>) -> (EventTypeSet, bool) {
    let procexit = EventType::from_name("procexit");
    let available = LiveSource::available();
    let wanted = filter.map_or(available, |f| f.types);
    let set = interest(&wanted, &BaseSyscalls::default(), &available);
    let with_exit = procexit.is_some_and(|p| set.contains(p));
    (set, with_exit)
}

/// Runs the live view until `-n` events were printed, SIGINT or SIGTERM.
pub fn run(args: EventsArgs) -> Result<()> {
    let started = Instant::now();
    let filter = EventFilter::compile(&args.filter)?;
    let format_text = args.print.as_deref().unwrap_or(DEFAULT_FORMAT);
    let format = OutputFormat::parse(format_text).map_err(|e| {
        RuntimeError::Invalid(format!("invalid output format {format_text:?}: {e}"))
    })?;
    // No rules: the pipeline only keeps the state, and the kernel selection is the filter's
    // (see [`selection`]), asked for on top of an engine that wants nothing; the state set it
    // includes is what base_syscalls adds again, so nothing is selected twice.
    let engine = Arc::new(Engine::new(RuleSet::default(), Settings::default()));
    let mut pipe = Pipeline::new(
        engine,
        StateConfig::for_host(&crate::env_host_root()?, &Default::default()),
    );
    let opts = LiveOptions {
        base: BaseSyscalls::default(),
        ring_bytes: args.ring_bytes,
        only_tgid: args.pid,
        also: selection(filter.as_ref()).0,
    };
    let mut live = live::start(&mut pipe, opts, Seed::BestEffort)?;
    let stop = live.stop.clone();
    let stdout = std::io::stdout();
    let mut view = View {
        out: BufWriter::new(stdout.lock()),
        scratch: Scratch::new(),
        values: Extracted::default(),
        line: String::new(),
        num: 0,
        limit: args.numevents.unwrap_or(u64::MAX),
        write_err: None,
    };
    if args.stats {
        eprintln!("capture started in {:?}", started.elapsed());
    }
    // Short slices, so that printed lines reach a pipe while events flow.
    while !view.done() && !live.stopped() {
        live.run(
            &mut pipe,
            Some(Instant::now() + FLUSH_INTERVAL),
            |pipe, ev| {
                view.step(pipe, ev, filter.as_ref(), &format);
                if view.done() {
                    stop.store(true, Ordering::Relaxed);
                }
            },
        )?;
        if let Err(e) = view.out.flush() {
            view.write_err = Some(e);
        }
    }
    if args.stats {
        let c = live.source.counters()?;
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
    match view.write_err {
        // A closed pipe (`| head`) is a normal way to stop.
        Some(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Some(e) => Err(e).context("writing events"),
        None => Ok(()),
    }
}

/// The printing side of the live view.
struct View<W: Write> {
    out: W,
    scratch: Scratch,
    values: Extracted,
    line: String,
    /// Events printed so far, and the `-n` limit.
    num: u64,
    limit: u64,
    write_err: Option<std::io::Error>,
}

impl<W: Write> View<W> {
    fn done(&self) -> bool {
        self.num >= self.limit || self.write_err.is_some()
    }

    /// One event through the state, then printed if FILTER accepts it.
    fn step(
        &mut self,
        pipe: &mut Pipeline,
        ev: &Event<'_>,
        filter: Option<&EventFilter>,
        format: &OutputFormat,
    ) {
        if self.done() {
            return;
        }
        // No rules: this only updates the state.
        pipe.process(ev, &mut |_: &peregrine_engine::Match<'_>| {});
        let mut src = pipe.state_mut().source(ev);
        if let Some(f) = filter {
            if !f.filter.eval(&mut src, &mut self.scratch) {
                return;
            }
        }
        self.num += 1;
        self.line.clear();
        format.render(&mut src, &mut self.values, &mut self.line);
        self.line.push('\n');
        if let Err(e) = self.out.write_all(self.line.as_bytes()) {
            self.write_err = Some(e);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use peregrine_state::thread::Process;
    use peregrine_state::State;

    fn filter(text: &str) -> Result<Option<EventFilter>> {
        EventFilter::compile(&[text.to_string()])
    }

    fn types(text: &str) -> EventTypeSet {
        selection(filter(text).expect("compiles").as_ref()).0
    }

    fn has(set: &EventTypeSet, name: &str) -> bool {
        set.contains(EventType::from_name(name).expect("known event type"))
    }

    #[test]
    fn kernel_selection_is_the_filter_types_plus_the_state_set() {
        let mkdir = types("evt.type=mkdir and proc.name=cat");
        assert!(has(&mkdir, "mkdir"));
        assert!(has(&mkdir, "openat") && has(&mkdir, "execve") && has(&mkdir, "close"));
        assert!(!has(&mkdir, "ptrace") && !has(&mkdir, "rmdir"));
        let (_, procexit) = selection(filter("evt.type=mkdir").expect("ok").as_ref());
        assert!(procexit, "the state set includes procexit");
        // A filter without an evt.type part can match anything the capture writes.
        let any = types("proc.name=cat");
        assert_eq!(any, selection(None).0);
        assert!(has(&any, "ptrace") && has(&any, "rmdir"));
    }

    #[test]
    fn bad_filters_are_errors_with_the_compilers_message() {
        assert!(filter("").expect("empty is fine").is_none());
        for (text, message) in [
            ("evt.type=", "invalid filter"),
            ("no.such.field = 1", "no.such.field"),
            ("my_macro and evt.type=open", "Undefined macro 'my_macro'"),
            (
                "evt.type=opne",
                "unknown event type 'opne' (line 1, column 10)\n  evt.type=opne\n           ^",
            ),
            (
                "proc.name=cat and evt.type in (open, poll, readvv)",
                "unknown event type 'readvv' (line 1, column 44)",
            ),
            (
                "not evt.type != clsoe",
                "unknown event type 'clsoe' (line 1, column 17)",
            ),
        ] {
            let err = filter(text)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(err.contains(message), "{text}: {err}");
        }
    }

    /// An openat record by tid 4242 (pid 4240) as the kernel writes it.
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
            tid: 4240,
            pid: 4240,
            kind: KIND_SYSCALL,
            nr: 257,
            cpu: 1,
        };
        header.encode(&params)
    }

    /// A state that knows process 4240 as `cat`, after the openat record.
    fn with_openat(f: impl FnOnce(&mut State, &Event<'_>)) {
        let mut state = State::new(StateConfig {
            proc_root: None,
            container_sockets: Vec::new(),
            ..StateConfig::default()
        });
        let cat = Process {
            pid: 4240,
            comm: "cat".into(),
            cwd: "/".into(),
            ..Process::default()
        };
        state.insert_process(cat, &[(4240, 4240)]);
        let rec = openat_record();
        let ev = Event::decode(&rec, 0).expect("decodes");
        state.update(&ev);
        f(&mut state, &ev);
    }

    #[test]
    fn known_event_types_pass_the_check() {
        for text in [
            "evt.type in (readv, writev, poll, ppoll, procexit, container)",
            "evt.type != execve and syscall.type = openat",
            "evt.type in (pwritev, preadv)",
            "proc.name = opne",
        ] {
            let expr = parser::parse(text).expect("parses");
            assert_eq!(unknown_event_type(&expr), None, "{text}");
        }
    }

    #[test]
    fn filters_evaluate_state_fields() {
        for (text, expected) in [
            ("evt.type=openat", true),
            ("evt.type in (close, execve)", false),
            ("proc.name=cat and fd.name contains shadow", true),
            ("proc.name=head and fd.name contains shadow", false),
            (
                "fd.name startswith /etc and evt.arg.flags contains O_CLOEXEC",
                true,
            ),
            ("fd.num=3 and not fd.name=/etc/passwd", true),
            ("proc.pid=4240 and evt.cpu=2", false),
        ] {
            let f = filter(text).expect("compiles").expect("a filter");
            with_openat(|state, ev| {
                let got = f.filter.eval(&mut state.source(ev), &mut Scratch::new());
                assert_eq!(got, expected, "{text}");
            });
        }
    }

    fn check_render(format: &str, expected: &str) {
        let format = OutputFormat::parse(format).expect("format parses");
        with_openat(|state, ev| {
            let mut out = String::new();
            format.render(&mut state.source(ev), &mut Extracted::default(), &mut out);
            assert_eq!(out, expected);
        });
    }

    #[test]
    fn renders_lines() {
        check_render(
            DEFAULT_FORMAT,
            "1 00:00:05.000000123 1 cat (4240) < openat fd=3(<f>/etc/shadow) dirfd=-100(AT_FDCWD) \
             name=/etc/shadow flags=4097(O_RDONLY|O_CLOEXEC) mode=0 dev=2049 ino=77",
        );
        check_render(
            "%proc.pid %fd.name %evt.arg.flags %evt.arg.nosuch",
            "4240 /etc/shadow O_RDONLY|O_CLOEXEC <NA>",
        );
    }
}
