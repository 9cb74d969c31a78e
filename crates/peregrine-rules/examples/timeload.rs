fn main() {
    for f in std::env::args().skip(1) {
        let t = std::time::Instant::now();
        let mut l = peregrine_rules::Loader::new();
        l.load_file(&f);
        let t1 = t.elapsed();
        let (_s, r) = l.finish();
        let j = r.as_json();
        if std::env::var_os("SHOW").is_some() {
            println!("{}", r.as_text());
        }
        println!(
            "{f}: load {:?} total {:?} errors {} warnings {} json {}",
            t1,
            t.elapsed(),
            r.errors().count(),
            r.warnings().count(),
            j.to_string().len()
        );
    }
}
