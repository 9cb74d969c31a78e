//! The field catalogue: every field a condition or output may name, with its type, flags and
//! description. Names resolve here once, at compile time, to a [`FieldId`]; evaluation never
//! looks a field up by name.
//!
//! Key decision: the catalogue is one table written through the `catalogue!` macro, which
//! generates both the [`FieldId`] enum and the [`FIELDS`] slice in the same order. A field
//! therefore cannot exist in one and be missing from the other, `FieldId as usize` indexes
//! [`FIELDS`] directly ([`info`]), and the state engine can `match` exhaustively on ids. The
//! cost is a large enum; it is `Copy` and one `u16` wide, so that costs nothing at run time.
//!
//! Types and flags follow libsinsp's `sinsp_filtercheck_*.cpp` tables and the container
//! plugin's field list, because Falco rules are checked against exactly those (operator ×
//! type compatibility, `EPF_NO_RHS`, `EPF_FILTER_ONLY`, …). Descriptions are our own words.

use crate::source::FieldArg;
use rustc_hash::FxHashMap;
use std::fmt;
use std::sync::LazyLock;

/// A field's value type (libsinsp's `PT_*` types as fields use them).
///
/// How values of each type travel through [`crate::source::Extracted`]: strings and bytes as
/// `Bytes`; `Bool` as `Bool`; signed integers as `Int`; unsigned integers, ports and both time
/// types (nanoseconds) as `UInt`; `IpAddr` and `IpNet` as `Ip` (an `IpNet` field such as
/// `fd.net` yields the address, which the compiler tests for membership in the network
/// literal); `Double` as `Double`.
///
/// Two cases follow libsinsp rather than intuition: the time-string fields (`evt.time`,
/// `evt.time.s`, `evt.time.iso8601`, `evt.datetime`, `evt.datetime.s`) are `CharBuf`, so a
/// source extracts their text (made with [`crate::format::format_time`]) while their JSON
/// value in `output_fields` is the raw `evt.rawtime`; and `evt.rawarg` has no fixed type in
/// libsinsp (`PT_DYN`, the parameter's own type) — it is declared `Int64` here, the common
/// case (`evt.rawarg.res`, `evt.rawarg.flags`), and a compiler that knows the parameter table
/// may refine it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FieldType {
    /// A string (`PT_CHARBUF`, also `PT_FSPATH`).
    CharBuf,
    /// Raw bytes (`PT_BYTEBUF`), e.g. `evt.buffer`.
    ByteBuf,
    Bool,
    Int16,
    Int32,
    Int64,
    UInt16,
    UInt32,
    UInt64,
    Port,
    /// Nanoseconds, relative (durations).
    RelTime,
    /// Nanoseconds since the epoch.
    AbsTime,
    IpAddr,
    IpNet,
    Double,
}

impl FieldType {
    pub fn is_numeric(self) -> bool {
        matches!(
            self,
            FieldType::Int16
                | FieldType::Int32
                | FieldType::Int64
                | FieldType::UInt16
                | FieldType::UInt32
                | FieldType::UInt64
                | FieldType::Port
                | FieldType::RelTime
                | FieldType::AbsTime
                | FieldType::Double
        )
    }

    /// True for the signed integer types (values travel as `Slot::Int`).
    pub fn is_signed(self) -> bool {
        matches!(self, FieldType::Int16 | FieldType::Int32 | FieldType::Int64)
    }

    /// The name `falco --list` prints for the type (libsinsp's `param_type_to_string`).
    pub fn name(self) -> &'static str {
        match self {
            FieldType::CharBuf => "CHARBUF",
            FieldType::ByteBuf => "BYTEBUF",
            FieldType::Bool => "BOOL",
            FieldType::Int16 => "INT16",
            FieldType::Int32 => "INT32",
            FieldType::Int64 => "INT64",
            FieldType::UInt16 => "UINT16",
            FieldType::UInt32 => "UINT32",
            FieldType::UInt64 => "UINT64",
            FieldType::Port => "PORT",
            FieldType::RelTime => "RELTIME",
            FieldType::AbsTime => "ABSTIME",
            FieldType::IpAddr => "IPADDR",
            FieldType::IpNet => "IPNET",
            FieldType::Double => "DOUBLE",
        }
    }
}

impl fmt::Display for FieldType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// libsinsp's `EPF_*` field flags that change what the compiler accepts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FieldFlags {
    /// `EPF_ARG_ALLOWED`: `field[arg]` is accepted.
    pub arg_allowed: bool,
    /// `EPF_ARG_REQUIRED`: `field[arg]` is mandatory.
    pub arg_required: bool,
    /// `EPF_ARG_INDEX`: the argument is a number.
    pub arg_index: bool,
    /// `EPF_NO_RHS`: the field may not be used on the right (`val(field)`).
    pub no_rhs: bool,
    /// `EPF_NO_TRANSFORMER`: no transformer may wrap the field.
    pub no_transformer: bool,
    /// `EPF_FILTER_ONLY`: usable in conditions, not in outputs.
    pub filter_only: bool,
    /// `EPF_DEPRECATED`: usable, with a warning.
    pub deprecated: bool,
    /// The field yields several values (a list): `in`/`intersects` compare sets.
    pub list: bool,
    /// `EPF_ARG_KEY`: the argument is a key (a name, a path, a glob), never converted.
    pub arg_key: bool,
    /// The argument may also be written as a dotted suffix: `evt.arg.flags` is
    /// `evt.arg[flags]`, `evt.type.is.open` is `evt.type.is[open]`.
    pub dyn_suffix: bool,
    /// `EPF_FORMAT_SUGGESTED`: `append_output: suggested_output` appends the field to outputs
    /// (the container plugin flags the six container and pod fields every alert shows).
    pub format_suggested: bool,
}

impl FieldFlags {
    /// The union of two flag sets (a `const fn` so that the catalogue stays a `static`).
    pub const fn with(self, o: FieldFlags) -> FieldFlags {
        FieldFlags {
            arg_allowed: self.arg_allowed || o.arg_allowed,
            arg_required: self.arg_required || o.arg_required,
            arg_index: self.arg_index || o.arg_index,
            no_rhs: self.no_rhs || o.no_rhs,
            no_transformer: self.no_transformer || o.no_transformer,
            filter_only: self.filter_only || o.filter_only,
            deprecated: self.deprecated || o.deprecated,
            list: self.list || o.list,
            arg_key: self.arg_key || o.arg_key,
            dyn_suffix: self.dyn_suffix || o.dyn_suffix,
            format_suggested: self.format_suggested || o.format_suggested,
        }
    }

    /// True if the field takes an argument at all.
    pub const fn takes_arg(self) -> bool {
        self.arg_allowed || self.arg_required
    }
}

const NONE: FieldFlags = FieldFlags {
    arg_allowed: false,
    arg_required: false,
    arg_index: false,
    no_rhs: false,
    no_transformer: false,
    filter_only: false,
    deprecated: false,
    list: false,
    arg_key: false,
    dyn_suffix: false,
    format_suggested: false,
};
const ARG_ALLOWED: FieldFlags = FieldFlags {
    arg_allowed: true,
    ..NONE
};
const ARG_REQUIRED: FieldFlags = FieldFlags {
    arg_required: true,
    ..NONE
};
const ARG_INDEX: FieldFlags = FieldFlags {
    arg_index: true,
    ..NONE
};
const ARG_KEY: FieldFlags = FieldFlags {
    arg_key: true,
    ..NONE
};
const NO_RHS: FieldFlags = FieldFlags {
    no_rhs: true,
    ..NONE
};
const NO_TRANSFORMER: FieldFlags = FieldFlags {
    no_transformer: true,
    ..NONE
};
const FILTER_ONLY: FieldFlags = FieldFlags {
    filter_only: true,
    ..NONE
};
const DEPRECATED: FieldFlags = FieldFlags {
    deprecated: true,
    ..NONE
};
const LIST: FieldFlags = FieldFlags { list: true, ..NONE };
const SUGGESTED: FieldFlags = FieldFlags {
    format_suggested: true,
    ..NONE
};
const SUFFIX: FieldFlags = FieldFlags {
    dyn_suffix: true,
    ..NONE
};

/// A class's event source: the one written in the catalogue, `syscall` when none is.
const fn class_source(written: &[&'static str]) -> &'static str {
    match written {
        [s] => s,
        _ => SYSCALL_SOURCE,
    }
}

/// The name of the kernel's event source.
pub const SYSCALL_SOURCE: &str = "syscall";

/// One catalogue entry.
#[derive(Debug)]
pub struct FieldInfo {
    pub id: FieldId,
    pub name: &'static str,
    pub ty: FieldType,
    pub flags: FieldFlags,
    pub desc: &'static str,
    /// The name of the [`FieldClass`] the field belongs to (`evt`, `process`, `fd`, …).
    pub class: &'static str,
    /// The same class as an enum.
    pub class_id: ClassId,
    /// For a field a loaded plugin declares: which one and where it applies
    /// ([`register_plugin_fields`]); `None` for the catalogue's own fields.
    pub plugin: Option<&'static PluginField>,
}

/// What the catalogue knows of a field a loaded plugin declared.
#[derive(Debug)]
pub struct PluginField {
    /// The field's index among all registered plugin fields (what [`FieldArg::Plugin`] holds).
    pub dyn_id: u32,
    /// The plugin's name.
    pub plugin: &'static str,
    /// The field's index in the plugin's `get_fields` (what the plugin is asked for).
    pub index: u32,
    /// The event sources the plugin extracts from (`extract_event_sources`); empty: all.
    pub sources: Vec<&'static str>,
}

impl FieldInfo {
    /// True for fields provided by the container plugin in Falco (`container.*`, `k8s.*`):
    /// their argument errors use the plugin wording.
    pub fn is_plugin(&self) -> bool {
        self.plugin.is_some() || matches!(self.class, "container" | "ka" | "json" | "jevt")
    }

    /// The event source whose events carry the field (a plugin field that applies to several
    /// sources names the first).
    pub fn source(&self) -> &str {
        match self.plugin {
            Some(p) => p.sources.first().copied().unwrap_or(SYSCALL_SOURCE),
            None => CLASSES[self.class_id as usize].source,
        }
    }

    /// Whether a rule of `source` may use the field. Like libsinsp, plugin sources get the
    /// event-generic `evt.*` fields (time, number, source, plugin name) besides their own.
    pub fn usable_in(&self, source: &str) -> bool {
        if let Some(p) = self.plugin {
            return p.sources.is_empty() || p.sources.contains(&source);
        }
        if self.source() == source {
            return true;
        }
        source != SYSCALL_SOURCE
            && matches!(
                self.id,
                FieldId::EvtNum
                    | FieldId::EvtTime
                    | FieldId::EvtTimeS
                    | FieldId::EvtTimeIso8601
                    | FieldId::EvtDatetime
                    | FieldId::EvtDatetimeS
                    | FieldId::EvtRawtime
                    | FieldId::EvtRawtimeS
                    | FieldId::EvtRawtimeNs
                    | FieldId::EvtPluginname
                    | FieldId::EvtPlugininfo
                    | FieldId::EvtSource
                    | FieldId::EvtHostname
                    | FieldId::EvtIsAsync
                    | FieldId::EvtAsynctype
            )
    }
}

/// A group of fields as `falco --list` shows them ("Field Class: evt").
#[derive(Debug)]
pub struct FieldClass {
    pub name: &'static str,
    /// The event source the class belongs to (`syscall`, or `k8s_audit` for `ka`/`json`).
    pub source: &'static str,
    pub desc: &'static str,
}

impl FieldClass {
    /// The qualifier `falco --list` prints after the class name (`container (plugin)`).
    pub fn shortdesc(&self) -> Option<&'static str> {
        matches!(self.name, "container" | "ka" | "json" | "jevt").then_some("plugin")
    }

    /// The fields of this class, in catalogue order.
    pub fn fields(&self) -> impl Iterator<Item = &'static FieldInfo> + '_ {
        FIELDS.iter().filter(move |f| f.class == self.name)
    }
}

/// Generates [`FieldId`], [`FIELDS`] and [`CLASSES`] from one table, in the same order.
macro_rules! catalogue {
    ($(
        class $cid:ident $cname:literal $(source $csrc:literal)?, $cdesc:literal {
            $( $id:ident $name:literal $ty:ident [$($flag:ident)*] $desc:literal; )*
        }
    )*) => {
        /// Identifies a field of the catalogue. The state engine matches on it to extract
        /// values; `id as usize` is the field's index in [`FIELDS`].
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum FieldId {
            $($( $id, )*)*
        }

        /// The class of a field as a value (the enum form of [`FieldInfo::class`]): field
        /// sources dispatch on it once per request instead of comparing name prefixes.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum ClassId {
            $( $cid, )*
        }

        /// Every field, grouped by class (`evt`, `process`, `user`, `group`, `fd`, `fs.path`,
        /// `container`, …), in [`FieldId`] order.
        pub static FIELDS: &[FieldInfo] = &[
            $($(
                FieldInfo {
                    id: FieldId::$id,
                    name: $name,
                    ty: FieldType::$ty,
                    flags: NONE $(.with($flag))*,
                    desc: $desc,
                    class: $cname,
                    class_id: ClassId::$cid,
                    plugin: None,
                },
            )*)*
        ];

        /// The field classes, in the order `falco --list` prints them.
        pub static CLASSES: &[FieldClass] = &[
            $( FieldClass {
                name: $cname,
                source: class_source(&[$($csrc)?]),
                desc: $cdesc,
            }, )*
        ];
    };
}

