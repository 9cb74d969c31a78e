//! Response policies files: the YAML reader, every policy, matcher and action parameter, the
//! error report, and matching the compiled policies against an alert.
fn main() {
    let mut alert = peregrine_outputs::Alert::new(
        1,
        "Read sensitive file untrusted",
        peregrine_outputs::Priority::Warning,
        "out",
    );
    alert.tags = vec!["host".into(), "mitre_credential_access".into()];
    alert.output_fields = vec![
        ("proc.name".into(), peregrine_outputs::OutputValue::Str("cat".into())),
        ("fd.name".into(), peregrine_outputs::OutputValue::Str("/etc/shadow".into())),
    ];
    afl::fuzz!(|data: &[u8]| {
        let Ok(text) = std::str::from_utf8(data) else {
            return;
        };
        match peregrine_response::policy::parse("fuzz.yaml", text) {
            Ok(p) => {
                let _ = p.matching(&alert).count();
            }
            Err(e) => {
                let _ = e.to_string();
            }
        }
    });
}
