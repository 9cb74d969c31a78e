//! The C ABI of Falco's plugin API 3.x (`plugin_api.h`, `plugin_types.h` of falcosecurity/libs),
//! written out by hand for what the host calls: the symbols a plugin exports and the structs
//! passed to them. Layouts are checked at compile time against the header's sizes and offsets
//! (the `const` blocks), so a mistake here fails the build instead of corrupting memory.

use std::ffi::{c_char, c_void};
use std::mem::{offset_of, size_of};

/// The plugin API version this host implements (`PLUGIN_API_VERSION_*` of the header it
/// follows): a plugin requiring 3.N with N ≤ 11 is compatible.
pub const API_MAJOR: u32 = 3;
pub const API_MINOR: u32 = 11;
pub const API_PATCH: u32 = 0;

pub type Rc = i32;
pub const RC_SUCCESS: Rc = 0;
pub const RC_FAILURE: Rc = 1;
pub const RC_TIMEOUT: Rc = -1;
pub const RC_EOF: Rc = 2;
pub const RC_NOT_SUPPORTED: Rc = 3;

pub const SCHEMA_JSON: u32 = 1;

/// `ss_plugin_field_type`.
pub const FTYPE_UINT64: u32 = 8;
pub const FTYPE_STRING: u32 = 9;
pub const FTYPE_RELTIME: u32 = 20;
pub const FTYPE_ABSTIME: u32 = 21;
pub const FTYPE_BOOL: u32 = 25;
pub const FTYPE_IPADDR: u32 = 40;
pub const FTYPE_IPNET: u32 = 41;

/// `PPME_PLUGINEVENT_E`: the one event type a source plugin with an id may produce.
pub const PLUGIN_EVENT: u16 = 322;

/// `ss_plugin_event`: the header of a scap event (packed, 26 bytes); the parameter lengths
/// and values follow it in the same buffer.
#[repr(C, packed)]
#[derive(Clone, Copy, Debug)]
pub struct Event {
    pub ts: u64,
    pub tid: u64,
    pub len: u32,
    pub ty: u16,
    pub nparams: u32,
}
pub const EVENT_HEADER: usize = 26;

#[repr(C)]
pub struct EventInput {
    pub evt: *const Event,
    pub evtnum: u64,
    pub evtsrc: *const c_char,
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct ByteBuffer {
    pub len: u32,
    pub ptr: *const c_void,
}

/// `ss_plugin_extract_field`: one request in, its values out (`res` points at `res_len`
/// values of the field's type, owned by the plugin until its next call).
#[repr(C)]
pub struct ExtractField {
    pub res: *mut c_void,
    pub res_len: u64,
    pub field_id: u32,
    pub field: *const c_char,
    pub arg_key: *const c_char,
    pub arg_index: u64,
    pub arg_present: u32,
    pub ftype: u32,
    pub flist: u32,
}

pub type GetOwnerLastError = unsafe extern "C" fn(*mut c_void) -> *const c_char;
pub type LogFn = unsafe extern "C" fn(*mut c_void, *const c_char, *const c_char, u32);

/// A table vtable the host does not implement: every entry NULL, which the API allows for a
/// host without tables (the SDKs check each entry before calling it). Large enough for the
/// header's extended reader, writer and fields vtables.
#[repr(C)]
pub struct NoTables(pub [usize; 16]);

#[repr(C)]
pub struct InitInput {
    pub config: *const c_char,
    pub owner: *mut c_void,
    pub get_owner_last_error: Option<GetOwnerLastError>,
    pub tables: *const c_void,
    pub log_fn: Option<LogFn>,
}

#[repr(C)]
pub struct FieldExtractInput {
    pub owner: *mut c_void,
    pub get_owner_last_error: Option<GetOwnerLastError>,
    pub num_fields: u32,
    pub fields: *mut ExtractField,
    /// `ss_plugin_table_reader_vtable` by value: four function pointers.
    pub table_reader: [usize; 4],
    pub table_reader_ext: *mut NoTables,
    pub value_offsets: *mut c_void,
}

#[repr(C)]
pub struct EventParseInput {
    pub owner: *mut c_void,
    pub get_owner_last_error: Option<GetOwnerLastError>,
    /// `ss_plugin_table_reader_vtable` and `ss_plugin_table_writer_vtable` by value.
    pub table_reader: [usize; 4],
    pub table_writer: [usize; 6],
    pub table_reader_ext: *mut NoTables,
    pub table_writer_ext: *mut NoTables,
}

// The header's sizes and offsets (x86_64 and aarch64 alike: LP64).
const _: () = {
    assert!(size_of::<Event>() == EVENT_HEADER);
    assert!(size_of::<EventInput>() == 24);
    assert!(size_of::<ByteBuffer>() == 16);
    assert!(size_of::<ExtractField>() == 64);
    assert!(offset_of!(ExtractField, field_id) == 16);
    assert!(offset_of!(ExtractField, arg_index) == 40);
    assert!(offset_of!(ExtractField, flist) == 56);
    assert!(size_of::<InitInput>() == 40);
    assert!(size_of::<FieldExtractInput>() == 80);
    assert!(offset_of!(FieldExtractInput, table_reader_ext) == 64);
    assert!(size_of::<EventParseInput>() == 112);
};

// Symbols (`plugin_*`), as the header's `plugin_api` struct lists them.
pub type GetStr = unsafe extern "C" fn() -> *const c_char;
pub type GetInitSchema = unsafe extern "C" fn(*mut u32) -> *const c_char;
pub type Init = unsafe extern "C" fn(*const InitInput, *mut Rc) -> *mut c_void;
pub type Destroy = unsafe extern "C" fn(*mut c_void);
pub type GetLastError = unsafe extern "C" fn(*mut c_void) -> *const c_char;
pub type GetId = unsafe extern "C" fn() -> u32;
pub type Open = unsafe extern "C" fn(*mut c_void, *const c_char, *mut Rc) -> *mut c_void;
pub type Close = unsafe extern "C" fn(*mut c_void, *mut c_void);
pub type NextBatch =
    unsafe extern "C" fn(*mut c_void, *mut c_void, *mut u32, *mut *mut *mut Event) -> Rc;
pub type EventToString = unsafe extern "C" fn(*mut c_void, *const EventInput) -> *const c_char;
pub type ExtractFields =
    unsafe extern "C" fn(*mut c_void, *const EventInput, *const FieldExtractInput) -> Rc;
pub type ParseEvent =
    unsafe extern "C" fn(*mut c_void, *const EventInput, *const EventParseInput) -> Rc;