catalogue! {
    class Evt "evt", "Fields of the event itself: its number, time, type and direction, its \
        arguments and result. The arguments of a syscall are reachable one by one through \
        evt.arg, e.g. evt.arg.fd or evt.arg[0]." {
        EvtNum "evt.num" UInt64 [] "The sequence number of the event.";
        EvtTime "evt.time" CharBuf [] "When the event happened, printed as a time of day with nanoseconds (HH:MM:SS.nnnnnnnnn).";
        EvtTimeS "evt.time.s" CharBuf [] "When the event happened, printed as a time of day without the fractional part (HH:MM:SS).";
        EvtTimeIso8601 "evt.time.iso8601" CharBuf [] "When the event happened, printed as an ISO 8601 date and time with nanoseconds and zone offset.";
        EvtDatetime "evt.datetime" CharBuf [] "When the event happened, printed as a date and a time of day with nanoseconds.";
        EvtDatetimeS "evt.datetime.s" CharBuf [] "When the event happened, printed as a date and a time of day without the fractional part.";
        EvtRawtime "evt.rawtime" AbsTime [] "When the event happened, as nanoseconds since the Unix epoch.";
        EvtRawtimeS "evt.rawtime.s" AbsTime [] "The whole-seconds part of evt.rawtime.";
        EvtRawtimeNs "evt.rawtime.ns" AbsTime [] "The nanoseconds part of evt.rawtime (below one second).";
        EvtReltime "evt.reltime" RelTime [] "Nanoseconds elapsed between the start of the capture and this event.";
        EvtReltimeS "evt.reltime.s" RelTime [] "The whole-seconds part of evt.reltime.";
        EvtReltimeNs "evt.reltime.ns" RelTime [] "The nanoseconds part of evt.reltime (below one second).";
        EvtPluginname "evt.pluginname" CharBuf [] "For events produced by a plugin, the name of that plugin.";
        EvtPlugininfo "evt.plugininfo" CharBuf [] "For events produced by a plugin, a summary of the event written by the plugin.";
        EvtSource "evt.source" CharBuf [] "The event source the event belongs to, e.g. syscall.";
        EvtIsAsync "evt.is_async" Bool [] "'true' for asynchronous events, which are injected by user space rather than produced by a syscall.";
        EvtAsynctype "evt.asynctype" CharBuf [] "For asynchronous events, the name of their type.";
        EvtHostname "evt.hostname" CharBuf [] "The name of the host the event was captured on.";
        EvtLatency "evt.latency" RelTime [] "The time spent in the syscall, in nanoseconds, from its entry to its exit.";
        EvtLatencyS "evt.latency.s" RelTime [] "The whole-seconds part of evt.latency.";
        EvtLatencyNs "evt.latency.ns" RelTime [] "The nanoseconds part of evt.latency (below one second).";
        EvtLatencyHuman "evt.latency.human" CharBuf [] "evt.latency written for people, e.g. 10.3ms.";
        EvtDeltatime "evt.deltatime" RelTime [] "Nanoseconds between the previous event and this one.";
        EvtDeltatimeS "evt.deltatime.s" RelTime [] "The whole-seconds part of evt.deltatime.";
        EvtDeltatimeNs "evt.deltatime.ns" RelTime [] "The nanoseconds part of evt.deltatime (below one second).";
        EvtDir "evt.dir" CharBuf [DEPRECATED] "The direction of the event: '>' on entry, '<' on exit. Deprecated: only exit events reach rules.";
        EvtType "evt.type" CharBuf [] "The name of the event, usually the syscall name (e.g. 'open').";
        EvtTypeIs "evt.type.is" UInt32 [ARG_REQUIRED ARG_KEY SUFFIX] "1 when the event is of the type written as suffix, e.g. evt.type.is.open, 0 otherwise.";
        SyscallType "syscall.type" CharBuf [] "For syscall events, the name of the syscall; no value for other events.";
        EvtCategory "evt.category" CharBuf [] "The category of the event, e.g. file, net, process, ipc.";
        EvtCpu "evt.cpu" Int16 [] "The number of the CPU the event happened on.";
        EvtArgs "evt.args" CharBuf [] "All the arguments of the event, rendered as one string of name=value pairs.";
        EvtArg "evt.arg" CharBuf [ARG_REQUIRED SUFFIX] "One argument of the event, rendered as text, chosen by name (evt.arg.fd) or by position (evt.arg[0]).";
        EvtRawarg "evt.rawarg" Int64 [ARG_REQUIRED SUFFIX] "One argument of the event, not rendered: numbers stay numbers, e.g. evt.rawarg.res >= 0. Its real type is the argument's type.";
        EvtInfo "evt.info" CharBuf [] "A readable summary of the event: its arguments, or a description for events that have one.";
        EvtBuffer "evt.buffer" ByteBuf [] "The data buffer of events that carry one, e.g. the bytes of read or write.";
        EvtBuflen "evt.buflen" UInt64 [] "The length in bytes of the data buffer of events that carry one.";
        EvtRes "evt.res" CharBuf [] "The result of the event as text: 'SUCCESS' or the error code name, e.g. 'ENOENT'.";
        EvtRawres "evt.rawres" Int64 [] "The result of the event as a number, e.g. -2; usable with numeric comparisons.";
        EvtFailed "evt.failed" Bool [] "'true' for events that returned an error.";
        EvtIsIo "evt.is_io" Bool [] "'true' for events that read or write data: read, write, send, recvfrom, …";
        EvtIsIoRead "evt.is_io_read" Bool [] "'true' for events that read data: read, recv, recvfrom, …";
        EvtIsIoWrite "evt.is_io_write" Bool [] "'true' for events that write data: write, send, …";
        EvtIoDir "evt.io_dir" CharBuf [] "For I/O events, 'r' for reads and 'w' for writes.";
        EvtIsWait "evt.is_wait" Bool [] "'true' for events that make the thread wait, e.g. sleep, select, poll.";
        EvtWaitLatency "evt.wait_latency" RelTime [] "For waiting events, the time spent waiting, in nanoseconds.";
        EvtIsSyslog "evt.is_syslog" Bool [] "'true' for writes to /dev/log, the syslog socket.";
        EvtCount "evt.count" UInt32 [] "Always 1; summed up in aggregations to count events.";
        EvtCountError "evt.count.error" UInt32 [] "1 for events that returned an error, for counting them.";
        EvtCountErrorFile "evt.count.error.file" UInt32 [] "1 for file events that returned an error, for counting them.";
        EvtCountErrorNet "evt.count.error.net" UInt32 [] "1 for network events that returned an error, for counting them.";
        EvtCountErrorMemory "evt.count.error.memory" UInt32 [] "1 for memory events that returned an error, for counting them.";
        EvtCountErrorOther "evt.count.error.other" UInt32 [] "1 for events of other categories that returned an error, for counting them.";
        EvtCountExit "evt.count.exit" UInt32 [] "1 for exit events, for counting them.";
        EvtAround "evt.around" UInt64 [ARG_REQUIRED ARG_INDEX FILTER_ONLY NO_RHS SUFFIX] "Filter-only: matches events within a time window around a timestamp, written evt.around[T]=D with T in nanoseconds (an evt.rawtime) and D in milliseconds.";
        EvtAbspath "evt.abspath" CharBuf [] "The absolute path of the event's path argument, resolved against the directory fd of *at syscalls.";
        EvtAbspathSrc "evt.abspath.src" CharBuf [] "For events with two paths (rename, link, …), the absolute source path.";
        EvtAbspathDst "evt.abspath.dst" CharBuf [] "For events with two paths (rename, link, …), the absolute destination path.";
        EvtIsOpenRead "evt.is_open_read" Bool [] "'true' for open/openat/openat2/open_by_handle_at events that open the file for reading.";
        EvtIsOpenWrite "evt.is_open_write" Bool [] "'true' for open/openat/openat2/open_by_handle_at events that open the file for writing.";
        EvtIsOpenExec "evt.is_open_exec" Bool [] "'true' for open/openat/openat2/open_by_handle_at/creat events that create a file with execute permission.";
        EvtIsOpenCreate "evt.is_open_create" Bool [] "'true' for open/openat/openat2/open_by_handle_at events that create the file (O_CREAT) — including when it already existed.";
    }

    class Process "process", "Fields about the process and the thread that produced the event." {
        ProcExe "proc.exe" CharBuf [] "argv[0] of the process: usually the executable name, but whatever the caller chose (truncated after 4096 bytes).";
        ProcPexe "proc.pexe" CharBuf [] "proc.exe of the parent process.";
        ProcAexe "proc.aexe" CharBuf [ARG_ALLOWED ARG_INDEX NO_RHS NO_TRANSFORMER] "proc.exe of an ancestor: proc.aexe[1] is the parent, [2] the grandparent, [0] the process itself. Without an index (filters only) it matches any ancestor.";
        ProcExepath "proc.exepath" CharBuf [] "The full path of the process's executable file, with symlinks resolved.";
        ProcPexepath "proc.pexepath" CharBuf [] "proc.exepath of the parent process.";
        ProcAexepath "proc.aexepath" CharBuf [ARG_ALLOWED ARG_INDEX NO_RHS NO_TRANSFORMER] "proc.exepath of an ancestor: proc.aexepath[1] is the parent, [2] the grandparent, [0] the process itself. Without an index (filters only) it matches any ancestor.";
        ProcName "proc.name" CharBuf [] "The name of the process (the kernel's comm, at most 16 characters).";
        ProcPname "proc.pname" CharBuf [] "proc.name of the parent process.";
        ProcAname "proc.aname" CharBuf [ARG_ALLOWED ARG_INDEX NO_RHS NO_TRANSFORMER] "proc.name of an ancestor: proc.aname[1] is the parent, [2] the grandparent, [0] the process itself. Without an index (filters only) it matches any ancestor.";
        ProcArgs "proc.args" CharBuf [ARG_ALLOWED] "The command-line arguments of the process, without argv[0], joined by spaces (truncated after 4096 bytes).";
        ProcCmdline "proc.cmdline" CharBuf [] "proc.name followed by proc.args: the command line as it was typed.";
        ProcPcmdline "proc.pcmdline" CharBuf [] "proc.cmdline of the parent process.";
        ProcAcmdline "proc.acmdline" CharBuf [ARG_ALLOWED ARG_INDEX NO_RHS NO_TRANSFORMER] "proc.cmdline of an ancestor: proc.acmdline[1] is the parent, [2] the grandparent, [0] the process itself. Without an index (filters only) it matches any ancestor.";
        ProcCmdnargs "proc.cmdnargs" UInt64 [] "How many command-line arguments proc.args holds.";
        ProcCmdlenargs "proc.cmdlenargs" UInt64 [] "The total length of the command-line arguments in proc.args, not counting the separating spaces.";
        ProcExeline "proc.exeline" CharBuf [] "proc.exe followed by proc.args.";
        ProcEnv "proc.env" CharBuf [ARG_ALLOWED ARG_KEY] "The environment of the process as 'NAME=value NAME2=value2'; proc.env[NAME] gives the value of one variable.";
        ProcAenv "proc.aenv" CharBuf [ARG_ALLOWED NO_RHS NO_TRANSFORMER] "Experimental: proc.env of ancestors. proc.aenv[N] is the environment of the Nth ancestor, proc.aenv[NAME] the first value of NAME found up the lineage; without argument it matches any ancestor.";
        ProcCwd "proc.cwd" CharBuf [] "The current working directory of the process.";
        ProcLoginshellid "proc.loginshellid" Int64 [] "The pid of the eldest shell among the process's ancestors, if any; tells user sessions apart.";
        ProcTty "proc.tty" UInt32 [] "The controlling terminal of the process (device number); 0 when it has none.";
        ProcPid "proc.pid" Int64 [] "The id of the process that produced the event.";
        ProcPpid "proc.ppid" Int64 [] "The id of the parent of the process.";
        ProcApid "proc.apid" Int64 [ARG_ALLOWED ARG_INDEX NO_RHS NO_TRANSFORMER] "The pid of an ancestor: proc.apid[1] is the parent, [2] the grandparent, [0] the process itself. Without an index (filters only) it matches any ancestor.";
        ProcVpid "proc.vpid" Int64 [] "The id of the process as seen inside its own pid namespace.";
        ProcPvpid "proc.pvpid" Int64 [] "The id of the parent process as seen inside its pid namespace.";
        ProcSid "proc.sid" Int64 [] "The session id of the process.";
        ProcSname "proc.sname" CharBuf [] "The name of the session leader: the process whose pid is proc.sid, or the eldest ancestor in the same session.";
        ProcSidExe "proc.sid.exe" CharBuf [] "proc.exe of the session leader.";
        ProcSidExepath "proc.sid.exepath" CharBuf [] "proc.exepath of the session leader.";
        ProcVpgid "proc.vpgid" Int64 [] "The process group id of the process, as seen inside its pid namespace.";
        ProcVpgidName "proc.vpgid.name" CharBuf [] "The name of the process group leader: the process whose vpid is proc.vpgid, or the eldest ancestor in the same group.";
        ProcVpgidExe "proc.vpgid.exe" CharBuf [] "proc.exe of the process group leader.";
        ProcVpgidExepath "proc.vpgid.exepath" CharBuf [] "proc.exepath of the process group leader.";
        ProcDuration "proc.duration" RelTime [] "Nanoseconds since the process started.";
        ProcPpidDuration "proc.ppid.duration" RelTime [] "Nanoseconds since the parent process started.";
        ProcPidTs "proc.pid.ts" RelTime [] "When the process started, in nanoseconds since the epoch.";
        ProcPpidTs "proc.ppid.ts" RelTime [] "When the parent process started, in nanoseconds since the epoch.";
        ProcIsExeWritable "proc.is_exe_writable" Bool [] "'true' if the user who started the process can write its executable file.";
        ProcIsExeUpperLayer "proc.is_exe_upper_layer" Bool [] "'true' if the executable lives in the upper (writable) layer of an overlay filesystem, i.e. was added or changed in the container.";
        ProcIsExeFromMemfd "proc.is_exe_from_memfd" Bool [] "'true' if the executable is an anonymous memfd_create() file run through its descriptor: code that never touched the disk.";
        ProcIsSidLeader "proc.is_sid_leader" Bool [] "'true' if the process leads its session (proc.sid equals proc.vpid).";
        ProcIsVpgidLeader "proc.is_vpgid_leader" Bool [] "'true' if the process leads its process group (proc.vpgid equals proc.vpid), e.g. a command typed in a terminal rather than spawned by a script.";
        ProcExeIno "proc.exe_ino" Int64 [] "The inode number of the executable file.";
        ProcExeInoCtime "proc.exe_ino.ctime" AbsTime [] "The last status change time (ctime) of the executable file, in nanoseconds since the epoch.";
        ProcExeInoMtime "proc.exe_ino.mtime" AbsTime [] "The last modification time (mtime) of the executable file, in nanoseconds since the epoch.";
        ProcExeInoCtimeDurationProcStart "proc.exe_ino.ctime_duration_proc_start" AbsTime [] "Nanoseconds between the last status change of the executable file and the start of the process running it.";
        ProcExeInoCtimeDurationPidnsStart "proc.exe_ino.ctime_duration_pidns_start" AbsTime [] "Nanoseconds between the start of the pid namespace and the last status change of the executable file, when the namespace is older.";
        ProcPidnsInitStartTs "proc.pidns_init_start_ts" UInt64 [] "When the process's pid namespace started, in nanoseconds since the epoch.";
        ThreadCapPermitted "thread.cap_permitted" CharBuf [] "The permitted capability set of the thread, e.g. CAP_CHOWN CAP_KILL.";
        ThreadCapInheritable "thread.cap_inheritable" CharBuf [] "The inheritable capability set of the thread.";
        ThreadCapEffective "thread.cap_effective" CharBuf [] "The effective capability set of the thread.";
        ProcFdopencount "proc.fdopencount" UInt64 [] "How many file descriptors the process has open.";
        ProcFdlimit "proc.fdlimit" Int64 [] "How many file descriptors the process may open at most.";
        ProcFdusage "proc.fdusage" Double [] "Open file descriptors as a fraction of the limit.";
        ProcVmsize "proc.vmsize" UInt64 [] "The virtual memory size of the process, in KiB.";
        ProcVmrss "proc.vmrss" UInt64 [] "The resident (non-swapped) memory of the process, in KiB.";
        ProcVmswap "proc.vmswap" UInt64 [] "The swapped-out memory of the process, in KiB.";
        ThreadPfmajor "thread.pfmajor" UInt64 [] "Major page faults of the thread since it started.";
        ThreadPfminor "thread.pfminor" UInt64 [] "Minor page faults of the thread since it started.";
        ThreadTid "thread.tid" Int64 [] "The id of the thread that produced the event.";
        ThreadIsmain "thread.ismain" Bool [] "'true' if the thread is the main thread of its process.";
        ThreadVtid "thread.vtid" Int64 [] "The id of the thread as seen inside its pid namespace.";
        ThreadExectime "thread.exectime" RelTime [] "CPU time the thread last spent running before it was switched out (from context-switch events).";
        ThreadTotexectime "thread.totexectime" RelTime [] "Total CPU time the thread has spent running (from context-switch events).";
        ThreadCgroups "thread.cgroups" CharBuf [] "All the cgroups of the thread, as 'subsystem=path' pairs joined by spaces.";
        ThreadCgroup "thread.cgroup" CharBuf [ARG_REQUIRED ARG_KEY SUFFIX] "The cgroup of the thread for one subsystem: thread.cgroup.cpuacct (or thread.cgroup[cpuacct]).";
        ProcNthreads "proc.nthreads" UInt64 [] "How many threads the process has, the main thread included.";
        ProcNchilds "proc.nchilds" UInt64 [] "How many threads the process has, the main thread excluded.";
        ThreadCpu "thread.cpu" Double [] "CPU use of the thread, user and system together.";
        ThreadCpuUser "thread.cpu.user" Double [] "CPU use of the thread in user space.";
        ThreadCpuSystem "thread.cpu.system" Double [] "CPU use of the thread in the kernel.";
        ThreadVmsize "thread.vmsize" UInt64 [] "For the main thread, the virtual memory size of the process in KiB; 0 for other threads.";
        ThreadVmrss "thread.vmrss" UInt64 [] "For the main thread, the resident memory of the process in KiB; 0 for other threads.";
        ProcStdinType "proc.stdin.type" CharBuf [] "The fd.type of the process's standard input (fd 0).";
        ProcStdoutType "proc.stdout.type" CharBuf [] "The fd.type of the process's standard output (fd 1).";
        ProcStderrType "proc.stderr.type" CharBuf [] "The fd.type of the process's standard error (fd 2).";
        ProcStdinName "proc.stdin.name" CharBuf [] "The fd.name of the process's standard input (fd 0).";
        ProcStdoutName "proc.stdout.name" CharBuf [] "The fd.name of the process's standard output (fd 1).";
        ProcStderrName "proc.stderr.name" CharBuf [] "The fd.name of the process's standard error (fd 2).";
    }

    class User "user", "Fields about the user the process runs as." {
        UserUid "user.uid" UInt32 [] "The user id.";
        UserName "user.name" CharBuf [] "The user name.";
        UserHomedir "user.homedir" CharBuf [] "The home directory of the user.";
        UserShell "user.shell" CharBuf [] "The login shell of the user.";
        UserLoginuid "user.loginuid" Int64 [] "The audit user id: the user who logged in, kept across su and sudo; -1 when not set.";
        UserLoginname "user.loginname" CharBuf [] "The name of the user with id user.loginuid.";
    }

    class Group "group", "Fields about the group the process runs as." {
        GroupGid "group.gid" UInt32 [] "The group id.";
        GroupName "group.name" CharBuf [] "The group name.";
    }

    class Fd "fd", "Fields about the file descriptor the event acts on: its type, its name (a file \
        path, a socket's addresses, …) and, for sockets, the endpoints." {
        FdNum "fd.num" Int64 [] "The number of the file descriptor.";
        FdType "fd.type" CharBuf [] "The kind of descriptor: 'file', 'directory', 'ipv4', 'ipv6', 'unix', 'pipe', 'event', 'signalfd', 'eventpoll', 'inotify', 'timerfd', 'netlink', 'bpf', 'userfaultfd', 'io_uring', 'memfd' or 'pidfd'.";
        FdTypechar "fd.typechar" CharBuf [] "fd.type as one character: 'f' file, '4' IPv4, '6' IPv6, 'u' unix, 'p' pipe, 'e' event, 's' signalfd, 'l' eventpoll, 'i' inotify, 'b' bpf, 'o' other kinds.";
        FdName "fd.name" CharBuf [] "The full name of the descriptor: the path of a file, 'client:port->server:port' for a network socket, the path of a unix socket.";
        FdDirectory "fd.directory" CharBuf [] "For files, the directory that holds the file.";
        FdFilename "fd.filename" CharBuf [] "For files, the file name without its directory.";
        FdIp "fd.ip" IpAddr [FILTER_ONLY NO_RHS NO_TRANSFORMER] "Filter-only: matches if either the client or the server address equals the value.";
        FdCip "fd.cip" IpAddr [] "The client address of a network socket.";
        FdSip "fd.sip" IpAddr [] "The server address of a network socket.";
        FdLip "fd.lip" IpAddr [] "The local address of a network socket.";
        FdRip "fd.rip" IpAddr [] "The remote address of a network socket.";
        FdPort "fd.port" Port [FILTER_ONLY NO_RHS NO_TRANSFORMER] "Filter-only: matches if either the client or the server port equals the value.";
        FdCport "fd.cport" Port [] "The client port of a TCP/UDP socket.";
        FdSport "fd.sport" Port [] "The server port of a TCP/UDP socket.";
        FdLport "fd.lport" Port [] "The local port of a TCP/UDP socket.";
        FdRport "fd.rport" Port [] "The remote port of a TCP/UDP socket.";
        FdL4proto "fd.l4proto" CharBuf [] "The transport protocol of a socket: 'tcp', 'udp', 'icmp' or 'raw'.";
        FdSockfamily "fd.sockfamily" CharBuf [] "The socket family: 'ip' for IPv4/IPv6 sockets, 'unix' for unix sockets.";
        FdIsServer "fd.is_server" Bool [] "'true' if the process owning the socket is its server end.";
        FdUid "fd.uid" CharBuf [] "A unique id for the descriptor: the thread id and the fd number together.";
        FdContainername "fd.containername" CharBuf [] "container.id and fd.name together, to tell apart equal names in different containers.";
        FdContainerdirectory "fd.containerdirectory" CharBuf [] "container.id and fd.directory together.";
        FdProto "fd.proto" Port [FILTER_ONLY NO_RHS NO_TRANSFORMER] "Filter-only: matches if either the client or the server protocol equals the value.";
        FdCproto "fd.cproto" CharBuf [] "The protocol name of the client port, e.g. 'http' (from /etc/services).";
        FdSproto "fd.sproto" CharBuf [] "The protocol name of the server port, e.g. 'http' (from /etc/services).";
        FdLproto "fd.lproto" CharBuf [] "The protocol name of the local port.";
        FdRproto "fd.rproto" CharBuf [] "The protocol name of the remote port.";
        FdNet "fd.net" IpNet [FILTER_ONLY NO_RHS NO_TRANSFORMER] "Filter-only: matches if either the client or the server address is in the network, e.g. fd.net != \"127.0.0.0/8\".";
        FdCnet "fd.cnet" IpNet [FILTER_ONLY NO_RHS NO_TRANSFORMER] "Filter-only: matches if the client address is in the network.";
        FdSnet "fd.snet" IpNet [FILTER_ONLY NO_RHS NO_TRANSFORMER] "Filter-only: matches if the server address is in the network.";
        FdLnet "fd.lnet" IpNet [FILTER_ONLY NO_RHS NO_TRANSFORMER] "Filter-only: matches if the local address is in the network.";
        FdRnet "fd.rnet" IpNet [FILTER_ONLY NO_RHS NO_TRANSFORMER] "Filter-only: matches if the remote address is in the network.";
        FdConnected "fd.connected" Bool [] "For TCP/UDP sockets, 'true' once the socket is connected.";
        FdNameChanged "fd.name_changed" Bool [] "'true' when the event changed fd.name, e.g. sendto on an unconnected UDP socket giving it a peer.";
        FdCipName "fd.cip.name" CharBuf [NO_RHS NO_TRANSFORMER] "The domain name the client address was resolved from, when known.";
        FdSipName "fd.sip.name" CharBuf [NO_RHS NO_TRANSFORMER] "The domain name the server address was resolved from, when known.";
        FdLipName "fd.lip.name" CharBuf [NO_RHS NO_TRANSFORMER] "The domain name the local address was resolved from, when known.";
        FdRipName "fd.rip.name" CharBuf [NO_RHS NO_TRANSFORMER] "The domain name the remote address was resolved from, when known.";
        FdDev "fd.dev" Int32 [] "The device number of the file's filesystem (major and minor together).";
        FdDevMajor "fd.dev.major" Int32 [] "The major number of the file's device.";
        FdDevMinor "fd.dev.minor" Int32 [] "The minor number of the file's device.";
        FdIno "fd.ino" Int64 [] "The inode number of the file.";
        FdNameraw "fd.nameraw" CharBuf [] "fd.name as the process wrote it, not made absolute or normalised.";
        FdIsUpperLayer "fd.is_upper_layer" Bool [] "'true' if the file is in the upper (writable) layer of an overlay filesystem.";
        FdIsLowerLayer "fd.is_lower_layer" Bool [] "'true' if the file is in a lower (image) layer of an overlay filesystem.";
        FdTypes "fd.types" CharBuf [ARG_ALLOWED LIST NO_RHS NO_TRANSFORMER] "The list of fd.type values of the descriptors the process has open; fd.types[N] restricts it to descriptor N.";
    }

    class Fdlist "fdlist", "Fields of poll-like events that act on several descriptors at once." {
        FdlistNums "fdlist.nums" CharBuf [] "The numbers of the descriptors, separated by commas.";
        FdlistNames "fdlist.names" CharBuf [] "The fd.name of each descriptor, separated by commas.";
        FdlistCips "fdlist.cips" CharBuf [] "The client address of each socket, separated by commas.";
        FdlistSips "fdlist.sips" CharBuf [] "The server address of each socket, separated by commas.";
        FdlistCports "fdlist.cports" CharBuf [] "The client port of each socket, separated by commas.";
        FdlistSports "fdlist.sports" CharBuf [] "The server port of each socket, separated by commas.";
    }

    class FsPath "fs.path", "Fields about the filesystem paths that syscalls name directly (unlink, rename, \
        mkdir, symlink, …), unlike fd.* which describe an opened descriptor." {
        FsPathName "fs.path.name" CharBuf [] "The path the syscall acts on, made absolute.";
        FsPathNameraw "fs.path.nameraw" CharBuf [] "The path the syscall acts on, as the process wrote it.";
        FsPathSource "fs.path.source" CharBuf [] "For syscalls with a source and a target path (rename, link, …), the source path, made absolute.";
        FsPathSourceraw "fs.path.sourceraw" CharBuf [] "The source path as the process wrote it.";
        FsPathTarget "fs.path.target" CharBuf [] "For syscalls with a source and a target path (rename, link, …), the target path, made absolute.";
        FsPathTargetraw "fs.path.targetraw" CharBuf [] "The target path as the process wrote it.";
    }

    class Syslog "syslog", "Fields of messages written to syslog (/dev/log)." {
        SyslogFacilityStr "syslog.facility.str" CharBuf [] "The facility of the message, as a name (e.g. local0).";
        SyslogFacility "syslog.facility" UInt32 [] "The facility of the message, as a number.";
        SyslogSeverityStr "syslog.severity.str" CharBuf [] "The severity of the message, as a name (e.g. warn).";
        SyslogSeverity "syslog.severity" UInt32 [] "The severity of the message, as a number.";
        SyslogMessage "syslog.message" CharBuf [] "The text of the message.";
    }

    class Container "container", "Fields about the container and the Kubernetes pod the process runs in \
        (Falco's container plugin fields). Outside containers container.id is 'host'." {
        ContainerId "container.id" CharBuf [SUGGESTED] "The container id, shortened to 12 characters; 'host' for processes outside containers.";
        ContainerFullId "container.full_id" CharBuf [] "The full container id (64 characters for docker); 'host' outside containers.";
        ContainerName "container.name" CharBuf [SUGGESTED] "The container name; 'host' outside containers.";
        ContainerImage "container.image" CharBuf [] "The container image name, e.g. falcosecurity/falco:latest.";
        ContainerImageId "container.image.id" CharBuf [] "The container image id, e.g. 6f7e2741b66b.";
        ContainerType "container.type" CharBuf [] "The container engine: docker, cri-o, containerd, podman, lxc, libvirt-lxc, bpm, …";
        ContainerPrivileged "container.privileged" Bool [] "'true' for containers running privileged.";
        ContainerMounts "container.mounts" CharBuf [] "Every mount of the container, each as source:dest:mode:rdrw:propagation, separated by spaces.";
        ContainerMount "container.mount" CharBuf [ARG_REQUIRED ARG_KEY] "One mount, chosen by index (container.mount[0]) or by source path, which may be a glob (container.mount[/usr/local/*]); 'none' if no mount matches.";
        ContainerMountSource "container.mount.source" CharBuf [ARG_REQUIRED ARG_KEY] "The source of a mount, chosen by index or by destination path (a glob allowed).";
        ContainerMountDest "container.mount.dest" CharBuf [ARG_REQUIRED ARG_KEY] "The destination of a mount, chosen by index or by source path (a glob allowed), e.g. container.mount.dest[/proc*].";
        ContainerMountMode "container.mount.mode" CharBuf [ARG_REQUIRED ARG_KEY] "The mode of a mount, chosen by index or by source path (a glob allowed).";
        ContainerMountRdwr "container.mount.rdwr" CharBuf [ARG_REQUIRED ARG_KEY] "Whether a mount is writable ('true'/'false'), chosen by index or by source path.";
        ContainerMountPropagation "container.mount.propagation" CharBuf [ARG_REQUIRED ARG_KEY] "The propagation of a mount, chosen by index or by source path.";
        ContainerImageRepository "container.image.repository" CharBuf [SUGGESTED] "The repository part of the container image, e.g. falcosecurity/falco.";
        ContainerImageTag "container.image.tag" CharBuf [SUGGESTED] "The tag of the container image, e.g. stable.";
        ContainerImageDigest "container.image.digest" CharBuf [] "The digest of the container image.";
        ContainerHealthcheck "container.healthcheck" CharBuf [DEPRECATED] "Deprecated: the container's health check command, or 'NONE'.";
        ContainerLivenessProbe "container.liveness_probe" CharBuf [DEPRECATED] "Deprecated: the container's liveness probe command, or 'NONE'.";
        ContainerReadinessProbe "container.readiness_probe" CharBuf [DEPRECATED] "Deprecated: the container's readiness probe command, or 'NONE'.";
        ContainerStartTs "container.start_ts" AbsTime [] "When the container started, in nanoseconds since the epoch.";
        ContainerDuration "container.duration" RelTime [] "Nanoseconds since the container started.";
        ContainerIp "container.ip" CharBuf [] "The container's IP address.";
        ContainerCniJson "container.cni.json" CharBuf [] "The container's CNI result as JSON.";
        ContainerHostPid "container.host_pid" Bool [] "'true' if the container shares the host's pid namespace.";
        ContainerHostNetwork "container.host_network" Bool [] "'true' if the container shares the host's network namespace.";
        ContainerHostIpc "container.host_ipc" Bool [] "'true' if the container shares the host's IPC namespace.";
        ContainerLabel "container.label" CharBuf [ARG_REQUIRED ARG_KEY SUFFIX] "The value of one container label: container.label[maintainer] or container.label.maintainer.";
        ContainerLabels "container.labels" CharBuf [] "Every container label, as key:value pairs separated by commas.";
        ProcIsContainerHealthcheck "proc.is_container_healthcheck" Bool [DEPRECATED] "Deprecated: 'true' if the process runs as part of a container's health check.";
        ProcIsContainerLivenessProbe "proc.is_container_liveness_probe" Bool [DEPRECATED] "Deprecated: 'true' if the process runs as part of a container's liveness probe.";
        ProcIsContainerReadinessProbe "proc.is_container_readiness_probe" Bool [DEPRECATED] "Deprecated: 'true' if the process runs as part of a container's readiness probe.";
        K8sPodName "k8s.pod.name" CharBuf [SUGGESTED] "The name of the Kubernetes pod the container belongs to.";
        K8sPodId "k8s.pod.id" CharBuf [] "Legacy name of k8s.pod.uid.";
        K8sPodUid "k8s.pod.uid" CharBuf [] "The UID of the Kubernetes pod.";
        K8sPodSandboxId "k8s.pod.sandbox_id" CharBuf [] "The pod sandbox id (the pause container's id), shortened to 12 characters.";
        K8sPodFullSandboxId "k8s.pod.full_sandbox_id" CharBuf [] "The full pod sandbox id.";
        K8sPodLabel "k8s.pod.label" CharBuf [ARG_REQUIRED ARG_KEY SUFFIX] "The value of one pod label: k8s.pod.label[app.kubernetes.io/name] or k8s.pod.label.app.kubernetes.io/name.";
        K8sPodLabels "k8s.pod.labels" CharBuf [] "Every pod label, as key:value pairs separated by commas.";
        K8sPodIp "k8s.pod.ip" CharBuf [] "The pod's IP address.";
        K8sPodCniJson "k8s.pod.cni.json" CharBuf [] "The pod's CNI result as JSON.";
        K8sNsName "k8s.ns.name" CharBuf [SUGGESTED] "The Kubernetes namespace of the pod.";
        K8sRcName "k8s.rc.name" CharBuf [DEPRECATED] "Deprecated (needs the k8smeta plugin): always empty here.";
        K8sRcId "k8s.rc.id" CharBuf [DEPRECATED] "Deprecated (needs the k8smeta plugin): always empty here.";
        K8sRcLabel "k8s.rc.label" CharBuf [ARG_REQUIRED ARG_KEY SUFFIX DEPRECATED] "Deprecated (needs the k8smeta plugin): always empty here.";
        K8sRcLabels "k8s.rc.labels" CharBuf [DEPRECATED] "Deprecated (needs the k8smeta plugin): always empty here.";
        K8sSvcName "k8s.svc.name" CharBuf [DEPRECATED] "Deprecated (needs the k8smeta plugin): always empty here.";
        K8sSvcId "k8s.svc.id" CharBuf [DEPRECATED] "Deprecated (needs the k8smeta plugin): always empty here.";
        K8sSvcLabel "k8s.svc.label" CharBuf [ARG_REQUIRED ARG_KEY SUFFIX DEPRECATED] "Deprecated (needs the k8smeta plugin): always empty here.";
        K8sSvcLabels "k8s.svc.labels" CharBuf [DEPRECATED] "Deprecated (needs the k8smeta plugin): always empty here.";
        K8sRsName "k8s.rs.name" CharBuf [DEPRECATED] "Deprecated (needs the k8smeta plugin): always empty here.";
        K8sRsId "k8s.rs.id" CharBuf [DEPRECATED] "Deprecated (needs the k8smeta plugin): always empty here.";
        K8sRsLabel "k8s.rs.label" CharBuf [ARG_REQUIRED ARG_KEY SUFFIX DEPRECATED] "Deprecated (needs the k8smeta plugin): always empty here.";
        K8sRsLabels "k8s.rs.labels" CharBuf [DEPRECATED] "Deprecated (needs the k8smeta plugin): always empty here.";
        K8sDeploymentName "k8s.deployment.name" CharBuf [DEPRECATED] "Deprecated (needs the k8smeta plugin): always empty here.";
        K8sDeploymentId "k8s.deployment.id" CharBuf [DEPRECATED] "Deprecated (needs the k8smeta plugin): always empty here.";
        K8sDeploymentLabel "k8s.deployment.label" CharBuf [ARG_REQUIRED ARG_KEY SUFFIX DEPRECATED] "Deprecated (needs the k8smeta plugin): always empty here.";
        K8sDeploymentLabels "k8s.deployment.labels" CharBuf [DEPRECATED] "Deprecated (needs the k8smeta plugin): always empty here.";
        K8sNsId "k8s.ns.id" CharBuf [DEPRECATED] "Deprecated (needs the k8smeta plugin): always empty here.";
        K8sNsLabel "k8s.ns.label" CharBuf [ARG_REQUIRED ARG_KEY SUFFIX DEPRECATED] "Deprecated (needs the k8smeta plugin): always empty here.";
        K8sNsLabels "k8s.ns.labels" CharBuf [DEPRECATED] "Deprecated (needs the k8smeta plugin): always empty here.";
    }

    class Ka "ka" source "k8s_audit", "Fields of Kubernetes audit events (the k8saudit plugin's \
        fields, provided natively). List fields yield one value per element; an empty list is \
        no value." {
        KaAuditid "ka.auditid" CharBuf [] "Audit event unique ID.";
        KaStage "ka.stage" CharBuf [] "Request stage (RequestReceived / ResponseStarted / ResponseComplete / Panic).";
        KaAuthDecision "ka.auth.decision" CharBuf [] "Authorizer decision (e.g. allow / forbid).";
        KaAuthReason "ka.auth.reason" CharBuf [] "Authorizer reason text.";
        KaAuthOpenshiftDecision "ka.auth.openshift.decision" CharBuf [] "OpenShift-only authentication decision.";
        KaValidationsAdmissionPolicyFailure "ka.validations.admission.policy.failure" CharBuf [] "ValidatingAdmissionPolicy failure text (a JSON string as stored in the annotation).";
        KaSecurityPodViolations "ka.security.pod.violations" CharBuf [] "Pod Security admission audit-violation text.";
        KaAuthOpenshiftUsername "ka.auth.openshift.username" CharBuf [] "OpenShift-only authenticated user name.";
        KaUserName "ka.user.name" CharBuf [] "Requesting user.";
        KaUserGroups "ka.user.groups" CharBuf [LIST] "Requesting user's groups; one list entry per array element.";
        KaImpuserName "ka.impuser.name" CharBuf [] "Impersonated user, if any.";
        KaVerb "ka.verb" CharBuf [] "API verb (get, list, create, update, patch, delete, ...).";
        KaUri "ka.uri" CharBuf [] "Raw request URI, including the query string.";
        KaUriParam "ka.uri.param" CharBuf [ARG_REQUIRED ARG_KEY] "Value of the query parameter named by the key argument; first value if repeated; absent if the parameter is missing.";
        KaTargetName "ka.target.name" CharBuf [] "Target object name.";
        KaTargetNamespace "ka.target.namespace" CharBuf [] "Target object namespace.";
        KaTargetResource "ka.target.resource" CharBuf [] "Target resource type (pods, secrets, ...).";
        KaTargetSubresource "ka.target.subresource" CharBuf [] "Target subresource (exec, attach, portforward, status, ...).";
        KaTargetPodName "ka.target.pod.name" CharBuf [] "Pod name from the response object; absent for any other resource or when a subresource is set.";
        KaReqBindingSubjects "ka.req.binding.subjects" CharBuf [LIST] "Each subject object of a (Cluster)RoleBinding, serialised as compact JSON text.";
        KaReqBindingSubjectsUserNames "ka.req.binding.subjects.user_names" CharBuf [LIST] "Names of User subjects.";
        KaReqBindingSubjectsServiceaccountNames "ka.req.binding.subjects.serviceaccount_names" CharBuf [LIST] "Names of ServiceAccount subjects.";
        KaReqBindingSubjectsServiceaccountNsNames "ka.req.binding.subjects.serviceaccount_ns_names" CharBuf [LIST] "\"namespace:name\" for ServiceAccount subjects.";
        KaReqBindingSubjectsGroupNames "ka.req.binding.subjects.group_names" CharBuf [LIST] "Names of Group subjects.";
        KaReqBindingRole "ka.req.binding.role" CharBuf [] "Role referenced by a (Cluster)RoleBinding.";
        KaReqBindingSubjectHasName "ka.req.binding.subject.has_name" CharBuf [ARG_REQUIRED ARG_KEY] "Deprecated; documented as returning \"N/A\" but the implementation always returns the string true (for any event that has auditID).";
        KaReqConfigmapName "ka.req.configmap.name" CharBuf [] "Same path as ka.target.name (no check that the object is a configmap).";
        KaReqConfigmapObj "ka.req.configmap.obj" CharBuf [] "The ConfigMap data map serialised as compact JSON text.";
        KaReqPodContainersArgs "ka.req.pod.containers.args" CharBuf [LIST ARG_ALLOWED ARG_INDEX] "One entry per container that has args: its elements joined by single spaces.";
        KaReqPodContainersCommand "ka.req.pod.containers.command" CharBuf [LIST ARG_ALLOWED ARG_INDEX] "One entry per container that has command: its elements joined by single spaces.";
        KaReqPodContainersName "ka.req.pod.containers.name" CharBuf [LIST ARG_ALLOWED ARG_INDEX] "Container names.";
        KaReqPodContainersImage "ka.req.pod.containers.image" CharBuf [LIST ARG_ALLOWED ARG_INDEX] "Container images, verbatim.";
        KaReqContainerImage "ka.req.container.image" CharBuf [] "Deprecated: image of the first regular container only.";
        KaReqPodContainersImageRepository "ka.req.pod.containers.image.repository" CharBuf [LIST ARG_ALLOWED ARG_INDEX] "Image with tag and digest stripped (see notes).";
        KaReqContainerImageRepository "ka.req.container.image.repository" CharBuf [] "Deprecated: repository of the first regular container only.";
        KaReqPodHostIpc "ka.req.pod.host_ipc" CharBuf [] "true/false text when present.";
        KaReqPodHostNetwork "ka.req.pod.host_network" CharBuf [] "true/false text when present.";
        KaReqContainerHostNetwork "ka.req.container.host_network" CharBuf [] "Deprecated alias of ka.req.pod.host_network.";
        KaReqPodHostPid "ka.req.pod.host_pid" CharBuf [] "true/false text when present.";
        KaReqPodContainersHostPort "ka.req.pod.containers.host_port" CharBuf [LIST ARG_ALLOWED ARG_INDEX] "Per port: hostPort if set, otherwise containerPort; flattened over containers.";
        KaReqPodContainersPrivileged "ka.req.pod.containers.privileged" CharBuf [LIST ARG_ALLOWED ARG_INDEX] "Values for containers that set it (true/false); containers without it are skipped.";
        KaReqContainerPrivileged "ka.req.container.privileged" CharBuf [] "Deprecated: true if any regular container has privileged=true, else false (present whenever spec.containers exists).";
        KaReqPodContainersAllowPrivilegeEscalation "ka.req.pod.containers.allow_privilege_escalation" CharBuf [LIST ARG_ALLOWED ARG_INDEX] "Values for containers that set it; others skipped.";
        KaReqPodContainersReadOnlyFs "ka.req.pod.containers.read_only_fs" CharBuf [LIST ARG_ALLOWED ARG_INDEX] "Values for containers that set it; others skipped.";
        KaReqPodRunAsUser "ka.req.pod.run_as_user" CharBuf [] "Pod-level runAsUser.";
        KaReqPodContainersRunAsUser "ka.req.pod.containers.run_as_user" CharBuf [LIST ARG_ALLOWED ARG_INDEX] "Values for containers that set it; others skipped.";
        KaReqPodContainersEffRunAsUser "ka.req.pod.containers.eff_run_as_user" CharBuf [LIST ARG_ALLOWED ARG_INDEX] "Effective uid per container; default 0.";
        KaReqPodRunAsGroup "ka.req.pod.run_as_group" CharBuf [] "Pod-level runAsGroup.";
        KaReqPodContainersRunAsGroup "ka.req.pod.containers.run_as_group" CharBuf [LIST ARG_ALLOWED ARG_INDEX] "Values for containers that set it; others skipped.";
        KaReqPodContainersEffRunAsGroup "ka.req.pod.containers.eff_run_as_group" CharBuf [LIST ARG_ALLOWED ARG_INDEX] "Effective gid per container; default 0.";
        KaReqPodContainersProcMount "ka.req.pod.containers.proc_mount" CharBuf [LIST ARG_ALLOWED ARG_INDEX] "Values for containers that set it; others skipped.";
        KaReqRoleRules "ka.req.role.rules" CharBuf [LIST] "Each PolicyRule object of a (Cluster)Role as compact JSON text.";
        KaReqRoleRulesApiGroups "ka.req.role.rules.apiGroups" CharBuf [LIST ARG_ALLOWED ARG_INDEX] "All apiGroups across all rules, flattened.";
        KaReqRoleRulesNonResourceURLs "ka.req.role.rules.nonResourceURLs" CharBuf [LIST ARG_ALLOWED ARG_INDEX] "All nonResourceURLs across all rules, flattened.";
        KaReqRoleRulesVerbs "ka.req.role.rules.verbs" CharBuf [LIST ARG_ALLOWED ARG_INDEX] "All verbs across all rules, flattened.";
        KaReqRoleRulesResources "ka.req.role.rules.resources" CharBuf [LIST ARG_ALLOWED ARG_INDEX] "All resources across all rules, flattened.";
        KaReqPodFsGroup "ka.req.pod.fs_group" CharBuf [] "Pod fsGroup.";
        KaReqPodSupplementalGroups "ka.req.pod.supplemental_groups" CharBuf [LIST] "Pod supplementalGroups (numbers rendered as text).";
        KaReqPodContainersAddCapabilities "ka.req.pod.containers.add_capabilities" CharBuf [LIST ARG_ALLOWED ARG_INDEX] "Each container's whole add array as compact JSON text, e.g. [\"NET_ADMIN\",\"SYS_TIME\"] (not flattened, see notes).";
        KaReqServiceType "ka.req.service.type" CharBuf [] "Service type (ClusterIP, NodePort, LoadBalancer...).";
        KaReqServicePorts "ka.req.service.ports" CharBuf [LIST ARG_ALLOWED ARG_INDEX] "Each ServicePort object as compact JSON text.";
        KaReqPodVolumesHostpath "ka.req.pod.volumes.hostpath" CharBuf [LIST ARG_ALLOWED ARG_INDEX] "hostPath paths of all volumes that have one.";
        KaReqVolumeHostpath "ka.req.volume.hostpath" CharBuf [ARG_REQUIRED ARG_KEY] "Deprecated: true if any hostPath equals the key, or starts with the key minus its trailing * when the key ends with *; else false.";
        KaReqPodVolumesFlexvolumeDriver "ka.req.pod.volumes.flexvolume_driver" CharBuf [LIST ARG_ALLOWED ARG_INDEX] "flexVolume drivers of all volumes that have one.";
        KaReqPodVolumesVolumeType "ka.req.pod.volumes.volume_type" CharBuf [LIST ARG_ALLOWED ARG_INDEX] "Volume source type names (hostPath, configMap, emptyDir, secret, ...).";
        KaRespName "ka.resp.name" CharBuf [] "Name in the response object.";
        KaResponseCode "ka.response.code" CharBuf [] "HTTP response code rendered as text (e.g. 201).";
        KaResponseReason "ka.response.reason" CharBuf [] "Response reason (mostly on failures).";
        KaUseragent "ka.useragent" CharBuf [] "Client user agent.";
        KaSourceips "ka.sourceips" CharBuf [LIST ARG_ALLOWED ARG_INDEX] "Intended: client IPs (sourceIPs). Actual: almost always absent.";
        KaClusterName "ka.cluster.name" CharBuf [] "Cluster name annotation (set by some managed-cluster forwarders).";
        KaReqPodInitContainersName "ka.req.pod.initContainers.name" CharBuf [LIST ARG_ALLOWED ARG_INDEX] "Container names.";
        KaReqPodInitContainersImage "ka.req.pod.initContainers.image" CharBuf [LIST ARG_ALLOWED ARG_INDEX] "Container images, verbatim.";
        KaReqPodInitContainersImageRepository "ka.req.pod.initContainers.image.repository" CharBuf [LIST ARG_ALLOWED ARG_INDEX] "Image with tag and digest stripped (see notes).";
        KaReqPodInitContainersCommand "ka.req.pod.initContainers.command" CharBuf [LIST ARG_ALLOWED ARG_INDEX] "One entry per container that has command: its elements joined by single spaces.";
        KaReqPodInitContainersArgs "ka.req.pod.initContainers.args" CharBuf [LIST ARG_ALLOWED ARG_INDEX] "One entry per container that has args: its elements joined by single spaces.";
        KaReqPodInitContainersPrivileged "ka.req.pod.initContainers.privileged" CharBuf [LIST ARG_ALLOWED ARG_INDEX] "Values for containers that set it (true/false); containers without it are skipped.";
        KaReqPodInitContainersAllowPrivilegeEscalation "ka.req.pod.initContainers.allow_privilege_escalation" CharBuf [LIST ARG_ALLOWED ARG_INDEX] "Values for containers that set it; others skipped.";
        KaReqPodInitContainersReadOnlyFs "ka.req.pod.initContainers.read_only_fs" CharBuf [LIST ARG_ALLOWED ARG_INDEX] "Values for containers that set it; others skipped.";
        KaReqPodInitContainersRunAsUser "ka.req.pod.initContainers.run_as_user" CharBuf [LIST ARG_ALLOWED ARG_INDEX] "Values for containers that set it; others skipped.";
        KaReqPodInitContainersEffRunAsUser "ka.req.pod.initContainers.eff_run_as_user" CharBuf [LIST ARG_ALLOWED ARG_INDEX] "Effective uid per container; default 0.";
        KaReqPodInitContainersRunAsGroup "ka.req.pod.initContainers.run_as_group" CharBuf [LIST ARG_ALLOWED ARG_INDEX] "Values for containers that set it; others skipped.";
        KaReqPodInitContainersEffRunAsGroup "ka.req.pod.initContainers.eff_run_as_group" CharBuf [LIST ARG_ALLOWED ARG_INDEX] "Effective gid per container; default 0.";
        KaReqPodInitContainersProcMount "ka.req.pod.initContainers.proc_mount" CharBuf [LIST ARG_ALLOWED ARG_INDEX] "Values for containers that set it; others skipped.";
        KaReqPodInitContainersAddCapabilities "ka.req.pod.initContainers.add_capabilities" CharBuf [LIST ARG_ALLOWED ARG_INDEX] "Each container's whole add array as compact JSON text, e.g. [\"NET_ADMIN\",\"SYS_TIME\"] (not flattened, see notes).";
        KaReqPodInitContainersHostPort "ka.req.pod.initContainers.host_port" CharBuf [LIST ARG_ALLOWED ARG_INDEX] "Per port: hostPort if set, otherwise containerPort; flattened over containers.";
        KaReqPodEphemeralContainersName "ka.req.pod.ephemeralContainers.name" CharBuf [LIST ARG_ALLOWED ARG_INDEX] "Container names.";
        KaReqPodEphemeralContainersImage "ka.req.pod.ephemeralContainers.image" CharBuf [LIST ARG_ALLOWED ARG_INDEX] "Container images, verbatim.";
        KaReqPodEphemeralContainersImageRepository "ka.req.pod.ephemeralContainers.image.repository" CharBuf [LIST ARG_ALLOWED ARG_INDEX] "Image with tag and digest stripped (see notes).";
        KaReqPodEphemeralContainersCommand "ka.req.pod.ephemeralContainers.command" CharBuf [LIST ARG_ALLOWED ARG_INDEX] "One entry per container that has command: its elements joined by single spaces.";
        KaReqPodEphemeralContainersArgs "ka.req.pod.ephemeralContainers.args" CharBuf [LIST ARG_ALLOWED ARG_INDEX] "One entry per container that has args: its elements joined by single spaces.";
        KaReqPodEphemeralContainersPrivileged "ka.req.pod.ephemeralContainers.privileged" CharBuf [LIST ARG_ALLOWED ARG_INDEX] "Values for containers that set it (true/false); containers without it are skipped.";
        KaReqPodEphemeralContainersAllowPrivilegeEscalation "ka.req.pod.ephemeralContainers.allow_privilege_escalation" CharBuf [LIST ARG_ALLOWED ARG_INDEX] "Values for containers that set it; others skipped.";
        KaReqPodEphemeralContainersReadOnlyFs "ka.req.pod.ephemeralContainers.read_only_fs" CharBuf [LIST ARG_ALLOWED ARG_INDEX] "Values for containers that set it; others skipped.";
        KaReqPodEphemeralContainersRunAsUser "ka.req.pod.ephemeralContainers.run_as_user" CharBuf [LIST ARG_ALLOWED ARG_INDEX] "Values for containers that set it; others skipped.";
        KaReqPodEphemeralContainersEffRunAsUser "ka.req.pod.ephemeralContainers.eff_run_as_user" CharBuf [LIST ARG_ALLOWED ARG_INDEX] "Effective uid per container; default 0.";
        KaReqPodEphemeralContainersRunAsGroup "ka.req.pod.ephemeralContainers.run_as_group" CharBuf [LIST ARG_ALLOWED ARG_INDEX] "Values for containers that set it; others skipped.";
        KaReqPodEphemeralContainersEffRunAsGroup "ka.req.pod.ephemeralContainers.eff_run_as_group" CharBuf [LIST ARG_ALLOWED ARG_INDEX] "Effective gid per container; default 0.";
        KaReqPodEphemeralContainersProcMount "ka.req.pod.ephemeralContainers.proc_mount" CharBuf [LIST ARG_ALLOWED ARG_INDEX] "Values for containers that set it; others skipped.";
        KaReqPodEphemeralContainersAddCapabilities "ka.req.pod.ephemeralContainers.add_capabilities" CharBuf [LIST ARG_ALLOWED ARG_INDEX] "Each container's whole add array as compact JSON text, e.g. [\"NET_ADMIN\",\"SYS_TIME\"] (not flattened, see notes).";
    }

    class Json "json" source "k8s_audit", "Fields that read the JSON of an event directly (the json \
        plugin's fields, provided natively for the k8s_audit source)." {
        JsonValue "json.value" CharBuf [ARG_REQUIRED ARG_KEY] "The value at a JSON pointer, e.g. json.value[/user/username]: a string as is, anything else as compact JSON.";
        JsonObj "json.obj" CharBuf [] "The whole event JSON, indented.";
        JsonRawtime "json.rawtime" CharBuf [] "The event time in nanoseconds since the epoch, as text.";
    }

    class Jevt "jevt" source "k8s_audit", "Aliases of the json fields, under the name Falco's \
        k8s_audit rules use." {
        JevtValue "jevt.value" CharBuf [ARG_REQUIRED ARG_KEY] "Alias of json.value.";
        JevtObj "jevt.obj" CharBuf [] "Alias of json.obj.";
        JevtRawtime "jevt.rawtime" CharBuf [] "Alias of json.rawtime.";
    }
    class Plugin "plugin" source "plugin", "The id every field a loaded plugin declares \
        resolves to; the field itself is in the request's argument. Never listed or looked up." {
        PluginField "plugin.field" CharBuf [] "A field of a loaded plugin.";
    }
}

