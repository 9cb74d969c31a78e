//! The items of a rules file as the reader decodes them, before any condition is parsed:
//! Falco's `list_info`, `macro_info`, `rule_info`, `rule_update_info` and
//! `rule_exception_info`. Conditions stay text here because lists are substituted textually.

use crate::result::Context;
use std::collections::BTreeSet;

/// Rule priorities live in the condition-language crate, below rules and outputs; this path
/// stays for the rules crate's users.
pub use peregrine_filter::priority::Priority;

#[derive(Clone, Debug)]
pub struct ListInfo {
    pub name: String,
    pub items: Vec<String>,
    pub ctx: Context,
    pub index: u32,
    pub visibility: u32,
}

#[derive(Clone, Debug)]
pub struct MacroInfo {
    pub name: String,
    pub cond: String,
    pub ctx: Context,
    pub cond_ctx: Context,
    pub index: u32,
    pub visibility: u32,
}

/// One of an exception's `fields`, `comps` or `values` entries: a string or a list of entries.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Entry {
    pub is_list: bool,
    pub item: String,
    pub items: Vec<Entry>,
}

impl Entry {
    pub fn scalar(s: &str) -> Entry {
        Entry {
            is_list: false,
            item: s.to_string(),
            items: Vec::new(),
        }
    }

    /// Falco's `entry::is_valid`: a non-empty string or a non-empty list.
    pub fn is_valid(&self) -> bool {
        (self.is_list && !self.items.is_empty()) || (!self.is_list && !self.item.is_empty())
    }
}

#[derive(Clone, Debug)]
pub struct ExceptionInfo {
    pub name: String,
    pub fields: Entry,
    pub comps: Entry,
    pub values: Vec<Entry>,
    pub ctx: Context,
}

#[derive(Clone, Debug)]
pub struct RuleInfo {
    pub name: String,
    pub cond: String,
    pub cond_ctx: Context,
    pub output: String,
    pub output_ctx: Context,
    pub desc: String,
    pub priority: Priority,
    pub source: String,
    pub tags: BTreeSet<String>,
    pub exceptions: Vec<ExceptionInfo>,
    pub enabled: bool,
    pub warn_evttypes: bool,
    pub skip_if_unknown_filter: bool,
    pub capture: bool,
    pub capture_duration: u32,
    pub unknown_source: bool,
    pub ctx: Context,
    pub index: u32,
    pub visibility: u32,
}

/// An append or a selective replace of an existing rule: only the keys given are set.
#[derive(Clone, Debug, Default)]
pub struct RuleUpdate {
    pub name: String,
    /// The `source` key, when the update names one: it must match the rule's.
    pub source: Option<String>,
    pub cond: Option<String>,
    pub cond_ctx: Option<Context>,
    pub output: Option<String>,
    pub desc: Option<String>,
    pub tags: Option<BTreeSet<String>>,
    pub exceptions: Option<Vec<ExceptionInfo>>,
    pub priority: Option<Priority>,
    pub enabled: Option<bool>,
    pub warn_evttypes: Option<bool>,
    pub skip_if_unknown_filter: Option<bool>,
    pub capture: Option<bool>,
    pub capture_duration: Option<u32>,
}

impl RuleUpdate {
    pub fn has_any_value(&self) -> bool {
        self.cond.as_ref().is_some_and(|c| !c.is_empty())
            || self.output.as_ref().is_some_and(|c| !c.is_empty())
            || self.desc.as_ref().is_some_and(|c| !c.is_empty())
            || self.tags.is_some()
            || self.exceptions.is_some()
            || self.priority.is_some()
            || self.enabled.is_some()
            || self.warn_evttypes.is_some()
            || self.skip_if_unknown_filter.is_some()
            || self.capture.is_some()
            || self.capture_duration.is_some()
    }
}
