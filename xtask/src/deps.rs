//! The crate dependency invariants of ARCHITECTURE.md, checked on the resolved graph of
//! `cargo metadata` (default features, normal and build dependencies: dev-dependencies are free).
//!
//! Every rule is checked on the **transitive closure**: a forbidden crate reached through any path
//! breaks it, and the report prints that path (`kontor-sync-core → some-crate → axum`).
//!
//! 1. Protocol-free cores (`odata`, `store`, `financials`, `sales`, `sync-core`, `sync`, `jobs`) reach
//!    no HTTP crate.
//! 2. The pure sync core (`sync-core`) also reaches no sqlx, tokio, futures runtime, store or jobs.
//! 3. axum is reached only by `*-server` crates and the binary; the application layer
//!    (`integration`) reaches no HTTP server crate.
//! 4. `sync`, `sync-core` and `connectors` never reach `financials` or `sales` (nor their servers).
//! 5. `kontor-testkit` is a dev-dependency only: no crate reaches it through normal dependencies
//!    with default features (the binary's benchmark asks for it with the `bench` feature).
//! 6. Only `connectors` (and the binary) depend on reqwest directly.
//! 7. The web client (`financials-web`) may reach axum (it answers pages), but no `*-server`
//!    crate: pages call the domain and application layers, never an HTTP handler.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde_json::Value;

/// Normal and build dependencies of every package in the resolved graph, by package name.
pub type Graph = BTreeMap<String, BTreeSet<String>>;

/// The HTTP crates: no core may reach one.
pub const HTTP: [&str; 6] = ["http", "hyper", "hyper-util", "axum", "tower-http", "reqwest"];

const CORES: [&str; 7] = [
    "kontor-odata",
    "kontor-store",
    "kontor-financials",
    "kontor-sales",
    "kontor-sync-core",
    "kontor-sync",
    "kontor-jobs",
];
const PURE_CORE: &str = "kontor-sync-core";
const PURE_CORE_FORBIDDEN: [&str; 5] = ["sqlx", "tokio", "futures", "kontor-store", "kontor-jobs"];
const SIDES: [&str; 4] =
    ["kontor-financials", "kontor-sales", "kontor-financials-server", "kontor-sales-server"];
const ENGINE: [&str; 3] = ["kontor-sync-core", "kontor-sync", "kontor-connectors"];
const SERVER_CRATES: [&str; 1] = ["axum"];
/// The web client: pages on axum, over the domain and application layers only.
const WEB: &str = "kontor-financials-web";
const HANDLER_CRATES: [&str; 3] =
    ["kontor-financials-server", "kontor-sales-server", "kontor-sync-server"];

