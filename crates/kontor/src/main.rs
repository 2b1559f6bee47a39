//! `kontor` — the one binary: Financials, Sales and the integration.

mod demo;

fn main() {
    let spec = demo::Spec::DEMO;
    let data = demo::generate(&spec);
    println!(
        "kontor: demo data set of {} records ready; services are being wired in",
        data.record_count()
    );
}
