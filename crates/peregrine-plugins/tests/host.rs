//! The host against real plugins built here with Falco's Rust SDK (`test-plugins/`): loading,
//! what they declare, sourcing, extraction on plugin and syscall events, rules over a plugin
//! source, and plugins that fail or return garbage.

use std::sync::Arc;

use peregrine_engine::{AlertSink, Engine, Match, Settings, SourcePipeline};
use peregrine_filter::fields::resolve_text;
use peregrine_filter::{Extracted, ValueRef};
use peregrine_plugins::{
    c_source, encode, Batch, ErrorLog, FieldCache, Host, Plugin, PluginConfig, PluginError,
    SourceFields,
};
use peregrine_rules::{Matching, RulesInput};
use peregrine_testkit::plugins::test_plugin;

fn config(name: &str, init: &str) -> PluginConfig {
    PluginConfig {
        name: name.into(),
        library_path: test_plugin(name),
        init_config: init.into(),
        open_params: String::new(),
    }
}

/// Every event of an instance until its end.
fn drain(p: &Plugin, params: &str) -> Result<Vec<peregrine_plugins::OwnedEvent>, PluginError> {
    let mut inst = p.open(params)?;
    let mut out = Vec::new();
    loop {
        match inst.next_batch(&mut out, 1)? {
            Batch::Eof => return Ok(out),
            Batch::Events | Batch::Timeout => {}
        }
    }
}

