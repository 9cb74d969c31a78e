//! Load results: every error and warning of a rules file with Falco's code, its context (the chain
//! of items it sits in, each with file, line and column) and the rendering Falco gives them with
//! `-V` (text) and `-V … -o json_output=true` (JSON).
//!
//! The codes and their descriptions are closed enums, not strings, so a caller can match on them;
//! the text forms are Falco's verbatim because users and test suites grep for them.

use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;

/// Falco's `load_result::error_code`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    FileRead,
    YamlParse,
    YamlValidate,
    CompileCondition,
    CompileOutput,
    Validate,
    Extension,
}

impl ErrorCode {
    pub fn code(self) -> &'static str {
        match self {
            ErrorCode::FileRead => "LOAD_ERR_FILE_READ",
            ErrorCode::YamlParse => "LOAD_ERR_YAML_PARSE",
            ErrorCode::YamlValidate => "LOAD_ERR_YAML_VALIDATE",
            ErrorCode::CompileCondition => "LOAD_ERR_COMPILE_CONDITION",
            ErrorCode::CompileOutput => "LOAD_ERR_COMPILE_OUTPUT",
            ErrorCode::Validate => "LOAD_ERR_VALIDATE",
            ErrorCode::Extension => "LOAD_ERR_EXTENSION",
        }
    }

    /// The short description, shown in parentheses after the code. Falco's JSON `codedesc` for
    /// errors is this same short text (its `error_desc` returns the short table).
    pub fn title(self) -> &'static str {
        match self {
            ErrorCode::FileRead => "File read error",
            ErrorCode::YamlParse => "YAML parse error",
            ErrorCode::YamlValidate => "Error validating internal structure of YAML file",
            ErrorCode::CompileCondition => "Error compiling condition",
            ErrorCode::CompileOutput => "Error compiling output",
            ErrorCode::Validate => "Error validating rule/macro/list/exception objects",
            ErrorCode::Extension => "Error in extension item",
        }
    }
}

/// Falco's `load_result::warning_code`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WarningCode {
    UnknownSource,
    UnsafeNaCheck,
    NoEvttype,
    UnknownFilter,
    UnusedMacro,
    UnusedList,
    UnknownItem,
    DeprecatedItem,
    WarningExtension,
    AppendNoValues,
    ExceptionNameNotUnique,
    InvalidMacroName,
    InvalidListName,
    CompileCondition,
    UnknownKey,
}

