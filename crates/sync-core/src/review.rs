//! The full synchronization review (Business Central's *CRM Full Synch. Review*): one line per
//! mapping with its recommendation, dependency order, and the statuses the page shows.

use serde::{Deserialize, Serialize};

use crate::mapping::{MappingSet, RecommendationRule, TableMapping};

/// Initial synch recommendation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Recommendation {
    FullSynchronization,
    CoupleRecords,
    NoRecordsFound,
}

impl Recommendation {
    pub fn label(self) -> &'static str {
        match self {
            Recommendation::FullSynchronization => "Full Synchronization",
            Recommendation::CoupleRecords => "Couple Records",
            Recommendation::NoRecordsFound => "No Records Found",
        }
    }
}

/// What the review knows about a mapping's two tables.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableCounts {
    pub financials: u64,
    pub sales: u64,
}

/// Domain-reference §3.1: SALESPEOPLE always Full; CURRENCY Full only when Sales has just its
/// base currency, else Couple; unit groups count as empty with at most one (the default);
/// option mappings: Financials empty → No Records Found, else Couple Records;
/// otherwise both empty → No Records Found, both non-empty → Couple Records, else Full.
pub fn recommend(mapping: &TableMapping, counts: TableCounts) -> Recommendation {
    let sales_empty = match mapping.recommendation {
        RecommendationRule::AlwaysFull => return Recommendation::FullSynchronization,
        RecommendationRule::Currency => {
            return if counts.sales <= 1 {
                Recommendation::FullSynchronization
            } else {
                Recommendation::CoupleRecords
            };
        }
        RecommendationRule::UnitGroup => counts.sales <= 1,
        RecommendationRule::OptionMapping => {
            return if counts.financials == 0 {
                Recommendation::NoRecordsFound
            } else {
                Recommendation::CoupleRecords
            };
        }
        RecommendationRule::Default => counts.sales == 0,
    };
    match (counts.financials == 0, sales_empty) {
        (true, true) => Recommendation::NoRecordsFound,
        (false, false) => Recommendation::CoupleRecords,
        _ => Recommendation::FullSynchronization,
    }
}

/// Enabled mappings sorted so that each comes after the mappings in its dependency filter
/// (names not in the set are ignored); ties keep the set's order.
pub fn dependency_order(set: &MappingSet) -> Vec<&TableMapping> {
    let enabled: Vec<&TableMapping> = set.mappings.iter().filter(|m| m.enabled).collect();
    let mut done: Vec<&TableMapping> = Vec::new();
    let mut left = enabled.clone();
    while !left.is_empty() {
        let before = left.len();
        let mut i = 0;
        while i < left.len() {
            let ready = left[i].dependencies().iter().all(|d| {
                !enabled.iter().any(|m| m.name == *d) || done.iter().any(|m| m.name == *d)
            });
            if ready {
                done.push(left.remove(i));
                i = 0;
            } else {
                i += 1;
            }
        }
        if left.len() == before {
            // A cycle: keep the set's order for the rest.
            done.append(&mut left);
        }
    }
    done
}

/// Job Queue Entry Status of a review line (' ' = not started).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum QueueStatus {
    #[default]
    NotStarted,
    Ready,
    InProcess,
    Error,
    OnHold,
    Finished,
    Waiting,
}

impl QueueStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            QueueStatus::NotStarted => " ",
            QueueStatus::Ready => "Ready",
            QueueStatus::InProcess => "In Process",
            QueueStatus::Error => "Error",
            QueueStatus::OnHold => "On Hold",
            QueueStatus::Finished => "Finished",
            QueueStatus::Waiting => "Waiting",
        }
    }
    pub fn parse(s: &str) -> QueueStatus {
        match s {
            "Ready" => QueueStatus::Ready,
            "In Process" => QueueStatus::InProcess,
            "Error" => QueueStatus::Error,
            "On Hold" => QueueStatus::OnHold,
            "Finished" => QueueStatus::Finished,
            "Waiting" => QueueStatus::Waiting,
            _ => QueueStatus::NotStarted,
        }
    }
}

/// To/From Int. Table Job Status, derived from the synch job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum JobStatus {
    #[default]
    None,
    Success,
    InProcess,
    Error,
}