/// The placeholder class of plugin fields (not a class `--list` shows).
const PLUGIN_CLASS: &str = "plugin";

/// A field as a plugin's `get_fields` declares it, for [`register_plugin_fields`].
#[derive(Clone, Debug)]
pub struct PluginFieldSpec {
    pub name: String,
    pub ty: FieldType,
    pub flags: FieldFlags,
    pub desc: String,
}

/// The fields loaded plugins declared. Key decision: plugins are loaded once, at start-up and
/// before any rule is compiled, so their fields join the catalogue here, as entries leaked to
/// `'static` like the catalogue's own, behind a lock that is only read after start-up (rule
/// compilation; never while events are evaluated, since requests carry the resolved id). The
/// cost is a process-wide table: a second plugin declaring a name already taken is refused.
#[derive(Default)]
struct PluginFields {
    all: Vec<&'static FieldInfo>,
    by_name: FxHashMap<&'static str, &'static FieldInfo>,
    max_len: usize,
}

static PLUGIN_FIELDS: LazyLock<std::sync::RwLock<PluginFields>> = LazyLock::new(Default::default);

fn plugin_fields() -> std::sync::RwLockReadGuard<'static, PluginFields> {
    PLUGIN_FIELDS.read().unwrap_or_else(|p| p.into_inner())
}

