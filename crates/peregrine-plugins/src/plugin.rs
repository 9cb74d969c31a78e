//! One loaded plugin: its library, its state (`ss_plugin_t`), what it declares, and safe calls
//! for each capability. Every value a plugin hands back (strings, event buffers, extracted
//! values) is checked before it is used: a NULL, a string that is not UTF-8 or too long, an
//! event that is not a plugin event of its id, a value count or size beyond the limits is a
//! [`PluginError`] naming the plugin, never a crash of the host.

use std::ffi::{c_char, c_void, CStr, CString};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use peregrine_filter::fields::{FieldFlags, FieldType, PluginFieldSpec};
use peregrine_filter::{Extracted, FieldArg, Slot};
use serde_json::Value;

use crate::ffi;
use crate::{schema, PluginError};

/// The longest string a plugin may return (a field value, a rendered event, a schema).
pub const MAX_STRING: usize = 1 << 20;
/// The most values one field extraction may return.
pub const MAX_VALUES: u64 = 4096;
/// The largest event a source plugin may produce (libscap's bound on an event).
pub const MAX_EVENT: u32 = 64 << 20;
/// The most events one `next_batch` may return.
pub const MAX_BATCH: u32 = 1 << 20;

/// What `plugins:` says about one entry.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PluginConfig {
    pub name: String,
    pub library_path: PathBuf,
    /// `init_config`, as the string handed to the plugin (an object is given as JSON).
    pub init_config: String,
    pub open_params: String,
}

/// The capabilities a library exports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Capabilities {
    pub sourcing: bool,
    pub extraction: bool,
    pub parsing: bool,
}

/// One field a plugin declares (`get_fields`).
#[derive(Clone, Debug, PartialEq)]
pub struct FieldDecl {
    pub name: String,
    pub ty: FieldType,
    /// The plugin API's type number (`FTYPE_*`), handed back on extraction.
    pub ftype: u32,
    pub list: bool,
    pub desc: String,
    pub arg_required: bool,
    pub arg_index: bool,
    pub arg_key: bool,
    c_name: CString,
}

/// The symbols of the capabilities, resolved once.
struct Symbols {
    destroy: ffi::Destroy,
    get_last_error: ffi::GetLastError,
    open: Option<ffi::Open>,
    close: Option<ffi::Close>,
    next_batch: Option<ffi::NextBatch>,
    event_to_string: Option<ffi::EventToString>,
    extract_fields: Option<ffi::ExtractFields>,
    parse_event: Option<ffi::ParseEvent>,
}

/// The plugin's state pointer. The plugin API lets one thread at a time call into a plugin
/// (Falco runs each plugin on its source's thread); the lock makes that so here too.
struct State(*mut c_void);

// SAFETY: the pointer is only dereferenced by the plugin, and only under the `Mutex` that
// holds it, so calls into one plugin never overlap.
unsafe impl Send for State {}

/// A loaded and initialised plugin.
pub struct Plugin {
    pub name: String,
    pub version: String,
    pub description: String,
    pub contact: String,
    pub required_api_version: String,
    pub library_path: PathBuf,
    pub caps: Capabilities,
    /// Sourcing: the plugin id (0: none) and its event source.
    pub id: u32,
    pub event_source: Option<String>,
    /// Extraction: the fields, and the sources they apply to (empty: every source).
    pub fields: Vec<FieldDecl>,
    pub extract_sources: Vec<String>,
    /// Parsing: the sources whose events it parses (empty: every source).
    pub parse_sources: Vec<String>,
    /// The init schema (JSON text), when the plugin has one.
    pub init_schema: Option<String>,
    pub open_params: String,
    syms: Symbols,
    state: Mutex<State>,
    c_source: CString,
    // Last, so that it is dropped after `Drop` destroyed the state: the symbols above point
    // into it.
    _lib: libloading::Library,
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("name", &self.name)
            .field("version", &self.version)
            .field("caps", &self.caps)
            .finish_non_exhaustive()
    }
}

/// The owner's last error, for plugins that ask (the host keeps none).
unsafe extern "C" fn owner_last_error(_owner: *mut c_void) -> *const c_char {
    c"".as_ptr()
}