impl WarningCode {
    pub fn code(self) -> &'static str {
        match self {
            WarningCode::UnknownSource => "LOAD_UNKNOWN_SOURCE",
            WarningCode::UnsafeNaCheck => "LOAD_UNSAFE_NA_CHECK",
            WarningCode::NoEvttype => "LOAD_NO_EVTTYPE",
            WarningCode::UnknownFilter => "LOAD_UNKNOWN_FILTER",
            WarningCode::UnusedMacro => "LOAD_UNUSED_MACRO",
            WarningCode::UnusedList => "LOAD_UNUSED_LIST",
            WarningCode::UnknownItem => "LOAD_UNKNOWN_ITEM",
            WarningCode::DeprecatedItem => "LOAD_DEPRECATED_ITEM",
            WarningCode::WarningExtension => "LOAD_WARNING_EXTENSION",
            WarningCode::AppendNoValues => "LOAD_APPEND_NO_VALUES",
            WarningCode::ExceptionNameNotUnique => "LOAD_EXCEPTION_NAME_NOT_UNIQUE",
            WarningCode::InvalidMacroName => "LOAD_INVALID_MACRO_NAME",
            WarningCode::InvalidListName => "LOAD_INVALID_LIST_NAME",
            WarningCode::CompileCondition => "LOAD_COMPILE_CONDITION",
            WarningCode::UnknownKey => "LOAD_UNKNOWN_KEY",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            WarningCode::UnknownSource => "Unknown event source",
            WarningCode::UnsafeNaCheck => "Unsafe <NA> comparison in condition",
            WarningCode::NoEvttype => "Condition has no event-type restriction",
            WarningCode::UnknownFilter => "Unknown field or event-type in condition or output",
            WarningCode::UnusedMacro => "Unused macro",
            WarningCode::UnusedList => "Unused list",
            WarningCode::UnknownItem => "Unknown rules file item",
            WarningCode::DeprecatedItem => "Used deprecated item",
            WarningCode::WarningExtension => "Warning in extension item",
            WarningCode::AppendNoValues => "Overriding/appending with no values",
            WarningCode::ExceptionNameNotUnique => "Multiple exceptions defined with the same name",
            WarningCode::InvalidMacroName => "Invalid macro name",
            WarningCode::InvalidListName => "Invalid list name",
            WarningCode::CompileCondition => "Warning in rule condition",
            WarningCode::UnknownKey => "Unknown key in item definition",
        }
    }

    /// The long description (JSON `codedesc`).
    pub fn description(self) -> &'static str {
        match self {
            WarningCode::UnknownSource => "A rule has a unknown event source. This can occur when reading rules content without having a corresponding plugin loaded, etc. The rule will be silently ignored.",
            WarningCode::UnsafeNaCheck => "Comparing a field value with <NA> is unsafe and can lead to unpredictable behavior of the rule condition. If you need to check for the existence of a field, consider using the 'exists' operator instead.",
            WarningCode::NoEvttype => "A rule condition matches too many evt.type values. This has a significant performance penalty. Make the condition more specific by adding an evt.type field or further restricting the number of evt.type values in the condition.",
            WarningCode::UnknownFilter => "A rule condition or output refers to a field or evt.type that does not exist. This is normally an error, but if a rule has a skip-if-unknown-filter property, the error is downgraded to a warning.",
            WarningCode::UnusedMacro => "A macro is defined in the rules content but is not used by any other macro or rule.",
            WarningCode::UnusedList => "A list is defined in the rules content but is not used by any other list, macro, or rule.",
            WarningCode::UnknownItem => "An unknown top-level object is in the rules content. It will be ignored.",
            WarningCode::DeprecatedItem => "A deprecated item is employed by lists, macros, or rules.",
            WarningCode::WarningExtension => "An extension item has a warning",
            WarningCode::AppendNoValues => "A rule exception is overriding/appending with no values",
            WarningCode::ExceptionNameNotUnique => "A rule is defining multiple exceptions with the same name",
            WarningCode::InvalidMacroName => "A macro is defined with an invalid name",
            WarningCode::InvalidListName => "A list is defined with an invalid name",
            WarningCode::CompileCondition => "A rule condition or output have been parsed with a warning",
            WarningCode::UnknownKey => "An item in the rules content contains an unrecognized key. The key will be ignored. This may indicate a typo or a property placed on the wrong item type.",
        }
    }
}

/// What a context location points at (Falco's `context::item_type`, with its wording).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ItemType {
    ValueFor,
    Exceptions,
    Exception,
    ExceptionValues,
    ExceptionValue,
    RulesContent,
    RulesContentItem,
    RequiredEngineVersion,
    RequiredPluginVersions,
    RequiredPluginVersionsEntry,
    RequiredPluginVersionsAlternative,
    List,
    ListItem,
    Macro,
    MacroCondition,
    Rule,
    RuleCondition,
    ConditionExpression,
    RuleOutput,
    RuleOutputExpression,
    RulePriority,
    Overrides,
    ExtensionItem,
}

impl ItemType {
    pub fn as_str(self) -> &'static str {
        match self {
            ItemType::ValueFor => "value for",
            ItemType::Exceptions => "exceptions",
            ItemType::Exception => "exception",
            ItemType::ExceptionValues => "exception values",
            ItemType::ExceptionValue => "exception value",
            ItemType::RulesContent => "rules content",
            ItemType::RulesContentItem => "rules content item",
            ItemType::RequiredEngineVersion => "required_engine_version",
            ItemType::RequiredPluginVersions => "required plugin versions",
            ItemType::RequiredPluginVersionsEntry => "required plugin versions entry",
            ItemType::RequiredPluginVersionsAlternative => "required plugin versions alternative",
            ItemType::List => "list",
            ItemType::ListItem => "list item",
            ItemType::Macro => "macro",
            ItemType::MacroCondition => "macro condition",
            ItemType::Rule => "rule",
            ItemType::RuleCondition => "rule condition",
            ItemType::ConditionExpression => "condition expression",
            ItemType::RuleOutput => "rule output",
            ItemType::RuleOutputExpression => "rule output expression",
            ItemType::RulePriority => "rule priority",
            ItemType::Overrides => "overrides",
            ItemType::ExtensionItem => "extension item",
        }
    }
}

/// A position: byte offset, line and column as Falco prints them (0-based for YAML marks; a
/// condition position adds the parser's 1-based line/column to its YAML node's mark).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Position {
    pub offset: usize,
    pub line: usize,
    pub column: usize,
}