fn plugin_lookup(name: &str) -> Option<&'static FieldInfo> {
    plugin_fields().by_name.get(name).copied()
}

fn plugin_max_len() -> usize {
    plugin_fields().max_len
}

/// The entry of a registered plugin field by its [`PluginField::dyn_id`].
pub fn plugin_field(dyn_id: u32) -> Option<&'static FieldInfo> {
    plugin_fields().all.get(dyn_id as usize).copied()
}

/// Adds the fields of `plugin` (extracting from `sources`, empty for all) to the catalogue.
/// Registering the same plugin's fields again returns the existing entries (tests load a
/// plugin more than once per process); a name that the catalogue or another plugin already
/// has is an error naming both.
pub fn register_plugin_fields(
    plugin: &str,
    sources: &[String],
    specs: &[PluginFieldSpec],
) -> Result<Vec<&'static FieldInfo>, String> {
    let mut reg = PLUGIN_FIELDS.write().unwrap_or_else(|p| p.into_inner());
    let mut out = Vec::with_capacity(specs.len());
    for (index, spec) in specs.iter().enumerate() {
        if INDEX.by_name.contains_key(spec.name.as_str()) {
            return Err(format!(
                "plugin {plugin}: field {} is already defined by Peregrine",
                spec.name
            ));
        }
        if let Some(prev) = reg.by_name.get(spec.name.as_str()) {
            let p = prev.plugin.map_or("", |p| p.plugin);
            if p == plugin && prev.plugin.is_some_and(|p| p.index as usize == index) {
                out.push(*prev);
                continue;
            }
            return Err(format!(
                "plugin {plugin}: field {} is already defined by plugin {p}",
                spec.name
            ));
        }
        let dyn_id = reg.all.len() as u32;
        let pf: &'static PluginField = Box::leak(Box::new(PluginField {
            dyn_id,
            plugin: Box::leak(plugin.to_string().into_boxed_str()),
            index: index as u32,
            sources: sources
                .iter()
                .map(|s| &*Box::leak(s.clone().into_boxed_str()))
                .collect(),
        }));
        let name: &'static str = Box::leak(spec.name.clone().into_boxed_str());
        let class = name.split('.').next().unwrap_or(name);
        let info: &'static FieldInfo = Box::leak(Box::new(FieldInfo {
            id: FieldId::PluginField,
            name,
            ty: spec.ty,
            flags: spec.flags,
            desc: Box::leak(spec.desc.clone().into_boxed_str()),
            class,
            class_id: ClassId::Plugin,
            plugin: Some(pf),
        }));
        reg.all.push(info);
        reg.by_name.insert(name, info);
        reg.max_len = reg.max_len.max(name.len());
        out.push(info);
    }
    Ok(out)
}