/// The plugin's log lines go to the host's log, escaped (a plugin is not trusted with the
/// terminal).
unsafe extern "C" fn log_fn(
    _owner: *mut c_void,
    component: *const c_char,
    msg: *const c_char,
    sev: u32,
) {
    // SAFETY: the API passes NUL-terminated strings or NULL, valid for the call.
    let text = |p: *const c_char| {
        if p.is_null() {
            String::new()
        } else {
            unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
        }
    };
    let component = peregrine_filter::escape::terminal_safe(&text(component));
    let msg = peregrine_filter::escape::terminal_safe(&text(msg));
    let level = match sev {
        1..=3 => log::Level::Error,
        4 => log::Level::Warn,
        5 | 6 => log::Level::Info,
        7 => log::Level::Debug,
        _ => log::Level::Trace,
    };
    log::log!(level, "plugin {component}: {msg}");
}

/// Reads a string a plugin returned: NULL, not UTF-8 or longer than [`MAX_STRING`] is an error.
///
/// # Safety
/// `p` is NULL or points at a NUL-terminated string valid for the call.
unsafe fn plugin_str(plugin: &str, what: &str, p: *const c_char) -> Result<String, PluginError> {
    // SAFETY: the caller's contract.
    match unsafe { borrowed_str(p) } {
        Ok(s) => Ok(s.to_string()),
        Err(why) => Err(PluginError::garbage(plugin, format!("{what} {why}"))),
    }
}

/// [`plugin_str`] without a copy, the error as the reason alone (`is NULL`, …).
///
/// # Safety
/// As [`plugin_str`]; the string is used only while it stays valid.
unsafe fn borrowed_str<'a>(p: *const c_char) -> Result<&'a str, String> {
    if p.is_null() {
        return Err("is NULL".into());
    }
    // SAFETY: non-NULL and NUL-terminated per the function's contract.
    let bytes = unsafe { CStr::from_ptr(p) }.to_bytes();
    if bytes.len() > MAX_STRING {
        return Err(format!("is longer than {MAX_STRING} bytes"));
    }
    std::str::from_utf8(bytes).map_err(|_| "is not valid UTF-8".into())
}

fn sym<T: Copy>(lib: &libloading::Library, name: &str) -> Option<T> {
    // SAFETY: `T` is the function type the plugin API gives this symbol; the pointer is only
    // used while `lib` is loaded (both live in the same `Plugin`).
    unsafe { lib.get::<T>(name.as_bytes()).ok().map(|s| *s) }
}

/// Parses `major.minor.patch`.
pub fn parse_semver(v: &str) -> Option<(u64, u64, u64)> {
    let mut it = v.trim().split('.').map(|p| p.parse::<u64>().ok());
    let out = (it.next()??, it.next()??, it.next()??);
    it.next().is_none().then_some(out)
}