/// One step of a context chain: `rule 'X': (file:line:col)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    /// The file name, or for a condition the quoted start of the condition text.
    pub name: Arc<str>,
    pub pos: Position,
    pub item_type: ItemType,
    pub item_name: String,
}

/// A link of the chain, pointing at its parent: contexts are made for every item and value
/// read, so making a child must not copy the whole chain.
#[derive(Debug, PartialEq, Eq)]
struct Link {
    loc: Location,
    parent: Option<Arc<Link>>,
}

/// Where a problem is: the chain of items from the rules content down to the value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Context {
    last: Arc<Link>,
    /// For positions inside a condition: the condition text the snippet is taken from.
    alt_content: Option<Arc<str>>,
}

impl Context {
    /// The root context of a rules content (the whole document).
    pub fn root(name: &str) -> Context {
        Context {
            last: Arc::new(Link {
                loc: Location {
                    name: Arc::from(name),
                    pos: Position::default(),
                    item_type: ItemType::RulesContent,
                    item_name: String::new(),
                },
                parent: None,
            }),
            alt_content: None,
        }
    }

    /// A child context at `pos` of the same file.
    pub fn child(&self, pos: Position, item_type: ItemType, item_name: &str) -> Context {
        Context {
            last: Arc::new(Link {
                loc: Location {
                    name: self.file_name_arc(),
                    pos,
                    item_type,
                    item_name: item_name.to_string(),
                },
                parent: Some(self.last.clone()),
            }),
            alt_content: None,
        }
    }

    /// A context inside `condition`, at a parser position (1-based line/col, byte index) added
    /// to this context's last position, like Falco does.
    pub fn in_condition(&self, idx: usize, line: usize, col: usize, condition: &str) -> Context {
        let mut short: String = if condition.chars().count() > 20 {
            let head: String = condition.chars().take(17).collect();
            format!("\"{head}...\"")
        } else {
            format!("\"{condition}\"")
        };
        short = short.replace(['\n', '\r'], " ");
        let last = self.last.loc.pos;
        Context {
            last: Arc::new(Link {
                loc: Location {
                    name: Arc::from(short),
                    pos: Position {
                        offset: idx + last.offset,
                        line: line + last.line,
                        column: col + last.column,
                    },
                    item_type: ItemType::ConditionExpression,
                    item_name: String::new(),
                },
                parent: Some(self.last.clone()),
            }),
            alt_content: Some(Arc::from(condition)),
        }
    }

    /// The locations, from the rules content down.
    pub fn locations(&self) -> Vec<&Location> {
        let mut out = Vec::new();
        let mut cur = Some(&self.last);
        while let Some(l) = cur {
            out.push(&l.loc);
            cur = l.parent.as_ref();
        }
        out.reverse();
        out
    }

    fn file_name_arc(&self) -> Arc<str> {
        let mut cur = &self.last;
        while let Some(p) = &cur.parent {
            cur = p;
        }
        cur.loc.name.clone()
    }

    pub fn file_name(&self) -> String {
        self.file_name_arc().to_string()
    }

    /// The `In rules content: (…)` lines.
    pub fn as_text(&self) -> String {
        let mut out = String::new();
        for (i, loc) in self.locations().into_iter().enumerate() {
            out.push_str(if i == 0 { "In " } else { "    " });
            out.push_str(loc.item_type.as_str());
            if !loc.item_name.is_empty() {
                out.push_str(&format!(" '{}'", loc.item_name));
            }
            out.push_str(&format!(
                ": ({}:{}:{})\n",
                loc.name, loc.pos.line, loc.pos.column
            ));
        }
        out
    }

    pub fn as_json(&self) -> Value {
        let locs: Vec<Value> = self
            .locations()
            .into_iter()
            .map(|l| {
                json!({
                    "item_type": l.item_type.as_str(),
                    "item_name": l.item_name,
                    "position": {
                        "name": &*l.name,
                        "line": l.pos.line,
                        "column": l.pos.column,
                        "offset": l.pos.offset,
                    }
                })
            })
            .collect();
        json!({ "locations": locs })
    }

