//! Rules files: the YAML reader, lists/macros/rules/exceptions, overrides, compilation and the
//! load results' text and JSON renderings.
fn main() {
    afl::fuzz!(|data: &[u8]| {
        let Ok(text) = std::str::from_utf8(data) else {
            return;
        };
        let mut loader = peregrine_rules::Loader::new();
        loader.load_str("fuzz.yaml", text);
        let (ruleset, results) = loader.finish();
        let _ = results.as_json();
        for r in &results.results {
            let _ = r.as_text(&results.contents);
        }
        let _ = ruleset.describe_all();
    });
}