impl Plugin {
    /// Loads `cfg.library_path`, checks the API version, reads what the plugin declares,
    /// validates `init_config` against its schema and initialises it.
    pub fn load(cfg: &PluginConfig) -> Result<Plugin, PluginError> {
        let name = cfg.name.as_str();
        let path = resolve_library(&cfg.library_path);
        // SAFETY: loading a library runs its initialisers: a plugin is code the operator chose
        // to run in the agent, as in Falco. Nothing else is assumed about it here.
        let lib = unsafe { libloading::Library::new(&path) }.map_err(|e| PluginError::Load {
            plugin: name.to_string(),
            path: path.clone(),
            reason: e.to_string(),
        })?;
        let required = |s: &str| {
            sym::<ffi::GetStr>(&lib, s).ok_or_else(|| PluginError::Load {
                plugin: name.to_string(),
                path: path.clone(),
                reason: format!("symbol {s} not found"),
            })
        };
        let get_api = required("plugin_get_required_api_version")?;
        // SAFETY: a `plugin_get_*` string getter takes nothing and returns a static string.
        let api = unsafe { plugin_str(name, "plugin_get_required_api_version", get_api()) }?;
        check_api_version(name, &api)?;
        let get = |s: &str| -> Result<String, PluginError> {
            let f = required(s)?;
            // SAFETY: as above.
            unsafe { plugin_str(name, s, f()) }
        };
        let real_name = get("plugin_get_name")?;
        let version = get("plugin_get_version")?;
        let description = get("plugin_get_description")?;
        let contact = get("plugin_get_contact")?;
        if parse_semver(&version).is_none() {
            return Err(PluginError::garbage(
                name,
                format!("version {version:?} is not major.minor.patch"),
            ));
        }
        let init = sym::<ffi::Init>(&lib, "plugin_init");
        let destroy = sym::<ffi::Destroy>(&lib, "plugin_destroy");
        let get_last_error = sym::<ffi::GetLastError>(&lib, "plugin_get_last_error");
        let (Some(init), Some(destroy), Some(get_last_error)) = (init, destroy, get_last_error)
        else {
            return Err(PluginError::Load {
                plugin: name.to_string(),
                path,
                reason: "plugin_init, plugin_destroy or plugin_get_last_error missing".into(),
            });
        };
        let syms = Symbols {
            destroy,
            get_last_error,
            open: sym(&lib, "plugin_open"),
            close: sym(&lib, "plugin_close"),
            next_batch: sym(&lib, "plugin_next_batch"),
            event_to_string: sym(&lib, "plugin_event_to_string"),
            extract_fields: sym(&lib, "plugin_extract_fields"),
            parse_event: sym(&lib, "plugin_parse_event"),
        };
        let get_id = sym::<ffi::GetId>(&lib, "plugin_get_id");
        let get_source = sym::<ffi::GetStr>(&lib, "plugin_get_event_source");
        let sourcing = syms.open.is_some()
            && syms.close.is_some()
            && syms.next_batch.is_some()
            && get_id.is_some()
            && get_source.is_some();
        let get_fields = sym::<ffi::GetStr>(&lib, "plugin_get_fields");
        let extraction = get_fields.is_some() && syms.extract_fields.is_some();
        let parsing = syms.parse_event.is_some();
        if !(sourcing || extraction || parsing) {
            return Err(PluginError::Load {
                plugin: name.to_string(),
                path,
                reason: "the plugin has no capability (sourcing, extraction or parsing)".into(),
            });
        }
        let (id, event_source) = match (sourcing, get_id, get_source) {
            (true, Some(get_id), Some(get_source)) => {
                // SAFETY: getters without arguments, as above.
                let id = unsafe { get_id() };
                let src = unsafe { plugin_str(name, "plugin_get_event_source", get_source()) }?;
                if src.is_empty() || src == peregrine_filter::fields::SYSCALL_SOURCE {
                    return Err(PluginError::garbage(
                        name,
                        format!("event source {src:?} is not a plugin source name"),
                    ));
                }
                (id, Some(src))
            }
            _ => (0, None),
        };
        let fields = match get_fields {
            Some(f) if extraction => {
                // SAFETY: as above.
                let json = unsafe { plugin_str(name, "plugin_get_fields", f()) }?;
                parse_fields(name, &json)?
            }
            _ => Vec::new(),
        };
        let sources = |s: &str| -> Result<Vec<String>, PluginError> {
            match sym::<ffi::GetStr>(&lib, s) {
                None => Ok(Vec::new()),
                Some(f) => {
                    // SAFETY: as above.
                    let json = unsafe { plugin_str(name, s, f()) }?;
                    serde_json::from_str::<Vec<String>>(&json).map_err(|e| {
                        PluginError::garbage(name, format!("{s} is not a JSON list of names: {e}"))
                    })
                }
            }
        };
        let mut extract_sources = sources("plugin_get_extract_event_sources")?;
        // A source plugin that extracts without naming sources extracts from its own (the API's
        // rule); one that names none and has no source extracts from every source.
        if extract_sources.is_empty() {
            if let Some(src) = &event_source {
                extract_sources.push(src.clone());
            }
        }
        let parse_sources = sources("plugin_get_parse_event_sources")?;
        let init_schema = match sym::<ffi::GetInitSchema>(&lib, "plugin_get_init_schema") {
            None => None,
            Some(f) => {
                let mut ty = 0u32;
                // SAFETY: the function writes the schema type through the pointer it is given.
                let p = unsafe { f(&mut ty) };
                if ty == ffi::SCHEMA_JSON && !p.is_null() {
                    // SAFETY: non-NULL, a NUL-terminated string per the API.
                    let s = unsafe { plugin_str(name, "plugin_get_init_schema", p) }?;
                    (!s.trim().is_empty()).then_some(s)
                } else {
                    None
                }
            }
        };
        let mut config = cfg.init_config.clone();
        if let Some(schema) = &init_schema {
            // Falco hands an empty configuration of a plugin with a schema over as `{}`.
            if config.trim().is_empty() {
                config = "{}".into();
            }
            schema::validate(schema, &config).map_err(|reason| PluginError::Config {
                plugin: name.to_string(),
                reason,
            })?;
        }
        let c_config = CString::new(config).map_err(|_| PluginError::Config {
            plugin: name.to_string(),
            reason: "init_config contains a NUL byte".into(),
        })?;
        let input = ffi::InitInput {
            config: c_config.as_ptr(),
            owner: std::ptr::null_mut(),
            get_owner_last_error: Some(owner_last_error),
            tables: std::ptr::null(),
            log_fn: Some(log_fn),
        };
        let mut rc = ffi::RC_FAILURE;
        // SAFETY: `input` and the strings it points to outlive the call; `rc` is writable.
        let state = unsafe { init(&input, &mut rc) };
        if rc != ffi::RC_SUCCESS {
            let reason = if state.is_null() {
                "init failed".to_string()
            } else {
                // SAFETY: a non-NULL state from a failed init is only good for its last error
                // and destroy, as the API says.
                let e = unsafe { plugin_str(name, "plugin_get_last_error", get_last_error(state)) }
                    .unwrap_or_else(|e| e.to_string());
                unsafe { destroy(state) };
                e
            };
            return Err(PluginError::Init {
                plugin: name.to_string(),
                reason,
            });
        }
        if state.is_null() {
            return Err(PluginError::garbage(
                name,
                "init succeeded with a NULL state",
            ));
        }
        let c_source = CString::new(event_source.clone().unwrap_or_default()).unwrap_or_default();
        Ok(Plugin {
            name: real_name,
            version,
            description,
            contact,
            required_api_version: api,
            library_path: path,
            caps: Capabilities {
                sourcing,
                extraction,
                parsing,
            },
            id,
            event_source,
            fields,
            extract_sources,
            parse_sources,
            init_schema,
            open_params: cfg.open_params.clone(),
            syms,
            state: Mutex::new(State(state)),
            c_source,
            _lib: lib,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The plugin's last error, as it words it (escaped for a terminal by the caller).
    fn last_error(&self, state: &State) -> String {
        // SAFETY: the state is live (we hold its lock, `Drop` has not run).
        let p = unsafe { (self.syms.get_last_error)(state.0) };
        // SAFETY: NULL or a NUL-terminated string owned by the plugin until its next call.
        unsafe { plugin_str(&self.name, "plugin_get_last_error", p) }
            .unwrap_or_else(|e| e.to_string())
    }

    /// The fields as the filter catalogue takes them.
    pub fn field_specs(&self) -> Vec<PluginFieldSpec> {
        self.fields
            .iter()
            .map(|f| PluginFieldSpec {
                name: f.name.clone(),
                ty: f.ty,
                flags: FieldFlags {
                    arg_allowed: f.arg_required || f.arg_index || f.arg_key,
                    arg_required: f.arg_required,
                    arg_index: f.arg_index,
                    arg_key: f.arg_key,
                    list: f.list,
                    ..FieldFlags::default()
                },
                desc: f.desc.clone(),
            })
            .collect()
    }

    /// Opens the source with `params`.
    pub fn open(&self, params: &str) -> Result<Instance<'_>, PluginError> {
        let (Some(open), Some(_), Some(_)) =
            (self.syms.open, self.syms.close, self.syms.next_batch)
        else {
            return Err(PluginError::NotSupported {
                plugin: self.name.clone(),
                what: "event sourcing",
            });
        };
        let c_params = CString::new(params).map_err(|_| PluginError::Open {
            plugin: self.name.clone(),
            reason: "open_params contain a NUL byte".into(),
        })?;
        let state = self.lock();
        let mut rc = ffi::RC_FAILURE;
        // SAFETY: live state under its lock; the parameters outlive the call.
        let h = unsafe { open(state.0, c_params.as_ptr(), &mut rc) };
        if rc != ffi::RC_SUCCESS || h.is_null() {
            let reason = self.last_error(&state);
            return Err(PluginError::Open {
                plugin: self.name.clone(),
                reason,
            });
        }
        Ok(Instance {
            plugin: self,
            handle: h,
        })
    }

    /// `event_to_string` (`evt.plugininfo`) for a plugin event of this plugin's source.
    pub fn event_to_string(&self, event: &OwnedEvent, evtnum: u64) -> Result<String, PluginError> {
        let Some(f) = self.syms.event_to_string else {
            return Err(PluginError::NotSupported {
                plugin: self.name.clone(),
                what: "event_to_string",
            });
        };
        let input = ffi::EventInput {
            evt: event.bytes.as_ptr().cast(),
            evtnum,
            evtsrc: self.c_source.as_ptr(),
        };
        let state = self.lock();
        // SAFETY: live state under its lock; the event buffer and input outlive the call.
        let p = unsafe { f(state.0, &input) };
        // SAFETY: NULL or a NUL-terminated string owned by the plugin until its next call.
        unsafe { plugin_str(&self.name, "plugin_event_to_string", p) }
    }

    /// Whether the plugin extracts from events of `source`.
    pub fn extracts_from(&self, source: &str) -> bool {
        self.caps.extraction
            && (self.extract_sources.is_empty() || self.extract_sources.iter().any(|s| s == source))
    }

    /// Extracts field number `index` (of [`Plugin::fields`]) with `arg` from `event` (a whole
    /// scap event of `source`) into `out`. A plugin's failure or a value that breaks the
    /// field's declaration is an error and adds nothing to `out`.
    pub fn extract(
        &self,
        event: &[u8],
        evtnum: u64,
        source: &CStr,
        index: u32,
        arg: &FieldArg,
        out: &mut Extracted,
    ) -> Result<(), PluginError> {
        let mut got = Vec::with_capacity(1);
        self.extract_many(event, evtnum, source, &[(index, arg)], &mut got)?;
        if let Some(vals) = got.pop() {
            for v in vals?.iter() {
                push_value(v, out);
            }
        }
        Ok(())
    }

    /// Extracts several fields (number and argument each) from `event` in one
    /// `extract_fields` call: one lock and one crossing into the plugin for all of them.
    /// `out` gets one entry per field, in order: its values, or why they were refused. An
    /// error for the whole call (the plugin failed) leaves `out` as it was.
    pub fn extract_many(
        &self,
        event: &[u8],
        evtnum: u64,
        source: &CStr,
        wanted: &[(u32, &FieldArg)],
        out: &mut Vec<Result<Extracted, PluginError>>,
    ) -> Result<(), PluginError> {
        let Some(f) = self.syms.extract_fields else {
            return Err(PluginError::NotSupported {
                plugin: self.name.clone(),
                what: "field extraction",
            });
        };
        let mut decls = Vec::with_capacity(wanted.len());
        for &(index, _) in wanted {
            let Some(decl) = self.fields.get(index as usize) else {
                return Err(PluginError::garbage(
                    &self.name,
                    format!("no field number {index}"),
                ));
            };
            decls.push(decl);
        }
        if event.len() < ffi::EVENT_HEADER {
            return Err(PluginError::garbage(
                &self.name,
                "event shorter than its header",
            ));
        }
        // Key arguments as C strings, alive until the call returns.
        let keys: Vec<Option<CString>> = wanted
            .iter()
            .map(|(_, arg)| match arg {
                FieldArg::Key(k) => Some(CString::new(k.as_bytes()).unwrap_or_default()),
                _ => None,
            })
            .collect();
        let mut fields: Vec<ffi::ExtractField> = wanted
            .iter()
            .zip(&decls)
            .zip(&keys)
            .map(|(((index, arg), decl), key)| {
                let (arg_key, arg_index, arg_present) = match (arg, key) {
                    (FieldArg::Index(i), _) => (std::ptr::null(), *i as u64, 1),
                    (FieldArg::Key(_), Some(k)) => (k.as_ptr(), 0, 1),
                    _ => (std::ptr::null(), 0, 0),
                };
                ffi::ExtractField {
                    res: std::ptr::null_mut(),
                    res_len: 0,
                    field_id: *index,
                    field: decl.c_name.as_ptr(),
                    arg_key,
                    arg_index,
                    arg_present,
                    ftype: decl.ftype,
                    flist: u32::from(decl.list),
                }
            })
            .collect();
        let Ok(num_fields) = u32::try_from(fields.len()) else {
            return Err(PluginError::garbage(&self.name, "too many fields at once"));
        };
        let mut reader_ext = ffi::NoTables([0; 16]);
        let input = ffi::FieldExtractInput {
            owner: std::ptr::null_mut(),
            get_owner_last_error: Some(owner_last_error),
            num_fields,
            fields: fields.as_mut_ptr(),
            table_reader: [0; 4],
            table_reader_ext: &mut reader_ext,
            value_offsets: std::ptr::null_mut(),
        };
        let evt = ffi::EventInput {
            evt: event.as_ptr().cast(),
            evtnum,
            evtsrc: source.as_ptr(),
        };
        let state = self.lock();
        // SAFETY: live state under its lock; every pointer in `evt` and `input` points at
        // locals or buffers that outlive the call.
        let rc = unsafe { f(state.0, &evt, &input) };
        if rc != ffi::RC_SUCCESS {
            let reason = self.last_error(&state);
            let names: Vec<&str> = decls.iter().map(|d| d.name.as_str()).collect();
            return Err(PluginError::Extract {
                plugin: self.name.clone(),
                field: names.join(", "),
                reason,
            });
        }
        for (field, decl) in fields.iter().zip(&decls) {
            // SAFETY: the values are read while we still hold the lock (they are valid until
            // the plugin's next call).
            out.push(unsafe { self.values(field, decl) });
        }
        Ok(())
    }

    /// The values the plugin left in `field`, checked against the field's declaration.
    ///
    /// # Safety
    /// `field` was just filled by the plugin's `extract_fields`, whose state lock the caller
    /// still holds.
    unsafe fn values(
        &self,
        field: &ffi::ExtractField,
        decl: &FieldDecl,
    ) -> Result<Extracted, PluginError> {
        let bad =
            |why: String| PluginError::garbage(&self.name, format!("field {}: {why}", decl.name));
        // Values are checked into a buffer of their own, so a bad one gives nothing.
        let mut vals = Extracted::default();
        let n = field.res_len;
        if n == 0 {
            return Ok(vals);
        }
        if n > MAX_VALUES || (!decl.list && n > 1) {
            return Err(bad(format!("{n} values")));
        }
        if field.res.is_null() {
            return Err(bad("values at NULL".into()));
        }
        let n = n as usize;
        match decl.ftype {
            ffi::FTYPE_STRING => {
                // SAFETY: the plugin returned `n` string pointers at `res`, valid until its next
                // call (we still hold the lock).
                let ptrs =
                    unsafe { std::slice::from_raw_parts(field.res as *const *const c_char, n) };
                for &p in ptrs {
                    // SAFETY: each is NULL or NUL-terminated, as above.
                    let s = unsafe { borrowed_str(p) }.map_err(|why| {
                        PluginError::garbage(&self.name, format!("field {} {why}", decl.name))
                    })?;
                    vals.push_str(s);
                }
            }
            ffi::FTYPE_UINT64 | ffi::FTYPE_RELTIME | ffi::FTYPE_ABSTIME => {
                // SAFETY: `n` u64 values at `res`, as above (read unaligned: C gives no promise
                // a plugin's buffer is aligned).
                for i in 0..n {
                    let v = unsafe { (field.res as *const u64).add(i).read_unaligned() };
                    vals.push(Slot::UInt(v));
                }
            }
            ffi::FTYPE_BOOL => {
                for i in 0..n {
                    // SAFETY: `n` ss_plugin_bool (u32) values at `res`, as above.
                    let v = unsafe { (field.res as *const u32).add(i).read_unaligned() };
                    vals.push(Slot::Bool(v != 0));
                }
            }
            ffi::FTYPE_IPADDR | ffi::FTYPE_IPNET => {
                for i in 0..n {
                    // SAFETY: `n` byte buffers at `res`, as above.
                    let b = unsafe {
                        (field.res as *const ffi::ByteBuffer)
                            .add(i)
                            .read_unaligned()
                    };
                    if b.ptr.is_null() {
                        return Err(bad("address at NULL".into()));
                    }
                    // SAFETY: `len` bytes at `ptr`, as above; the length is checked first.
                    let ip = match b.len {
                        4 => {
                            let a: [u8; 4] = unsafe { *(b.ptr as *const [u8; 4]) };
                            IpAddr::from(a)
                        }
                        16 => {
                            let a: [u8; 16] = unsafe { *(b.ptr as *const [u8; 16]) };
                            IpAddr::from(a)
                        }
                        l => return Err(bad(format!("an address of {l} bytes"))),
                    };
                    vals.push(Slot::Ip(ip));
                }
            }
            t => return Err(bad(format!("unknown type {t}"))),
        }
        Ok(vals)
    }

    /// Whether the plugin parses events of `source`.
    pub fn parses(&self, source: &str) -> bool {
        self.caps.parsing
            && (self.parse_sources.is_empty() || self.parse_sources.iter().any(|s| s == source))
    }

    /// Hands `event` (a whole scap event of `source`) to the plugin's `parse_event`.
    pub fn parse_event(&self, event: &[u8], evtnum: u64, source: &CStr) -> Result<(), PluginError> {
        let Some(f) = self.syms.parse_event else {
            return Ok(());
        };
        let mut reader_ext = ffi::NoTables([0; 16]);
        let mut writer_ext = ffi::NoTables([0; 16]);
        let input = ffi::EventParseInput {
            owner: std::ptr::null_mut(),
            get_owner_last_error: Some(owner_last_error),
            table_reader: [0; 4],
            table_writer: [0; 6],
            table_reader_ext: &mut reader_ext,
            table_writer_ext: &mut writer_ext,
        };
        let evt = ffi::EventInput {
            evt: event.as_ptr().cast(),
            evtnum,
            evtsrc: source.as_ptr(),
        };
        let state = self.lock();
        // SAFETY: live state under its lock; the pointers outlive the call.
        let rc = unsafe { f(state.0, &evt, &input) };
        if rc != ffi::RC_SUCCESS {
            return Err(PluginError::Parse {
                plugin: self.name.clone(),
                reason: self.last_error(&state),
            });
        }
        Ok(())
    }
}

impl Drop for Plugin {
    fn drop(&mut self) {
        let state = self.lock();
        // SAFETY: the state came from a successful init and is destroyed once, here; every
        // instance borrowed the plugin, so none is still open.
        unsafe { (self.syms.destroy)(state.0) };
    }
}

/// A library path as Falco resolves it: a relative path is under `/usr/share/falco/plugins`.
fn resolve_library(p: &Path) -> PathBuf {
    if p.is_absolute() || p.exists() {
        p.to_path_buf()
    } else {
        Path::new("/usr/share/falco/plugins").join(p)
    }
}

/// The plugin's required API version must be 3.x with x ≤ ours.
fn check_api_version(plugin: &str, v: &str) -> Result<(), PluginError> {
    let ok = parse_semver(v).is_some_and(|(major, minor, _)| {
        major == u64::from(ffi::API_MAJOR) && minor <= u64::from(ffi::API_MINOR)
    });
    if ok {
        Ok(())
    } else {
        Err(PluginError::ApiVersion {
            plugin: plugin.to_string(),
            required: v.to_string(),
            host: format!("{}.{}.{}", ffi::API_MAJOR, ffi::API_MINOR, ffi::API_PATCH),
        })
    }
}

/// Parses `get_fields`: a JSON array of `{type, name, desc, isList, arg: {isRequired,
/// isIndex, isKey}, ...}`.
fn parse_fields(plugin: &str, json: &str) -> Result<Vec<FieldDecl>, PluginError> {
    let bad = |why: String| PluginError::garbage(plugin, format!("get_fields: {why}"));
    let v: Value = serde_json::from_str(json).map_err(|e| bad(e.to_string()))?;
    let Value::Array(items) = v else {
        return Err(bad("not a JSON array".into()));
    };
    let mut out: Vec<FieldDecl> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let name = item
            .get("name")
            .and_then(Value::as_str)
            .filter(|n| {
                !n.is_empty()
                    && n.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_')
            })
            .ok_or_else(|| bad(format!("field {i} has no valid name")))?;
        if out.iter().any(|f| f.name == name) {
            return Err(bad(format!("field {name} declared twice")));
        }
        let ty_name = item.get("type").and_then(Value::as_str).unwrap_or("");
        let (ty, ftype) = match ty_name {
            "string" => (FieldType::CharBuf, ffi::FTYPE_STRING),
            "uint64" => (FieldType::UInt64, ffi::FTYPE_UINT64),
            "bool" => (FieldType::Bool, ffi::FTYPE_BOOL),
            "reltime" => (FieldType::RelTime, ffi::FTYPE_RELTIME),
            "abstime" => (FieldType::AbsTime, ffi::FTYPE_ABSTIME),
            "ipaddr" => (FieldType::IpAddr, ffi::FTYPE_IPADDR),
            "ipnet" => (FieldType::IpNet, ffi::FTYPE_IPNET),
            other => return Err(bad(format!("field {name} has unknown type {other:?}"))),
        };
        let flag = |o: Option<&Value>, k: &str| o.and_then(|o| o.get(k)).and_then(Value::as_bool);
        let arg = item.get("arg");
        out.push(FieldDecl {
            name: name.to_string(),
            ty,
            ftype,
            list: flag(Some(item), "isList").unwrap_or(false),
            desc: item
                .get("desc")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            arg_required: flag(arg, "isRequired").unwrap_or(false),
            arg_index: flag(arg, "isIndex").unwrap_or(false),
            arg_key: flag(arg, "isKey").unwrap_or(false),
            c_name: CString::new(name).unwrap_or_default(),
        });
    }
    Ok(out)
}

/// An open source instance. Borrowing the plugin, it cannot outlive it.
pub struct Instance<'p> {
    plugin: &'p Plugin,
    handle: *mut c_void,
}