    /// The line around the last location with a caret under the position (Falco's snippet,
    /// 160 characters wide at most).
    pub fn snippet(&self, contents: &HashMap<String, String>) -> String {
        const WIDTH: usize = 160;
        let loc = &self.last.loc;
        let content: &str = match &self.alt_content {
            Some(c) if !c.is_empty() => c,
            _ => match contents.get(&*loc.name) {
                Some(c) => c,
                None => return format!("<No context for file + {}>\n", loc.name),
            },
        };
        let bytes = content.as_bytes();
        if bytes.is_empty() {
            return "<No context available>\n".to_string();
        }
        let mut pos = loc.pos.offset;
        while pos > 0 && (pos >= bytes.len() || bytes[pos] == b'\n') {
            pos -= 1;
        }
        let mut from = pos;
        while from > 0 && bytes[from] != b'\n' && (pos - from) < WIDTH / 2 {
            from -= 1;
        }
        let mut to = pos;
        while to + 1 < bytes.len() && bytes[to] != b'\n' && (to - pos) < WIDTH / 2 {
            to += 1;
        }
        if from < bytes.len() && bytes[from] == b'\n' {
            from += 1;
        }
        if to < bytes.len() && bytes[to] == b'\n' && to > 0 {
            to -= 1;
        }
        if to < from {
            return "<No context available>\n".to_string();
        }
        let mut ret = bytes[from..=to].to_vec();
        if ret.is_empty() {
            return "<No context available>\n".to_string();
        }
        if pos - from >= WIDTH / 2 && ret.len() >= 3 {
            ret[..3].copy_from_slice(b"...");
        }
        if to - pos >= WIDTH / 2 && ret.len() >= 3 {
            let n = ret.len();
            ret[n - 3..].copy_from_slice(b"...");
        }
        let mut out = String::from_utf8_lossy(&ret).into_owned();
        out.push('\n');
        if pos - from < ret.len() + 1 {
            out.push_str(&" ".repeat(pos - from));
            out.push_str("^\n");
        }
        out
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadError {
    pub code: ErrorCode,
    pub message: String,
    pub context: Context,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadWarning {
    pub code: WarningCode,
    pub message: String,
    pub context: Context,
}

/// The outcome of loading one rules content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadResult {
    pub name: String,
    pub errors: Vec<LoadError>,
    pub warnings: Vec<LoadWarning>,
}

impl LoadResult {
    pub fn new(name: &str) -> LoadResult {
        LoadResult {
            name: name.to_string(),
            errors: Vec::new(),
            warnings: Vec::new(),
        }
    }

    pub fn successful(&self) -> bool {
        self.errors.is_empty()
    }

    pub fn error(&mut self, code: ErrorCode, message: impl Into<String>, context: &Context) {
        self.errors.push(LoadError {
            code,
            message: message.into(),
            context: context.clone(),
        });
    }

    pub fn warn(&mut self, code: WarningCode, message: impl Into<String>, context: &Context) {
        self.warnings.push(LoadWarning {
            code,
            message: message.into(),
            context: context.clone(),
        });
    }

    fn status(&self) -> String {
        let mut os = String::new();
        if !self.name.is_empty() {
            os.push_str(&self.name);
            os.push_str(": ");
        }
        if self.successful() {
            os.push_str("Ok");
            if !self.warnings.is_empty() {
                os.push_str(", with warnings");
            }
        } else {
            os.push_str("Invalid");
        }
        os
    }

    /// Falco's summary form (`-V` without verbosity).
    pub fn as_summary_text(&self) -> String {
        let mut os = self.status();
        if !self.errors.is_empty() {
            let codes: Vec<String> = self
                .errors
                .iter()
                .map(|e| format!("{} ({})", e.code.code(), e.code.title()))
                .collect();
            os.push_str(&format!(
                "\n {} errors: [{}]",
                self.errors.len(),
                codes.join(" ")
            ));
        }
        if !self.warnings.is_empty() {
            let codes: Vec<String> = self
                .warnings
                .iter()
                .map(|w| format!("{} ({})", w.code.code(), w.code.title()))
                .collect();
            os.push_str(&format!(
                "\n {} warnings: [{}]",
                self.warnings.len(),
                codes.join(" ")
            ));
        }
        os
    }

    /// Falco's verbose form, as `falco -V file` prints it.
    pub fn as_text(&self, contents: &HashMap<String, String>) -> String {
        let mut os = self.status();
        if !self.errors.is_empty() {
            os.push_str(&format!("\n{} Errors:\n", self.errors.len()));
            for e in &self.errors {
                os.push_str(&e.context.as_text());
                os.push_str("------\n");
                os.push_str(&e.context.snippet(contents));
                os.push_str("------\n");
                os.push_str(&format!(
                    "{} ({}): {}\n",
                    e.code.code(),
                    e.code.title(),
                    e.message
                ));
            }
        }
        if !self.warnings.is_empty() {
            os.push_str(&format!("\n{} Warnings:\n", self.warnings.len()));
            for w in &self.warnings {
                os.push_str(&w.context.as_text());
                os.push_str("------\n");
                os.push_str(&w.context.snippet(contents));
                os.push_str("------\n");
                os.push_str(&format!(
                    "{} ({}): {}\n",
                    w.code.code(),
                    w.code.title(),
                    w.message
                ));
            }
        }
        os
    }

    pub fn as_json(&self, contents: &HashMap<String, String>) -> Value {
        let errors: Vec<Value> = self
            .errors
            .iter()
            .map(|e| {
                let mut ctx = e.context.as_json();
                ctx["snippet"] = Value::String(e.context.snippet(contents));
                json!({
                    "context": ctx,
                    "code": e.code.code(),
                    "codedesc": e.code.title(),
                    "message": e.message,
                })
            })
            .collect();
        let warnings: Vec<Value> = self
            .warnings
            .iter()
            .map(|w| {
                let mut ctx = w.context.as_json();
                ctx["snippet"] = Value::String(w.context.snippet(contents));
                json!({
                    "context": ctx,
                    "code": w.code.code(),
                    "codedesc": w.code.description(),
                    "message": w.message,
                })
            })
            .collect();
        json!({
            "name": self.name,
            "successful": self.successful(),
            "errors": errors,
            "warnings": warnings,
        })
    }
}

/// The results of every rules content loaded, in load order, with the contents themselves (the
/// snippets are cut from them).
#[derive(Clone, Debug, Default)]
pub struct LoadResults {
    pub results: Vec<LoadResult>,
    pub contents: HashMap<String, String>,
}

impl LoadResults {
    pub fn successful(&self) -> bool {
        self.results.iter().all(LoadResult::successful)
    }

    pub fn has_warnings(&self) -> bool {
        self.results.iter().any(|r| !r.warnings.is_empty())
    }

    pub fn errors(&self) -> impl Iterator<Item = &LoadError> {
        self.results.iter().flat_map(|r| r.errors.iter())
    }

    pub fn warnings(&self) -> impl Iterator<Item = &LoadWarning> {
        self.results.iter().flat_map(|r| r.warnings.iter())
    }

    /// What `falco -V f1 -V f2` prints: one verbose block per content.
    pub fn as_text(&self) -> String {
        self.results
            .iter()
            .map(|r| r.as_text(&self.contents))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// `{"falco_load_results": [...]}` as `-o json_output=true` prints it.
    pub fn as_json(&self) -> Value {
        let list: Vec<Value> = self
            .results
            .iter()
            .map(|r| r.as_json(&self.contents))
            .collect();
        json!({ "falco_load_results": list })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snippet_points_at_the_position() {
        let mut contents = HashMap::new();
        contents.insert("f.yaml".to_string(), "- rule: x\n  desc: y\n".to_string());
        let ctx = Context::root("f.yaml").child(
            Position {
                offset: 12,
                line: 1,
                column: 2,
            },
            ItemType::Rule,
            "x",
        );
        assert_eq!(ctx.snippet(&contents), "  desc: y\n  ^\n");
        assert_eq!(
            ctx.as_text(),
            "In rules content: (f.yaml:0:0)\n    rule 'x': (f.yaml:1:2)\n"
        );
    }

    #[test]
    fn condition_context_shortens_the_name() {
        let ctx = Context::root("f").child(
            Position {
                offset: 10,
                line: 2,
                column: 13,
            },
            ItemType::RuleCondition,
            "",
        );
        let c = ctx.in_condition(4, 1, 5, "evt.type=open and\nproc.name=cat");
        let locs = c.locations();
        let last = locs.last().expect("loc");
        assert_eq!(&*last.name, "\"evt.type=open and...\"");
        assert_eq!(
            last.pos,
            Position {
                offset: 14,
                line: 3,
                column: 18
            }
        );
        // Falco adds the YAML offset to the parser index and cuts the snippet from the
        // condition text with it; we keep that so snippets match byte for byte.
        assert_eq!(
            c.snippet(&HashMap::new()),
            format!("evt.type=open and\n{}^\n", " ".repeat(14))
        );
    }
}