pub fn check(root: &Path) -> Result<()> {
    let out = Command::new("cargo")
        .current_dir(root)
        .args(["metadata", "--format-version", "1"])
        .output()
        .context("running cargo metadata")?;
    if !out.status.success() {
        bail!("cargo metadata failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let meta: Value = serde_json::from_slice(&out.stdout)?;
    let (graph, members) = graph(&meta);
    let violations = violations(&graph, &members);
    if violations.is_empty() {
        eprintln!("dependency invariants hold ({} workspace crates checked)", members.len());
        Ok(())
    } else {
        bail!("dependency invariants broken:\n  {}", violations.join("\n  "))
    }
}

/// The resolved graph (names of packages, with default features) and the workspace members.
pub fn graph(meta: &Value) -> (Graph, BTreeSet<String>) {
    let name_of: BTreeMap<&str, &str> = meta["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| Some((p["id"].as_str()?, p["name"].as_str()?)))
        .collect();
    let members = meta["workspace_members"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|id| name_of.get(id.as_str()?).map(|n| n.to_string()))
        .collect();
    let mut g = Graph::new();
    for node in meta["resolve"]["nodes"].as_array().into_iter().flatten() {
        let Some(name) = node["id"].as_str().and_then(|id| name_of.get(id)) else { continue };
        let deps = g.entry(name.to_string()).or_default();
        for dep in node["deps"].as_array().into_iter().flatten() {
            let linked = dep["dep_kinds"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|k| k["kind"].is_null() || k["kind"] == "build");
            if let Some(dep_name) = dep["pkg"].as_str().and_then(|id| name_of.get(id))
                && linked
            {
                deps.insert(dep_name.to_string());
            }
        }
    }
    (g, members)
}

/// The shortest path from `from` to any crate of `targets` (both ends included), if one exists.
pub fn path_to(g: &Graph, from: &str, targets: &[&str]) -> Option<Vec<String>> {
    let mut parent: BTreeMap<&str, &str> = BTreeMap::new();
    let mut queue = VecDeque::from([from]);
    let mut seen = BTreeSet::from([from]);
    while let Some(at) = queue.pop_front() {
        if at != from && targets.contains(&at) {
            let mut path = vec![at.to_string()];
            let mut cur = at;
            while let Some(p) = parent.get(cur) {
                path.push(p.to_string());
                cur = p;
            }
            path.reverse();
            return Some(path);
        }
        for dep in g.get(at).into_iter().flatten() {
            if seen.insert(dep.as_str()) {
                parent.insert(dep.as_str(), at);
                queue.push_back(dep.as_str());
            }
        }
    }
    None
}

/// Every broken rule, as a sentence naming the path that breaks it.
pub fn violations(g: &Graph, members: &BTreeSet<String>) -> Vec<String> {
    let mut out = Vec::new();
    let forbid = |out: &mut Vec<String>, pkg: &str, targets: &[&str], why: &str| {
        if let Some(path) = path_to(g, pkg, targets) {
            out.push(format!(
                "{pkg} {why}, but reaches {}: {}",
                path[path.len() - 1],
                path.join(" → ")
            ));
        }
    };
    for pkg in members {
        let pkg = pkg.as_str();
        if CORES.contains(&pkg) {
            forbid(&mut out, pkg, &HTTP, "is a protocol-free core");
        }
        if pkg == PURE_CORE {
            forbid(&mut out, pkg, &PURE_CORE_FORBIDDEN, "is the pure sync core (no IO)");
        }
        if pkg == WEB {
            let why =
                "is the web client (pages call the domain and application layers, never a handler)";
            forbid(&mut out, pkg, &HANDLER_CRATES, why);
        } else if !pkg.ends_with("-server") && pkg != "kontor" && !CORES.contains(&pkg) {
            let why = "may not reach an HTTP server crate (only *-server crates and the binary)";
            forbid(&mut out, pkg, &SERVER_CRATES, why);
        }
        if ENGINE.contains(&pkg) {
            forbid(&mut out, pkg, &SIDES, "must see each side only through its API");
        }
        forbid(
            &mut out,
            pkg,
            &["kontor-testkit"],
            "may use kontor-testkit only as a dev-dependency",
        );
        let direct_reqwest = g.get(pkg).is_some_and(|d| d.contains("reqwest"));
        if pkg != "kontor-connectors" && pkg != "kontor" && direct_reqwest {
            out.push(format!(
                "{pkg} depends on reqwest, which only kontor-connectors (and the binary) may"
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(edges: &[(&str, &[&str])]) -> (Graph, BTreeSet<String>) {
        let graph: Graph = edges
            .iter()
            .map(|(p, ds)| (p.to_string(), ds.iter().map(|d| d.to_string()).collect()))
            .collect();
        let members =
            edges.iter().map(|(p, _)| p.to_string()).filter(|p| p.starts_with("kontor")).collect();
        (graph, members)
    }

    fn check(edges: &[(&str, &[&str])]) -> Vec<String> {
        let (graph, members) = g(edges);
        violations(&graph, &members)
    }

    #[test]
    fn the_workspace_keeps_its_dependency_invariants() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        super::check(root).unwrap();
    }

    #[test]
    fn a_core_reaching_axum_through_an_intermediate_crate_is_reported_with_its_path() {
        let v = check(&[
            ("kontor-sync-core", &["serde", "pretty-router"]),
            ("pretty-router", &["axum"]),
            ("axum", &["hyper"]),
        ]);
        assert_eq!(
            v,
            vec![
                "kontor-sync-core is a protocol-free core, but reaches axum: kontor-sync-core → pretty-router → axum"
            ]
        );
    }

    #[test]
    fn the_pure_core_reaching_tokio_through_another_workspace_crate_is_reported() {
        let v = check(&[("kontor-sync-core", &["kontor-helpers"]), ("kontor-helpers", &["tokio"])]);
        assert_eq!(
            v,
            vec![
                "kontor-sync-core is the pure sync core (no IO), but reaches tokio: kontor-sync-core → kontor-helpers → tokio"
            ]
        );
    }

    #[test]
    fn the_engine_reaching_a_side_is_reported() {
        let v = check(&[("kontor-connectors", &["reqwest", "kontor-sales"])]);
        assert_eq!(
            v,
            vec![
                "kontor-connectors must see each side only through its API, but reaches kontor-sales: kontor-connectors → kontor-sales"
            ]
        );
    }

    #[test]
    fn the_application_layer_reaching_axum_through_a_server_is_reported() {
        let v = check(&[
            ("kontor-integration", &["kontor-sync-server"]),
            ("kontor-sync-server", &["axum"]),
        ]);
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(v[0].contains("kontor-integration → kontor-sync-server → axum"), "{v:?}");
    }

    #[test]
    fn testkit_as_a_normal_dependency_is_reported() {
        let v = check(&[("kontor", &["kontor-bench"]), ("kontor-bench", &["kontor-testkit"])]);
        assert_eq!(v.len(), 2, "{v:?}");
        assert!(v[0].contains("kontor → kontor-bench → kontor-testkit"), "{v:?}");
    }

    #[test]
    fn servers_may_reach_axum_and_connectors_may_use_reqwest() {
        let v = check(&[
            ("kontor-sales-server", &["axum", "kontor-sales"]),
            ("kontor-connectors", &["reqwest", "kontor-sync"]),
            ("kontor-sync-server", &["axum", "kontor-connectors"]),
            ("kontor", &["kontor-sync-server", "reqwest"]),
        ]);
        assert!(v.is_empty(), "{v:?}");
    }

    #[test]
    fn the_web_client_may_reach_axum_but_not_a_server_crate() {
        let ok = check(&[("kontor-financials-web", &["axum", "kontor-integration"])]);
        assert!(ok.is_empty(), "{ok:?}");
        let v = check(&[("kontor-financials-web", &["axum", "kontor-sync-server"])]);
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(v[0].contains("kontor-financials-web → kontor-sync-server"), "{v:?}");
    }

    #[test]
    fn a_direct_reqwest_dependency_outside_connectors_is_reported() {
        let v = check(&[("kontor-sync-server", &["reqwest"])]);
        assert_eq!(
            v,
            vec![
                "kontor-sync-server depends on reqwest, which only kontor-connectors (and the binary) may"
            ]
        );
    }
}
