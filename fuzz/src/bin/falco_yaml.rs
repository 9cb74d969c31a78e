//! falco.yaml: the bounded YAML reader, the untyped tree, and its interpretation into a typed
//! configuration (every block: outputs, webserver, metrics, drops, append_output, …).
fn main() {
    afl::fuzz!(|data: &[u8]| {
        let Ok(text) = std::str::from_utf8(data) else {
            return;
        };
        let Ok(tree) = peregrine_config::ConfigTree::from_yaml_str(text, "fuzz.yaml") else {
            return;
        };
        let _ = peregrine_config::Config::from_tree(&tree);
    });
}
