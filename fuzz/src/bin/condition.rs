//! Falco conditions: parse, render (Falco's normalised text, lossy like libsinsp's), and compile
//! against the field catalogue.
fn main() {
    afl::fuzz!(|data: &[u8]| {
        let Ok(text) = std::str::from_utf8(data) else {
            return;
        };
        let Ok(ast) = peregrine_filter::parser::parse(text) else {
            return;
        };
        let _ = peregrine_filter::render::render(&ast);
        let _ = peregrine_filter::compile::compile(&ast);
    });
}