impl JobStatus {
    /// No job → ' '; not finished → In Process; failures → Error; else Success.
    pub fn derive(exists: bool, finished: bool, failed: u64) -> JobStatus {
        match (exists, finished) {
            (false, _) => JobStatus::None,
            (true, false) => JobStatus::InProcess,
            (true, true) if failed > 0 => JobStatus::Error,
            _ => JobStatus::Success,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::None => " ",
            JobStatus::Success => "Success",
            JobStatus::InProcess => "In Process",
            JobStatus::Error => "Error",
        }
    }
}

/// How far a line has got between its two passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Stage {
    /// Its first pass has not finished.
    #[default]
    Start,
    /// Its Financials → Sales pass finished; its Sales → Financials pass waits for the lines it
    /// depends on to finish.
    ToDone,
    /// Its Sales → Financials pass was started (by one worker).
    FromStarted,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Start => "",
            Stage::ToDone => "To Done",
            Stage::FromStarted => "From Started",
        }
    }
    pub fn parse(s: &str) -> Stage {
        match s {
            "To Done" => Stage::ToDone,
            "From Started" => Stage::FromStarted,
            _ => Stage::Start,
        }
    }
}

/// One line of the review page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReviewLine {
    pub name: String,
    pub dependency_filter: String,
    pub direction: crate::mapping::Direction,
    pub recommendation: Recommendation,
    pub queue_status: QueueStatus,
    #[serde(default, skip_serializing_if = "is_start")]
    pub stage: Stage,
}

fn is_start(s: &Stage) -> bool {
    *s == Stage::Start
}

impl ReviewLine {
    fn dependencies(&self) -> impl Iterator<Item = &str> {
        self.dependency_filter.split('|').map(str::trim).filter(|d| !d.is_empty())
    }

    /// Whether this line's work is over as far as the lines after it are concerned.
    fn done(&self) -> bool {
        self.queue_status == QueueStatus::Finished
            || self.recommendation == Recommendation::NoRecordsFound
    }

    /// Whether the line's first pass is Financials → Sales.
    fn begins_to_sales(&self) -> bool {
        self.direction.allows(crate::mapping::Pass::ToSales)
    }

    /// Whether every dependency (that has a line) satisfies `ready`.
    fn dependencies_are(&self, lines: &[ReviewLine], ready: impl Fn(&ReviewLine) -> bool) -> bool {
        self.dependencies().all(|d| lines.iter().find(|o| o.name == d).is_none_or(&ready))
    }
}

/// Lines whose first pass can start now: not started, and every dependency line Finished or
/// "No Records Found" — or, for a line that begins with its Financials → Sales pass, past its
/// own Financials → Sales pass. Each direction keeps its dependency order: a line's records
/// reach Sales after those they look up (the dependency's couplings are made by its To pass),
/// and its Sales → Financials pass waits for the dependencies' lines to finish
/// ([`from_startable`]). Dependencies without a line don't hold anything up.
pub fn startable(lines: &[ReviewLine]) -> Vec<&ReviewLine> {
    lines
        .iter()
        .filter(|l| l.queue_status == QueueStatus::NotStarted)
        .filter(|l| {
            let to_first = l.begins_to_sales();
            l.dependencies_are(lines, |o| o.done() || (to_first && o.stage != Stage::Start))
        })
        .collect()
}

/// Lines whose Financials → Sales pass is done and whose Sales → Financials pass can start
/// now: every dependency line Finished or "No Records Found".
pub fn from_startable(lines: &[ReviewLine]) -> Vec<&ReviewLine> {
    lines
        .iter()
        .filter(|l| l.stage == Stage::ToDone && l.queue_status == QueueStatus::InProcess)
        .filter(|l| l.dependencies_are(lines, ReviewLine::done))
        .collect()
}