#[test]
fn a_source_plugin_declares_itself_and_produces_its_events() {
    let p = Plugin::load(&config("ticker", r#"{"batch": 3}"#)).unwrap();
    assert_eq!(p.name, "ticker");
    assert_eq!(p.version, "0.3.1");
    assert_eq!(p.description, "Counts ticks: a test source plugin");
    assert!(p.caps.sourcing && p.caps.extraction && !p.caps.parsing);
    assert_eq!((p.id, p.event_source.as_deref()), (999, Some("ticker")));
    let names: Vec<&str> = p.fields.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["ticker.n", "ticker.msg", "ticker.even"]);
    assert_eq!(p.extract_sources, ["ticker"]);
    assert!(p.init_schema.as_deref().unwrap().contains("fail_after"));

    let events = drain(&p, "7").unwrap();
    assert_eq!(events.len(), 7);
    let data: Vec<&[u8]> = events.iter().map(|e| e.plugin_data()).collect();
    assert_eq!(data[0], b"tick 0");
    assert_eq!(data[6], b"tick 6");
    assert_eq!(events[2].ts(), 1_700_000_000_000_002_000);
    assert_eq!(p.event_to_string(&events[5], 6).unwrap(), "tick number 5");
}

#[derive(Default)]
struct Collect(Vec<(String, String)>);

impl AlertSink for Collect {
    fn alert(&mut self, m: &Match<'_>) {
        self.0.push((m.rule.name.clone(), m.output.to_string()));
    }
}

const TICKER_RULES: &str = r#"
- required_plugin_versions:
  - name: ticker
    version: 0.3.0
- rule: Even tick
  desc: an even tick past the first two
  condition: ticker.even = true and ticker.n > 2
  output: tick %ticker.n (%ticker.msg) info=%evt.plugininfo source=%evt.source plugin=%evt.pluginname
  priority: WARNING
  source: ticker
"#;

#[test]
fn rules_on_a_plugin_source_fire_with_its_fields_in_the_output() {
    let host = Host::load(&[config("ticker", "")]).unwrap();
    let loaded = peregrine_rules::load::load_with(
        &[RulesInput::Text {
            name: "ticker_rules.yaml".into(),
            content: TICKER_RULES.into(),
        }],
        &host.native_plugins(),
    );
    assert!(loaded.successful(), "{}", loaded.report(false));
    let engine = Engine::new(
        loaded.ruleset,
        Settings {
            matching: Matching::All,
            ..Settings::default()
        },
    );
    let p = host.get("ticker").unwrap();
    let events = drain(p, "8").unwrap();
    let mut pipe = SourcePipeline::new(Arc::new(engine), "ticker");
    let mut sink = Collect::default();
    let mut errors = ErrorLog::default();
    let mut cache = FieldCache::default();
    let src_name = c_source(p);
    for (i, e) in events.iter().enumerate() {
        let mut src = SourceFields {
            host: &host,
            plugin: p,
            event: e,
            num: i as u64 + 1,
            hostname: "h",
            c_source: &src_name,
            errors: &mut errors,
            cache: &mut cache,
        };
        pipe.process(&mut src, e.ts(), &mut sink);
    }
    assert_eq!(errors.total, 0);
    // ticker.even of all 8 events, ticker.n of the 4 even ones, ticker.msg of the 2 matches:
    // the output's ticker.n comes from the condition's extraction of the same event.
    assert_eq!(cache.calls, 8 + 4 + 2);
    let outputs: Vec<&str> = sink.0.iter().map(|(_, o)| o.as_str()).collect();
    assert_eq!(
        outputs,
        [
            "tick 4 (tick 4) info=tick number 4 source=ticker plugin=ticker",
            "tick 6 (tick 6) info=tick number 6 source=ticker plugin=ticker",
        ]
    );
}

#[test]
fn a_required_version_above_the_plugin_fails_with_falcos_message() {
    let host = Host::load(&[config("ticker", "")]).unwrap();
    let rules = TICKER_RULES.replace("version: 0.3.0", "version: 0.4.0");
    let loaded = peregrine_rules::load::load_with(
        &[RulesInput::Text {
            name: "ticker_rules.yaml".into(),
            content: rules,
        }],
        &host.native_plugins(),
    );
    assert!(!loaded.successful());
    let report = loaded.report(false);
    assert!(
        report.contains("Plugin requirement not satisfied, must load one of: ticker (>= 0.4.0)"),
        "{report}"
    );
}

#[test]
fn init_config_is_checked_against_the_plugins_schema() {
    let e = Plugin::load(&config("ticker", r#"{"batch": 1, "bogus": 2}"#)).unwrap_err();
    assert_eq!(
        e.to_string(),
        "plugin ticker: invalid init_config: init_config.bogus: unknown property"
    );
    let e = Plugin::load(&config("ticker", r#"{"batch": "many"}"#)).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("plugin ticker: invalid init_config: init_config.batch: expected"),
        "{e}"
    );
}

#[test]
fn a_failing_next_batch_is_an_error_naming_the_plugin() {
    let p = Plugin::load(&config("ticker", r#"{"fail_after": 3, "batch": 2}"#)).unwrap();
    let e = drain(&p, "10").unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.starts_with("plugin ticker: next_batch failed:"),
        "{msg}"
    );
    assert!(msg.contains("the ticker broke after 3 ticks"), "{msg}");
    // The plugin is still usable: a new instance produces events again.
    assert_eq!(drain(&p, "2").unwrap().len(), 2);
}

#[test]
fn a_bad_open_params_is_reported_with_the_plugin_name() {
    let p = Plugin::load(&config("ticker", "")).unwrap();
    let e = p.open("many").err().unwrap();
    assert!(
        e.to_string()
            .starts_with("plugin ticker: cannot open the event source:"),
        "{e}"
    );
    assert!(
        e.to_string()
            .contains("open_params must be a number of ticks"),
        "{e}"
    );
}

/// An `openat` exit as scap encodes it (`PPME_SYSCALL_OPENAT_2_X`, 307).
fn openat_exit() -> Vec<u8> {
    encode(&peregrine_scap::OwnedEvent {
        ts: 5,
        tid: 1234,
        cpu: 0,
        ppm_type: 307,
        flags: 0,
        params: vec![
            3i64.to_le_bytes().to_vec(),
            (-100i64).to_le_bytes().to_vec(),
            b"/etc/passwd\0".to_vec(),
            0u32.to_le_bytes().to_vec(),
            0u32.to_le_bytes().to_vec(),
            0u32.to_le_bytes().to_vec(),
            0u64.to_le_bytes().to_vec(),
        ],
    })
    .unwrap()
}

fn values(out: &Extracted) -> Vec<String> {
    out.iter()
        .map(|v| match v {
            ValueRef::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
            ValueRef::UInt(u) => u.to_string(),
            other => format!("{other:?}"),
        })
        .collect()
}

#[test]
fn an_extraction_plugin_reads_syscall_events() {
    let host = Host::load(&[config("procext", "")]).unwrap();
    let p = host.get("procext").unwrap();
    assert!(p.caps.extraction && !p.caps.sourcing);
    assert_eq!(p.extract_sources, ["syscall"]);
    let ev = openat_exit();
    let mut out = Extracted::default();
    for (field, want) in [
        ("procext.dir", "exit"),
        ("procext.code", "307"),
        ("procext.tidmod[1000]", "234"),
    ] {
        let req = resolve_text(field).unwrap();
        let peregrine_filter::FieldArg::Plugin(id, arg) = &req.arg else {
            panic!("{field} is not a plugin field");
        };
        let index = peregrine_filter::fields::plugin_field(*id)
            .unwrap()
            .plugin
            .unwrap()
            .index;
        out.clear();
        p.extract(&ev, 1, c"syscall", index, arg, &mut out).unwrap();
        assert_eq!(values(&out), [want], "{field}");
    }
    // The plugin's own error for one argument is reported with its name and the field.
    out.clear();
    let e = p
        .extract(
            &ev,
            1,
            c"syscall",
            2,
            &peregrine_filter::FieldArg::Index(0),
            &mut out,
        )
        .unwrap_err();
    assert!(
        e.to_string()
            .starts_with("plugin procext: cannot extract procext.tidmod:"),
        "{e}"
    );
    assert!(out.is_empty());
}

#[test]
fn a_plugin_returning_invalid_utf8_is_reported_and_adds_nothing() {
    let p = Plugin::load(&config("procext", r#"{"garbage": true}"#)).unwrap();
    let mut out = Extracted::default();
    let e = p
        .extract(
            &openat_exit(),
            1,
            c"syscall",
            0,
            &peregrine_filter::FieldArg::None,
            &mut out,
        )
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "plugin procext returned garbage: field procext.dir is not valid UTF-8"
    );
    assert!(out.is_empty());
}

#[test]
fn a_library_that_is_not_a_plugin_is_refused_by_name() {
    let cfg = PluginConfig {
        name: "notaplugin".into(),
        library_path: "/nonexistent/libnotaplugin.so".into(),
        ..PluginConfig::default()
    };
    let e = Plugin::load(&cfg).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("cannot load plugin notaplugin from /nonexistent/libnotaplugin.so"),
        "{e}"
    );
}
