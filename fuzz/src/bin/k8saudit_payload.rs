//! Kubernetes audit payloads (a webhook body or a line of an audit log): parse as the k8saudit
//! plugin does, then extract every `ka.*`/`json.*` field of each event, with and without an
//! index argument.
use peregrine_filter::fields::{ClassId, FIELDS};
use peregrine_filter::{Extracted, FieldArg, FieldRequest, FieldSource};

fn main() {
    afl::fuzz!(|data: &[u8]| {
        let mut parsed = peregrine_k8saudit::Parsed::default();
        peregrine_k8saudit::parse_payload(data, 1 << 16, &mut parsed);
        let mut out = Extracted::default();
        for ev in &parsed.events {
            let mut src = peregrine_k8saudit::AuditFields {
                event: ev,
                num: 1,
                hostname: "h",
            };
            for f in FIELDS
                .iter()
                .filter(|f| matches!(f.class_id, ClassId::Ka | ClassId::Json | ClassId::Jevt))
            {
                for arg in [
                    FieldArg::None,
                    FieldArg::Index(0),
                    FieldArg::Index(3),
                    FieldArg::Key("/requestObject/spec/containers/0".into()),
                    FieldArg::Key("/proc*".into()),
                    FieldArg::Key("command".into()),
                ] {
                    out.clear();
                    src.extract(&FieldRequest { id: f.id, arg }, &mut out);
                }
            }
        }
    });
}
