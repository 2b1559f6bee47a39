//! The crate dependency invariants of ARCHITECTURE.md, checked from `cargo metadata`.
//!
//! 1. Protocol-free cores: `odata`, `financials`, `sales`, `sync` (and `store`, `jobs`) link neither axum nor
//!    reqwest nor hyper; only `*-server` crates link axum, only `connectors` links reqwest (tests may use
//!    anything: dev-dependencies are not checked).
//! 2. `sync` and `connectors` never link `financials` or `sales` (nor their servers).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde_json::Value;

/// Normal (non-dev) dependencies of each workspace package, by package name.
pub type Graph = BTreeMap<String, BTreeSet<String>>;

pub fn check(root: &Path) -> Result<()> {
    let out = Command::new("cargo")
        .current_dir(root)
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .output()
        .context("running cargo metadata")?;
    if !out.status.success() {
        bail!("cargo metadata failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let meta: Value = serde_json::from_slice(&out.stdout)?;
    let violations = violations(&graph(&meta));
    if violations.is_empty() {
        eprintln!("dependency invariants hold");
        Ok(())
    } else {
        bail!("dependency invariants broken:\n  {}", violations.join("\n  "))
    }
}

pub fn graph(meta: &Value) -> Graph {
    let mut g = Graph::new();
    for p in meta["packages"].as_array().into_iter().flatten() {
        let name = p["name"].as_str().unwrap_or_default().to_owned();
        let deps = p["dependencies"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|d| d["kind"].is_null() || d["kind"] == "build")
            .filter_map(|d| d["name"].as_str().map(str::to_owned))
            .collect();
        g.insert(name, deps);
    }
    g
}

/// Every broken rule, as a sentence. Only direct dependencies are looked at: workspace crates are checked
/// each in turn, so an indirect path through another workspace crate is caught where it starts.
pub fn violations(g: &Graph) -> Vec<String> {
    const CORES: [&str; 6] = [
        "kontor-odata",
        "kontor-store",
        "kontor-financials",
        "kontor-sales",
        "kontor-sync",
        "kontor-jobs",
    ];
    const HTTP: [&str; 4] = ["axum", "reqwest", "hyper", "tower-http"];
    const SIDES: [&str; 4] =
        ["kontor-financials", "kontor-sales", "kontor-financials-server", "kontor-sales-server"];
    let mut out = Vec::new();
    for (pkg, deps) in g {
        for dep in deps {
            if CORES.contains(&pkg.as_str()) && HTTP.contains(&dep.as_str()) {
                out.push(format!("{pkg} is a protocol-free core but depends on {dep}"));
            }
            if dep == "axum" && !pkg.ends_with("-server") && pkg != "kontor" {
                out.push(format!(
                    "{pkg} depends on axum, which only *-server crates (and the binary) may"
                ));
            }
            if dep == "reqwest" && pkg != "kontor-connectors" && pkg != "kontor" {
                out.push(format!(
                    "{pkg} depends on reqwest, which only kontor-connectors (and the binary) may"
                ));
            }
            if (pkg == "kontor-sync" || pkg == "kontor-connectors") && SIDES.contains(&dep.as_str())
            {
                out.push(format!(
                    "{pkg} must see each side only through its API, but depends on {dep}"
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(edges: &[(&str, &[&str])]) -> Graph {
        edges
            .iter()
            .map(|(p, ds)| (p.to_string(), ds.iter().map(|d| d.to_string()).collect()))
            .collect()
    }

    #[test]
    fn the_workspace_keeps_its_dependency_invariants() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        check(root).unwrap();
    }

    #[test]
    fn a_core_that_links_axum_is_reported() {
        let v = violations(&g(&[("kontor-sync", &["axum", "serde"])]));
        assert_eq!(v.len(), 2, "{v:?}");
        assert!(v[0].contains("kontor-sync is a protocol-free core but depends on axum"));
    }

    #[test]
    fn the_sync_engine_linking_a_side_is_reported() {
        let v = violations(&g(&[("kontor-connectors", &["reqwest", "kontor-sales"])]));
        assert_eq!(
            v,
            vec![
                "kontor-connectors must see each side only through its API, but depends on kontor-sales"
            ]
        );
    }

    #[test]
    fn servers_may_link_axum_and_connectors_may_link_reqwest() {
        let v = violations(&g(&[
            ("kontor-sales-server", &["axum", "kontor-sales"]),
            ("kontor-connectors", &["reqwest", "kontor-sync"]),
        ]));
        assert!(v.is_empty(), "{v:?}");
    }
}