/// What a `next_batch` call returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Batch {
    /// Events (possibly none).
    Events,
    /// No event now; call again.
    Timeout,
    /// The source has ended.
    Eof,
}

/// An event copied out of the plugin's batch (the plugin reuses its buffers on the next call).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnedEvent {
    pub bytes: Vec<u8>,
}

impl OwnedEvent {
    pub fn ts(&self) -> u64 {
        u64::from_le_bytes(self.bytes[0..8].try_into().unwrap_or([0; 8]))
    }

    /// The payload of a plugin event (`PPME_PLUGINEVENT_E`: plugin id, then data).
    pub fn plugin_data(&self) -> &[u8] {
        // Checked by `next_batch`: two u32 lengths, 4 bytes of id, then the data.
        self.bytes.get(ffi::EVENT_HEADER + 12..).unwrap_or(&[])
    }
}

impl Instance<'_> {
    /// Calls `next_batch` and appends the events it returns to `out`, each checked: a plugin
    /// event of this plugin's id, its length within the event and [`MAX_EVENT`]. `now_ns`
    /// replaces a timestamp the plugin left unset (`UINT64_MAX`), as Falco does.
    pub fn next_batch(
        &mut self,
        out: &mut Vec<OwnedEvent>,
        now_ns: u64,
    ) -> Result<Batch, PluginError> {
        let p = self.plugin;
        let Some(next) = p.syms.next_batch else {
            return Ok(Batch::Eof);
        };
        let state = p.lock();
        let mut n = 0u32;
        let mut evts: *mut *mut ffi::Event = std::ptr::null_mut();
        // SAFETY: live state and instance under the plugin's lock; `n` and `evts` are writable.
        let rc = unsafe { next(state.0, self.handle, &mut n, &mut evts) };
        match rc {
            ffi::RC_SUCCESS => {}
            ffi::RC_TIMEOUT => {
                if n == 0 {
                    return Ok(Batch::Timeout);
                }
            }
            ffi::RC_EOF => {
                if n == 0 {
                    return Ok(Batch::Eof);
                }
            }
            _ => {
                return Err(PluginError::NextBatch {
                    plugin: p.name.clone(),
                    reason: p.last_error(&state),
                })
            }
        }
        if n > MAX_BATCH {
            return Err(PluginError::garbage(
                &p.name,
                format!("a batch of {n} events"),
            ));
        }
        if n > 0 && evts.is_null() {
            return Err(PluginError::garbage(&p.name, "a batch at NULL"));
        }
        for i in 0..n as usize {
            // SAFETY: `n` event pointers at `evts`, valid until the next call (lock held).
            let e = unsafe { *evts.add(i) };
            if e.is_null() {
                return Err(PluginError::garbage(&p.name, "an event at NULL"));
            }
            // SAFETY: an event starts with its 26-byte header.
            let hdr = unsafe { (e as *const ffi::Event).read_unaligned() };
            let len = hdr.len;
            let ty = hdr.ty;
            if ty != ffi::PLUGIN_EVENT || hdr.nparams != 2 {
                return Err(PluginError::garbage(
                    &p.name,
                    format!("an event of type {ty} (a source plugin produces plugin events)"),
                ));
            }
            if len > MAX_EVENT || (len as usize) < ffi::EVENT_HEADER + 12 {
                return Err(PluginError::garbage(
                    &p.name,
                    format!("an event of {len} bytes"),
                ));
            }
            // SAFETY: the header says the event is `len` bytes long; that is the API's promise.
            let mut bytes =
                unsafe { std::slice::from_raw_parts(e as *const u8, len as usize) }.to_vec();
            let u32_at =
                |b: &[u8], o: usize| u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
            let (id_len, data_len) = (u32_at(&bytes, 26), u32_at(&bytes, 30));
            let id = u32_at(&bytes, 34);
            if id_len != 4
                || ffi::EVENT_HEADER as u64 + 8 + 4 + u64::from(data_len) > u64::from(len)
            {
                return Err(PluginError::garbage(
                    &p.name,
                    "a plugin event whose lengths do not add up",
                ));
            }
            if id != p.id {
                return Err(PluginError::garbage(
                    &p.name,
                    format!("an event of plugin id {id}, not its own {}", p.id),
                ));
            }
            if hdr.ts == u64::MAX {
                bytes[0..8].copy_from_slice(&now_ns.to_le_bytes());
            }
            out.push(OwnedEvent { bytes });
        }
        Ok(if rc == ffi::RC_EOF {
            Batch::Eof
        } else {
            Batch::Events
        })
    }
}

impl Drop for Instance<'_> {
    fn drop(&mut self) {
        if let Some(close) = self.plugin.syms.close {
            let state = self.plugin.lock();
            // SAFETY: the instance came from a successful open and is closed once, here.
            unsafe { close(state.0, self.handle) };
        }
    }
}

/// Appends one extracted value to `out`.
pub(crate) fn push_value(v: peregrine_filter::ValueRef<'_>, out: &mut Extracted) {
    match v {
        peregrine_filter::ValueRef::Bytes(b) => out.push_bytes(b),
        peregrine_filter::ValueRef::Bool(b) => out.push(Slot::Bool(b)),
        peregrine_filter::ValueRef::UInt(u) => out.push(Slot::UInt(u)),
        peregrine_filter::ValueRef::Ip(ip) => out.push(Slot::Ip(ip)),
        _ => {}
    }
}
