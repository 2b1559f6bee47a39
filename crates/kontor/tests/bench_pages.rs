//! `kontor bench pages` end to end with the real binary, at a tiny N: every page is requested and
//! reported. Not timed: the figures are only checked to be there and ordered.
#![cfg(feature = "bench")]

mod support;

use std::process::Command;

use serde_json::Value;
use support::KONTOR;

/// (page, the fewest table rows it must show at 200 customers)
const PAGES: &[(&str, u64)] = &[
    ("Home", 0),
    ("Customer List (first page)", 50),
    ("Customer List (middle page)", 50),
    ("Customer List (last page)", 50),
    ("Customer List (search, many hits)", 1),
    ("Customer List (search, no hit)", 0),
    ("Customer List (sort by name desc)", 50),
    ("Customer List (sort by city, middle)", 50),
    ("Customer Card", 0),
    ("Set Up Coupling (search)", 1),
    ("Contact List", 50),
    ("Item List", 50),
    ("Sales Orders", 1),
    ("Sales Order", 1),
    ("Posted Sales Invoices", 5),
    ("Users", 2),
    ("Job Queue Entries", 0),
    ("Integration Table Mappings", 10),
    ("CRM Full Synch. Review", 5),
    ("Integration Synch. Jobs", 0),
    ("Coupled Data Synchronization Errors", 0),
    ("Dynamics 365 Connection Setup", 0),
];

#[test]
fn bench_pages_at_200_customers_requests_every_page_of_the_web_client_and_prints_its_figures() {
    let out = Command::new(KONTOR)
        .args(["bench", "pages", "--customers", "200", "--requests", "3", "--json"])
        .output()
        .expect("run kontor bench pages");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let report: Value = serde_json::from_slice(&out.stdout).expect("one JSON report");
    assert_eq!(report["customers"], 200);
    let pages = report["pages"].as_array().expect("pages");
    assert_eq!(pages.len(), PAGES.len(), "{report:#}");
    for ((name, fewest_rows), got) in PAGES.iter().zip(pages) {
        assert_eq!(got["page"], *name);
        assert_eq!(got["requests"], 3, "{name}");
        let (p50, p99, max) = (
            got["p50_ms"].as_f64().unwrap(),
            got["p99_ms"].as_f64().unwrap(),
            got["max_ms"].as_f64().unwrap(),
        );
        assert!(0.0 < p50 && p50 <= p99 && p99 <= max, "{name}: {got}");
        let rows = got["rows"].as_u64().unwrap();
        assert!(rows >= *fewest_rows && rows <= 50, "{name}: {rows} rows");
        // The table on standard error names every page too.
        assert!(stderr.contains(name), "{name} missing from the table");
    }
}