/// Lines that wait for a dependency that ended in Error (directly or through another waiting
/// line): not started, or between their passes. They go on only when that line is run again.
pub fn held_up(lines: &[ReviewLine]) -> Vec<&ReviewLine> {
    let waiting = |l: &ReviewLine| {
        l.queue_status == QueueStatus::NotStarted
            || (l.stage == Stage::ToDone && l.queue_status == QueueStatus::InProcess)
    };
    let mut held: Vec<&str> = Vec::new();
    loop {
        let before = held.len();
        for l in lines.iter().filter(|l| waiting(l)) {
            if held.contains(&l.name.as_str()) {
                continue;
            }
            let stuck = l.dependencies().any(|d| {
                held.contains(&d)
                    || lines.iter().any(|o| o.name == d && o.queue_status == QueueStatus::Error)
            });
            if stuck {
                held.push(&l.name);
            }
        }
        if held.len() == before {
            return lines.iter().filter(|l| held.contains(&l.name.as_str())).collect();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::defaults::default_mappings;

    #[test]
    fn default_mappings_run_in_dependency_order() {
        let set = default_mappings();
        let order: Vec<&str> = dependency_order(&set).iter().map(|m| m.name.as_str()).collect();
        insta::assert_yaml_snapshot!(order);
        let pos = |n: &str| order.iter().position(|o| *o == n).unwrap();
        assert!(pos("CURRENCY") < pos("CUSTOMER"));
        assert!(pos("SALESPEOPLE") < pos("CUSTOMER"));
        assert!(pos("UNIT OF MEASURE") < pos("ITEM-PRODUCT"));
        assert!(pos("CUSTOMER") < pos("CONTACT"));
        assert!(pos("CUSTPRCGRP-PRICE") < pos("SALESPRC-PRODPRICE"));
    }

    #[test]
    fn order_lines_run_after_their_orders_and_option_mappings_before_customers() {
        let mut set = default_mappings();
        for m in &mut set.mappings {
            m.enabled = true;
        }
        let order: Vec<&str> = dependency_order(&set).iter().map(|m| m.name.as_str()).collect();
        let pos = |n: &str| order.iter().position(|o| *o == n).unwrap();
        assert!(pos("SALESORDER-ORDER") < pos("SOLINE-ORDERDETAIL"), "{order:?}");
        assert!(pos("ITEM-PRODUCT") < pos("SOLINE-ORDERDETAIL"), "{order:?}");
        for option in ["PAYMENT TERMS", "SHIPMENT METHOD", "SHIPPING AGENT"] {
            assert!(pos(option) < pos("CUSTOMER"), "{order:?}");
        }
    }

    #[test]
    fn recommendations_follow_business_central() {
        let set = default_mappings();
        let rec = |name: &str, financials, sales| {
            recommend(set.get(name).unwrap(), TableCounts { financials, sales })
        };
        let lines: Vec<(String, &str)> = vec![
            ("SALESPEOPLE 0/0".into(), rec("SALESPEOPLE", 0, 0).label()),
            ("CURRENCY 3/1".into(), rec("CURRENCY", 3, 1).label()),
            ("CURRENCY 3/2".into(), rec("CURRENCY", 3, 2).label()),
            ("UNIT OF MEASURE 5/1".into(), rec("UNIT OF MEASURE", 5, 1).label()),
            ("CUSTOMER 0/0".into(), rec("CUSTOMER", 0, 0).label()),
            ("CUSTOMER 10/0".into(), rec("CUSTOMER", 10, 0).label()),
            ("CUSTOMER 0/10".into(), rec("CUSTOMER", 0, 10).label()),
            ("CUSTOMER 10/10".into(), rec("CUSTOMER", 10, 10).label()),
            ("PAYMENT TERMS 0/5".into(), rec("PAYMENT TERMS", 0, 5).label()),
            ("PAYMENT TERMS 3/5".into(), rec("PAYMENT TERMS", 3, 5).label()),
        ];
        insta::assert_yaml_snapshot!(lines);
    }

    #[test]
    fn a_line_starts_when_its_dependencies_finished_or_found_no_records() {
        let line = |name: &str, deps: &str, rec, status| ReviewLine {
            name: name.into(),
            dependency_filter: deps.into(),
            direction: crate::mapping::Direction::Bidirectional,
            recommendation: rec,
            queue_status: status,
            stage: Stage::Start,
        };
        let lines = vec![
            line("CURRENCY", "", Recommendation::FullSynchronization, QueueStatus::Finished),
            line("SALESPEOPLE", "", Recommendation::NoRecordsFound, QueueStatus::NotStarted),
            line(
                "UNIT OF MEASURE",
                "",
                Recommendation::FullSynchronization,
                QueueStatus::InProcess,
            ),
            line(
                "CUSTOMER",
                "SALESPEOPLE|CURRENCY|PAYMENT TERMS",
                Recommendation::FullSynchronization,
                QueueStatus::NotStarted,
            ),
            line(
                "ITEM-PRODUCT",
                "UNIT OF MEASURE",
                Recommendation::FullSynchronization,
                QueueStatus::NotStarted,
            ),
        ];
        let names: Vec<&str> = startable(&lines).iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, vec!["SALESPEOPLE", "CUSTOMER"]);
    }

    fn line(
        name: &str,
        deps: &str,
        direction: &str,
        status: QueueStatus,
        stage: Stage,
    ) -> ReviewLine {
        ReviewLine {
            name: name.into(),
            dependency_filter: deps.into(),
            direction: match direction {
                "to" => crate::mapping::Direction::ToIntegrationTable,
                "from" => crate::mapping::Direction::FromIntegrationTable,
                _ => crate::mapping::Direction::Bidirectional,
            },
            recommendation: Recommendation::FullSynchronization,
            queue_status: status,
            stage,
        }
    }

    #[test]
    fn a_line_that_begins_towards_sales_starts_once_its_dependencies_have_reached_sales() {
        use QueueStatus::*;
        use Stage::*;
        // (dependency's direction, status, stage, dependant's direction) → may the dependant start?
        let cases = [
            ("both", InProcess, Start, "both", false),
            ("both", InProcess, ToDone, "both", true),
            ("both", InProcess, FromStarted, "both", true),
            ("both", InProcess, ToDone, "to", true),
            // A dependant that begins with its Sales → Financials pass needs the whole line.
            ("both", InProcess, ToDone, "from", false),
            ("both", Finished, FromStarted, "from", true),
            ("from", InProcess, Start, "both", false),
            ("to", Finished, Start, "both", true),
            ("both", Error, ToDone, "both", true),
        ];
        for (dep_dir, status, stage, dir, expected) in cases {
            let lines = vec![
                line("CUSTOMER", "", dep_dir, status, stage),
                line("CONTACT", "CUSTOMER", dir, NotStarted, Start),
            ];
            let started: Vec<&str> = startable(&lines).iter().map(|l| l.name.as_str()).collect();
            assert_eq!(
                started.contains(&"CONTACT"),
                expected,
                "dependency {dep_dir} {status:?} {stage:?}, dependant {dir}"
            );
        }
    }

    #[test]
    fn a_lines_pass_towards_financials_waits_for_its_dependencies_to_finish() {
        use QueueStatus::*;
        use Stage::*;
        let cases = [
            (InProcess, ToDone, ToDone, false),
            (InProcess, FromStarted, ToDone, false),
            (Finished, FromStarted, ToDone, true),
            // Already started by another worker.
            (Finished, FromStarted, FromStarted, false),
            (Finished, Start, Start, false),
        ];
        for (dep_status, dep_stage, stage, expected) in cases {
            let lines = vec![
                line("CUSTOMER", "", "both", dep_status, dep_stage),
                line("CONTACT", "CUSTOMER", "both", InProcess, stage),
            ];
            let next: Vec<&str> = from_startable(&lines).iter().map(|l| l.name.as_str()).collect();
            assert_eq!(
                next.contains(&"CONTACT"),
                expected,
                "{dep_status:?} {dep_stage:?} {stage:?}"
            );
        }
    }

    #[test]
    fn lines_waiting_behind_a_line_in_error_are_held_up_through_the_chain() {
        use QueueStatus::*;
        use Stage::*;
        let lines = vec![
            line("CUSTOMER", "", "both", Error, ToDone),
            line("CONTACT", "CUSTOMER", "both", InProcess, ToDone),
            line("OPPORTUNITY", "CONTACT", "both", NotStarted, Start),
            line("ITEM-PRODUCT", "", "both", NotStarted, Start),
            line("SALESPRC-PRODPRICE", "ITEM-PRODUCT", "both", NotStarted, Start),
            line("SALESPEOPLE", "CUSTOMER", "from", Finished, Start),
        ];
        let held: Vec<&str> = held_up(&lines).iter().map(|l| l.name.as_str()).collect();
        assert_eq!(held, vec!["CONTACT", "OPPORTUNITY"]);
    }

    #[test]
    fn job_status_derives_from_the_synch_job() {
        assert_eq!(JobStatus::derive(false, false, 0), JobStatus::None);
        assert_eq!(JobStatus::derive(true, false, 0), JobStatus::InProcess);
        assert_eq!(JobStatus::derive(true, true, 2), JobStatus::Error);
        assert_eq!(JobStatus::derive(true, true, 0), JobStatus::Success);
    }
}