/// Why a field reference was rejected. Messages follow libsinsp's and the container plugin's
/// wording, which Falco prints in its rule-load errors.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FieldError {
    /// No field has this name.
    #[error("filter_check called with nonexistent field {0}")]
    Unknown(String),
    /// The field needs `[arg]` (or a `.suffix`) and has none.
    #[error("filter '{text}': {field} requires an argument but none provided")]
    MissingArg { text: String, field: &'static str },
    /// The field takes no argument and one was given.
    #[error("filter '{text}': {field} does not allow nor require an argument but one is provided: {arg}")]
    UnexpectedArg {
        text: String,
        field: &'static str,
        arg: String,
    },
    /// An index argument of a libsinsp field is not a number (`proc.aname[x]`).
    #[error("{0} is not a valid number")]
    NotANumber(String),
    /// An index argument of a plugin field is malformed.
    #[error("filter {text} {field} has an invalid index argument {why}: {arg}")]
    BadIndex {
        text: String,
        field: &'static str,
        why: &'static str,
        arg: String,
    },
    /// A required argument is missing from a libsinsp field (`evt.arg`), or the argument
    /// is written in a notation the field does not take (`evt.type.is[open]`).
    #[error("filter syntax error: {0}")]
    Syntax(String),
    /// `evt.rawarg[N]`: raw arguments must be named.
    #[error("evt.arg fields must be expressed explicitly")]
    Explicit,
    /// `evt.around.X`: the timestamp goes in brackets.
    #[error("wrong syntax for evt.around")]
    AroundSyntax,
}

