//! Kernel records as the ring buffer hands them over: header, parameter lengths, and every
//! parameter decoded and rendered with its schema.
fn main() {
    afl::fuzz!(|data: &[u8]| {
        let Ok(event) = peregrine_event::Event::decode(data, 0) else {
            return;
        };
        let _ = event.name();
        for (_, value) in event.params() {
            if let Ok(v) = value {
                let _ = format!("{v:?}");
            }
        }
        let _ = format!("{}", event.info());
    });
}