/// The catalogue entry of an id (O(1): ids are indexes into [`FIELDS`]). A plugin field's id
/// is the placeholder [`FieldId::PluginField`]: use [`request_info`] for requests.
pub fn info(id: FieldId) -> &'static FieldInfo {
    &FIELDS[id as usize]
}

/// The entry a request refers to: the catalogue's, or the plugin field's its argument names.
pub fn request_info(req: &crate::source::FieldRequest) -> &'static FieldInfo {
    match &req.arg {
        FieldArg::Plugin(dyn_id, _) => plugin_field(*dyn_id).unwrap_or(info(req.id)),
        _ => info(req.id),
    }
}

impl FieldId {
    /// The field's class (O(1): an index into [`FIELDS`]).
    pub fn class(self) -> ClassId {
        info(self).class_id
    }
}

/// Resolves a field name (without its `[arg]`). Names with a dynamic suffix such as
/// `evt.arg.flags` do not resolve here; use [`lookup_with_suffix`].
pub fn lookup(name: &str) -> Option<&'static FieldInfo> {
    INDEX
        .by_name
        .get(name)
        .copied()
        .or_else(|| plugin_lookup(name))
}

/// Name → entry, built once on first use. Loading Falco's rules resolves tens of thousands of
/// names (every condition field, every output token, three times over when each file is
/// validated); a linear scan of the catalogue per name was ≈ 10 % of the load.
struct Index {
    by_name: FxHashMap<&'static str, &'static FieldInfo>,
    /// Length of the longest field name: no prefix longer than this can be a field.
    max_len: usize,
}

static INDEX: LazyLock<Index> = LazyLock::new(|| {
    let mut by_name = FxHashMap::default();
    by_name.reserve(FIELDS.len());
    for f in FIELDS.iter().filter(|f| f.class != PLUGIN_CLASS) {
        // The first entry of a name wins, as the linear scan it replaces did.
        by_name.entry(f.name).or_insert(f);
    }
    let max_len = FIELDS.iter().map(|f| f.name.len()).max().unwrap_or(0);
    Index { by_name, max_len }
});

/// The catalogue field whose name is the longest prefix of `text` (output tokens such as
/// `%proc.name)` run on into the following text). Field names are made of
/// [`is_name_byte`] bytes only (a unit test holds the catalogue to that), so only prefixes of
/// the leading run of such bytes can match; trying those from the longest down usually hits
/// on the first hash lookup.
pub(crate) fn longest_prefix(text: &str) -> Option<&'static FieldInfo> {
    let run = text.bytes().take_while(|&c| is_name_byte(c)).count();
    // The run is ASCII, so every length up to it is a char boundary.
    let max_len = INDEX.max_len.max(plugin_max_len());
    (1..=run.min(max_len))
        .rev()
        .find_map(|n| lookup(&text[..n]))
}

/// The bytes field names are made of.
fn is_name_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'.' || c == b'_'
}

/// Resolves a field name that may carry a dynamic suffix: `evt.arg.flags` →
/// (`evt.arg`, `Some("flags")`), `proc.name` → (`proc.name`, `None`). An exact name wins over
/// a suffix reading; among suffix readings the longest field name wins, as in libsinsp.
pub fn lookup_with_suffix(name: &str) -> Option<(&'static FieldInfo, Option<&str>)> {
    if let Some(f) = lookup(name) {
        return Some((f, None));
    }
    // A suffix reading splits at a dot; trying the dots from the right finds the longest
    // dynamic-suffix field first.
    name.rmatch_indices('.').find_map(|(dot, _)| {
        let rest = &name[dot + 1..];
        let f = lookup(&name[..dot])?;
        (f.flags.dyn_suffix && !rest.is_empty()).then_some((f, Some(rest)))
    })
}

/// Parses the argument of `field`: the text between the brackets of `field[arg]` or a dynamic
/// suffix (`flags` of `evt.arg.flags`); `None` when there is neither. `text` is the reference
/// as written (`evt.arg[0]`, `evt.arg.flags`): it tells the two notations apart and goes into
/// messages.
///
/// The result is what the state engine receives: `Index` for positional arguments
/// (`proc.aname[2]`, `evt.arg[0]`, `container.mount.dest[0]`), `Key` for names, paths and
/// globs (`proc.env[HOME]`, `evt.arg.flags`, `container.mount.dest[/proc*]`).
pub fn parse_arg(field: &FieldInfo, arg: Option<&str>, text: &str) -> Result<FieldArg, FieldError> {
    let bracket = text
        .strip_prefix(field.name)
        .is_some_and(|rest| rest.starts_with('['));
    let Some(arg) = arg else {
        if !field.flags.arg_required {
            return Ok(FieldArg::None);
        }
        // libsinsp's own fields report a bare `evt.arg` as a syntax error; plugin fields
        // (container.*, k8s.*) use the plugin framework's wording.
        return Err(if field.is_plugin() {
            FieldError::MissingArg {
                text: text.to_string(),
                field: field.name,
            }
        } else {
            FieldError::Syntax(text.to_string())
        });
    };
    if !field.flags.takes_arg() {
        return Err(if field.is_plugin() {
            FieldError::UnexpectedArg {
                text: text.to_string(),
                field: field.name,
                arg: arg.to_string(),
            }
        } else {
            FieldError::Unknown(text.to_string())
        });
    }
    match field.id {
        // Index or key: the container plugin reads a number as a mount index and anything
        // else as a path glob; proc.aenv/proc.args read a number as an ancestor/position.
        FieldId::ContainerMount
        | FieldId::ContainerMountSource
        | FieldId::ContainerMountDest
        | FieldId::ContainerMountMode
        | FieldId::ContainerMountRdwr
        | FieldId::ContainerMountPropagation
        | FieldId::ProcArgs => Ok(match plain_index(arg) {
            Some(i) => FieldArg::Index(i),
            None => FieldArg::Key(arg.into()),
        }),
        // libsinsp reads an all-digit environment argument as an ancestor level.
        FieldId::ProcEnv | FieldId::ProcAenv
            if !arg.is_empty() && arg.bytes().all(|b| b.is_ascii_digit()) =>
        {
            parse_c_int(arg, i32::MIN.into(), i32::MAX.into()).map(FieldArg::Index)
        }
        // `evt.arg[N]` is positional, `evt.arg.NAME` names a parameter.
        FieldId::EvtArg if bracket => {
            parse_c_int(arg, i32::MIN.into(), i32::MAX.into()).map(FieldArg::Index)
        }
        FieldId::EvtArg => Ok(FieldArg::Key(arg.into())),
        FieldId::EvtRawarg if bracket => Err(FieldError::Explicit),
        FieldId::EvtRawarg => Ok(FieldArg::Key(arg.into())),
        FieldId::EvtTypeIs if bracket => Err(FieldError::Syntax(text.to_string())),
        FieldId::EvtAround if !bracket => Err(FieldError::AroundSyntax),
        // A timestamp in nanoseconds: unsigned 64-bit in libsinsp, kept as i64 here (valid
        // until the year 2262).
        FieldId::EvtAround => arg
            .trim()
            .parse::<u64>()
            .ok()
            .and_then(|v| i64::try_from(v).ok())
            .map(FieldArg::Index)
            .ok_or_else(|| FieldError::NotANumber(arg.to_string())),
        FieldId::FdTypes => parse_c_int(arg, i64::MIN.into(), i64::MAX.into()).map(FieldArg::Index),
        _ if field.flags.arg_index && field.is_plugin() => plugin_index(field, arg, text),
        _ if field.flags.arg_index => {
            parse_c_int(arg, i32::MIN.into(), i32::MAX.into()).map(FieldArg::Index)
        }
        _ => Ok(FieldArg::Key(arg.into())),
    }
}

/// Resolves `name` (possibly with a dynamic suffix) and its bracketed `arg` into the request
/// the compiled program hands a [`crate::source::FieldSource`].
pub fn resolve(name: &str, arg: Option<&str>) -> Result<crate::source::FieldRequest, FieldError> {
    let text = match arg {
        Some(a) => format!("{name}[{a}]"),
        None => name.to_string(),
    };
    let (info, suffix) =
        lookup_with_suffix(name).ok_or_else(|| FieldError::Unknown(text.clone()))?;
    let arg = match (suffix, arg) {
        (Some(_), Some(_)) => return Err(FieldError::Syntax(text)),
        (Some(s), None) => Some(s),
        (None, a) => a,
    };
    Ok(request_for(info, parse_arg(info, arg, &text)?))
}

/// The request for `info` with its parsed argument (a plugin field's goes inside
/// [`FieldArg::Plugin`]).
pub fn request_for(info: &FieldInfo, arg: FieldArg) -> crate::source::FieldRequest {
    match info.plugin {
        Some(p) => crate::source::FieldRequest {
            id: FieldId::PluginField,
            arg: FieldArg::Plugin(p.dyn_id, Box::new(arg)),
        },
        None => crate::source::FieldRequest { id: info.id, arg },
    }
}

/// Resolves a field reference written as one string: `proc.name`, `proc.aname[2]`,
/// `evt.arg.flags`, `container.mount.dest[/proc*]` (e.g. the `fields` of a rule exception or
/// a `%token` taken apart elsewhere).
pub fn resolve_text(text: &str) -> Result<crate::source::FieldRequest, FieldError> {
    match text.find('[') {
        None => resolve(text, None),
        Some(open) => match text[open + 1..].strip_suffix(']') {
            Some(arg) if !arg.is_empty() => resolve(&text[..open], Some(arg)),
            _ => Err(FieldError::Syntax(text.to_string())),
        },
    }
}

/// A decimal index with no sign, no leading zero and nothing else (`"0"`, `"12"`).
fn plain_index(s: &str) -> Option<i64> {
    let ok = !s.is_empty()
        && s.bytes().all(|b| b.is_ascii_digit())
        && !(s.len() > 1 && s.starts_with('0'));
    if ok {
        s.parse().ok()
    } else {
        None
    }
}

/// libsinsp reads numeric arguments with `sscanf("%d")`: leading blanks, an optional sign,
/// then digits; anything after the digits is ignored (`2x` is 2). We copy that leniency so
/// that rules Falco accepts load here too, but reject values outside `lo..=hi`.
fn parse_c_int(s: &str, lo: i128, hi: i128) -> Result<i64, FieldError> {
    let t = s.trim_start();
    let (neg, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let end = digits
        .bytes()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(digits.len());
    let err = || FieldError::NotANumber(s.to_string());
    if end == 0 {
        return Err(err());
    }
    let v: i128 = digits[..end].parse().map_err(|_| err())?;
    let v = if neg { -v } else { v };
    if !(lo..=hi).contains(&v) {
        return Err(err());
    }
    i64::try_from(v).map_err(|_| err())
}

/// The container plugin's index rule: digits only, no leading zero, fits in 64 bits.
fn plugin_index(field: &FieldInfo, arg: &str, text: &str) -> Result<FieldArg, FieldError> {
    let bad = |why: &'static str| FieldError::BadIndex {
        text: text.to_string(),
        field: field.name,
        why,
        arg: arg.to_string(),
    };
    if !arg.bytes().all(|b| b.is_ascii_digit()) || arg.is_empty() {
        return Err(bad("not composed only by digits"));
    }
    if arg.len() > 1 && arg.starts_with('0') {
        return Err(bad("starting with 0"));
    }
    arg.parse::<i64>()
        .map(FieldArg::Index)
        .map_err(|_| bad("not representable on 64 bit"))
}

/// Column where descriptions start in `falco --list` output, and the line width they wrap to.
const LIST_RIGHT_BLOCK: usize = 30;
const LIST_WIDTH: usize = 120;

/// Writes the catalogue as `falco --list` prints it: per class a separator, `Field Class:`,
/// `Description:` and `Event Sources:` headers, then one entry per field with its
/// description wrapped at 120 columns and indented to column 30; filter-only fields carry a
/// `(FILTER ONLY)` tag. `verbose` (`-v`) prefixes each description with `(Type: …)`;
/// deprecated fields appear only with `include_deprecated`.
pub fn write_list(out: &mut String, verbose: bool, include_deprecated: bool) {
    write_list_of(out, verbose, include_deprecated, &[SYSCALL_SOURCE]);
}

/// [`write_list`] for the classes of `sources` (Falco lists a plugin source's fields only
/// when the plugin is loaded).
pub fn write_list_of(out: &mut String, verbose: bool, include_deprecated: bool, sources: &[&str]) {
    for class in CLASSES
        .iter()
        .filter(|c| sources.contains(&c.source) && c.name != PLUGIN_CLASS)
    {
        let fields: Vec<&FieldInfo> = class
            .fields()
            .filter(|f| include_deprecated || !f.flags.deprecated)
            .collect();
        let head = ClassHead {
            name: class.name,
            shortdesc: class.shortdesc(),
            desc: class.desc,
            sources: class.source.to_string(),
        };
        write_class(out, verbose, &head, &fields);
    }
    for (plugin, fields) in plugin_classes() {
        let Some(p) = fields.first().and_then(|f| f.plugin) else {
            continue;
        };
        if !sources.iter().any(|s| fields[0].usable_in(s)) {
            continue;
        }
        let desc = format!("Fields of the {plugin} plugin.");
        let head = ClassHead {
            name: plugin,
            shortdesc: Some("plugin"),
            desc: &desc,
            sources: if p.sources.is_empty() {
                sources.join(", ")
            } else {
                p.sources.join(", ")
            },
        };
        write_class(out, verbose, &head, &fields);
    }
}

/// The registered plugin fields grouped by plugin, in registration order.
pub fn plugin_classes() -> Vec<(&'static str, Vec<&'static FieldInfo>)> {
    let mut out: Vec<(&'static str, Vec<&'static FieldInfo>)> = Vec::new();
    for f in &plugin_fields().all {
        let Some(p) = f.plugin else { continue };
        match out.iter_mut().find(|(name, _)| *name == p.plugin) {
            Some((_, v)) => v.push(f),
            None => out.push((p.plugin, vec![f])),
        }
    }
    out
}

/// What `--list` prints above a class's fields.
struct ClassHead<'a> {
    name: &'a str,
    shortdesc: Option<&'a str>,
    desc: &'a str,
    sources: String,
}

fn write_class(out: &mut String, verbose: bool, head: &ClassHead<'_>, fields: &[&FieldInfo]) {
    if fields.is_empty() {
        return;
    }
    out.push_str("-------------------------------\n");
    pad_to_block(out, "Field Class:");
    out.push_str(head.name);
    if let Some(short) = head.shortdesc {
        out.push_str(" (");
        out.push_str(short);
        out.push(')');
    }
    out.push('\n');
    pad_to_block(out, "Description:");
    wrap_words(out, head.desc);
    out.push('\n');
    pad_to_block(out, "Event Sources:");
    out.push_str(&head.sources);
    out.push_str(" \n\n");
    for f in fields {
        if f.name.len() > LIST_RIGHT_BLOCK {
            out.push_str(f.name);
            out.push('\n');
            pad_to_block(out, "");
        } else {
            pad_to_block(out, f.name);
        }
        let mut desc = String::new();
        if verbose {
            desc.push_str("(Type: ");
            desc.push_str(f.ty.name());
            desc.push_str(") ");
        }
        if f.flags.filter_only {
            desc.push_str("(FILTER ONLY) ");
        }
        desc.push_str(f.desc);
        wrap_words(out, &desc);
        out.push('\n');
    }
    out.push('\n');
}

fn pad_to_block(out: &mut String, s: &str) {
    out.push_str(s);
    out.extend(std::iter::repeat_n(
        ' ',
        LIST_RIGHT_BLOCK.saturating_sub(s.len()),
    ));
}

/// Writes `text` word by word (each followed by a space), starting a new line indented to
/// the description column whenever the next word would pass the line width.
fn wrap_words(out: &mut String, text: &str) {
    let mut len = 0;
    for word in text.split_whitespace() {
        let wordlen = word.len() + 1;
        if len + wordlen <= LIST_WIDTH - LIST_RIGHT_BLOCK {
            len += wordlen;
        } else {
            out.push('\n');
            pad_to_block(out, "");
            len = wordlen;
        }
        out.push_str(word);
        out.push(' ');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The linear scans the index replaced: the index must give the same answers.
    fn scan_prefix(text: &str) -> Option<&'static FieldInfo> {
        FIELDS
            .iter()
            .filter(|f| f.class != PLUGIN_CLASS)
            .filter(|f| text.starts_with(f.name))
            .max_by_key(|f| f.name.len())
    }

    fn scan_suffix(name: &str) -> Option<(&'static FieldInfo, Option<&str>)> {
        if let Some(f) = FIELDS
            .iter()
            .find(|f| f.name == name && f.class != PLUGIN_CLASS)
        {
            return Some((f, None));
        }
        FIELDS
            .iter()
            .filter(|f| f.class != PLUGIN_CLASS)
            .filter(|f| f.flags.dyn_suffix)
            .filter_map(|f| {
                let rest = name.strip_prefix(f.name)?.strip_prefix('.')?;
                (!rest.is_empty()).then_some((f, rest))
            })
            .max_by_key(|(f, _)| f.name.len())
            .map(|(f, rest)| (f, Some(rest)))
    }

    fn same(a: Option<&FieldInfo>, b: Option<&FieldInfo>) -> bool {
        a.map(|f| f.id) == b.map(|f| f.id)
    }

    #[test]
    fn class_ids_follow_the_class_names() {
        for f in FIELDS {
            assert_eq!(CLASSES[f.class_id as usize].name, f.class, "{}", f.name);
            assert_eq!(f.id.class(), f.class_id);
        }
        assert_eq!(FieldId::FdName.class(), ClassId::Fd);
        assert_eq!(FieldId::SyscallType.class(), ClassId::Evt);
    }

    #[test]
    fn field_names_are_made_of_name_bytes() {
        for f in FIELDS {
            assert!(f.name.bytes().all(is_name_byte), "{}", f.name);
        }
    }

    #[test]
    fn index_agrees_with_a_scan_of_the_catalogue() {
        let mut texts: Vec<String> = Vec::new();
        for f in FIELDS.iter().filter(|f| f.class != PLUGIN_CLASS) {
            for tail in ["", ")", " x", ".", ".flags", ".a.b", "[0]", "é", "s"] {
                texts.push(format!("{}{tail}", f.name));
            }
            texts.push(f.name[..f.name.len() - 1].to_string());
        }
        texts.extend(
            [
                "",
                "x",
                "é.name",
                "proc",
                "evt.arg.",
                "container.label.a.b/c",
            ]
            .map(String::from),
        );
        for t in &texts {
            assert!(same(longest_prefix(t), scan_prefix(t)), "prefix of {t:?}");
            let (got, want) = (lookup_with_suffix(t), scan_suffix(t));
            assert!(
                same(got.map(|g| g.0), want.map(|w| w.0)) && got.map(|g| g.1) == want.map(|w| w.1),
                "suffix reading of {t:?}"
            );
        }
    }
}
