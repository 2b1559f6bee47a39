//! Match-based coupling with the user's choices, as Business Central's *Match-Based Coupling*
//! page: which fields to match on, each with a **match priority** (fields of the lowest priority
//! are tried first; when they leave several candidates the next priority's fields are added),
//! whether matching is case sensitive (for all fields, or per field), whether to **create a new
//! record when no match is found**, and whether to **synchronize after coupling**.
//!
//! Pure: [`MatchCriteria`] resolves the choices against a mapping (unknown field names are an
//! error naming the field), [`MatchIndex`] indexes the uncoupled destination rows, and
//! [`plan_coupling`] decides for each uncoupled source row: couple, create, or fail with the
//! reason Business Central gives (no match, several matches, target already coupled).
//! The engine's side of it (reading both sides, storing couplings, synchronizing) is in
//! [`crate::coupling`].

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::error::CoreError;
use crate::mapping::{FieldMapping, Pass, TableMapping};
use crate::plan::{Lookups, desired};
use crate::types::{Record, Row};

/// One field chosen for matching.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MatchField {
    /// The Financials or the Sales field of one of the mapping's field mappings
    /// (`displayName` or `name`).
    pub field: String,
    /// Lower priorities are tried first; fields of equal priority are matched together.
    #[serde(default)]
    pub priority: u32,
    /// Overrides [`MatchOptions::case_sensitive`] for this field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub case_sensitive: Option<bool>,
}

/// The choices of one match-based coupling run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MatchOptions {
    /// The fields to match on; empty = the mapping's match fields, all of one priority.
    #[serde(default)]
    pub fields: Vec<MatchField>,
    /// Whether text compares case sensitively (leading and trailing blanks never count).
    #[serde(default)]
    pub case_sensitive: bool,
    /// Create the destination record when no match is found; `None` = the mapping's
    /// `create_if_no_match`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_new: Option<bool>,
    /// Synchronize each newly coupled pair at once (the source's values win); default yes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_after_coupling: Option<bool>,
}

impl MatchOptions {
    pub fn create_new(&self, mapping: &TableMapping) -> bool {
        self.create_new.unwrap_or(mapping.create_if_no_match)
    }
    pub fn sync_after_coupling(&self) -> bool {
        self.sync_after_coupling.unwrap_or(true)
    }
}

#[derive(Debug, Clone)]
struct Criterion<'a> {
    field: &'a FieldMapping,
    case_sensitive: bool,
}

/// The match fields of one pass, grouped by priority (cumulative: level `k` holds the fields of
/// the `k + 1` lowest priorities).
#[derive(Debug, Clone)]
pub struct MatchCriteria<'a> {
    mapping: &'a TableMapping,
    pass: Pass,
    levels: Vec<Vec<Criterion<'a>>>,
}

fn usable(f: &FieldMapping, pass: Pass) -> bool {
    f.enabled && f.field(pass.source()).is_some() && f.field(pass.destination()).is_some()
}

impl<'a> MatchCriteria<'a> {
    /// Resolves `options` for `pass` of `mapping`.
    pub fn new(
        mapping: &'a TableMapping,
        pass: Pass,
        options: &MatchOptions,
    ) -> Result<MatchCriteria<'a>, CoreError> {
        let mut by_priority: BTreeMap<u32, Vec<Criterion<'a>>> = BTreeMap::new();
        if options.fields.is_empty() {
            let defaults: Vec<Criterion<'a>> = mapping
                .fields
                .iter()
                .filter(|f| f.match_field && usable(f, pass))
                .map(|field| Criterion { field, case_sensitive: options.case_sensitive })
                .collect();
            if defaults.is_empty() {
                return Err(CoreError::Refused(format!(
                    "The {} mapping has no match fields: choose the fields to match on ({}).",
                    mapping.name,
                    field_names(mapping, pass)
                )));
            }
            by_priority.insert(0, defaults);
        }
        let mut seen: HashSet<*const FieldMapping> = HashSet::new();
        for choice in &options.fields {
            let name = choice.field.trim();
            let found = mapping
                .fields
                .iter()
                .filter(|f| f.enabled)
                .find(|f| f.financials.as_deref() == Some(name) || f.sales.as_deref() == Some(name))
                .or_else(|| {
                    mapping.fields.iter().filter(|f| f.enabled).find(|f| {
                        [f.financials.as_deref(), f.sales.as_deref()]
                            .into_iter()
                            .flatten()
                            .any(|n| n.eq_ignore_ascii_case(name))
                    })
                });
            let Some(field) = found else {
                return Err(CoreError::Refused(format!(
                    "The {} mapping has no enabled field mapping with a field named '{}'; match on one of: {}.",
                    mapping.name,
                    choice.field,
                    field_names(mapping, pass)
                )));
            };
            if !usable(field, pass) {
                return Err(CoreError::Refused(format!(
                    "The field '{}' of the {} mapping cannot be matched on: it has no field on both sides ({}).",
                    choice.field,
                    mapping.name,
                    field.label()
                )));
            }
            if !seen.insert(field as *const FieldMapping) {
                return Err(CoreError::Refused(format!(
                    "The field '{}' ({}) is chosen twice.",
                    choice.field,
                    field.label()
                )));
            }
            by_priority.entry(choice.priority).or_default().push(Criterion {
                field,
                case_sensitive: choice.case_sensitive.unwrap_or(options.case_sensitive),
            });
        }
        let mut levels: Vec<Vec<Criterion<'a>>> = Vec::new();
        let mut acc: Vec<Criterion<'a>> = Vec::new();
        for (_, group) in by_priority {
            acc.extend(group);
            levels.push(acc.clone());
        }
        Ok(MatchCriteria { mapping, pass, levels })
    }

    /// The fields of all priorities, readable (`displayName ↔ name`).
    pub fn describe(&self) -> String {
        self.levels
            .last()
            .map(|l| l.iter().map(|c| c.field.label()).collect::<Vec<_>>().join(", "))
            .unwrap_or_default()
    }

    /// The key of a destination record at `level` (`None` when a field is blank).
    fn destination_key(&self, level: usize, record: &Record) -> Option<String> {
        let dst = self.pass.destination();
        let mut parts = Vec::new();
        for c in &self.levels[level] {
            let v = record.get(c.field.field(dst)?)?;
            parts.push(key_part(v, c.case_sensitive)?);
        }
        Some(parts.join("\u{1f}"))
    }

    /// The key of a source record at `level`: its values as the destination would hold them.
    fn source_key(&self, level: usize, lookups: &Lookups, record: &Record) -> Option<String> {
        let mut parts = Vec::new();
        for c in &self.levels[level] {
            let v = desired(c.field, record, self.pass, lookups).ok()?;
            parts.push(key_part(&v, c.case_sensitive)?);
        }
        Some(parts.join("\u{1f}"))
    }
}

fn field_names(mapping: &TableMapping, pass: Pass) -> String {
    let names: Vec<String> = mapping
        .fields
        .iter()
        .filter(|f| usable(f, pass))
        .map(|f| {
            format!(
                "{}/{}",
                f.financials.as_deref().unwrap_or(""),
                f.sales.as_deref().unwrap_or("")
            )
        })
        .collect();
    if names.is_empty() { "no field can be matched".into() } else { names.join(", ") }
}

/// A field value as it takes part in a match key; blanks never match.
fn key_part(v: &Value, case_sensitive: bool) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) if s.trim().is_empty() => None,
        Value::String(s) if case_sensitive => Some(s.trim().to_owned()),
        Value::String(s) => Some(s.trim().to_lowercase()),
        other => Some(other.to_string()),
    }
}

/// What the search found for one source record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MatchResult {
    Unique(Uuid),
    NoMatch,
    /// Several destination records match on every priority.
    Ambiguous(usize),
    /// The one match was coupled to another record earlier in this run.
    AlreadyCoupled(Uuid),
}

/// The uncoupled destination records, indexed by their key at each priority level.
#[derive(Debug, Clone, Default)]
pub struct MatchIndex {
    levels: Vec<HashMap<String, Vec<Uuid>>>,
    taken: HashSet<Uuid>,
}

impl MatchIndex {
    pub fn new(criteria: &MatchCriteria<'_>) -> MatchIndex {
        MatchIndex { levels: vec![HashMap::new(); criteria.levels.len()], taken: HashSet::new() }
    }

    /// Adds an uncoupled destination record.
    pub fn add(&mut self, criteria: &MatchCriteria<'_>, row: &Row) {
        for (level, map) in self.levels.iter_mut().enumerate() {
            // Levels are cumulative: a blank field leaves the record out of every later level too.
            let Some(k) = criteria.destination_key(level, &row.fields) else { break };
            map.entry(k).or_default().push(row.id);
        }
    }

    /// Searches the match of a source record: the lowest priority's fields first, the next
    /// priority's added while several records match.
    pub fn find(
        &self,
        criteria: &MatchCriteria<'_>,
        lookups: &Lookups,
        source: &Record,
    ) -> MatchResult {
        let mut last = 0;
        for (level, map) in self.levels.iter().enumerate() {
            let Some(k) = criteria.source_key(level, lookups, source) else {
                return MatchResult::NoMatch;
            };
            let candidates = map.get(&k).map(Vec::as_slice).unwrap_or_default();
            match candidates {
                [] => return MatchResult::NoMatch,
                [one] if self.taken.contains(one) => return MatchResult::AlreadyCoupled(*one),
                [one] => return MatchResult::Unique(*one),
                many => last = many.len(),
            }
        }
        MatchResult::Ambiguous(last)
    }

    /// Marks a destination record as coupled in this run.
    pub fn take(&mut self, id: Uuid) {
        self.taken.insert(id);
    }
}

/// What to do with one uncoupled source record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Decision {
    Couple {
        target: Uuid,
    },
    /// No match: create the destination record (and couple it).
    Create,
    /// Not coupled, with the reason.
    Fail {
        message: String,
    },
}

fn display(row: &Row, field: &str) -> String {
    match row.fields.get(field) {
        Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => row.id.to_string(),
    }
}

/// Decides for each uncoupled source record (in order; a destination record is coupled to the
/// first source record that matches it alone).
pub fn plan_coupling(
    criteria: &MatchCriteria<'_>,
    index: &mut MatchIndex,
    lookups: &Lookups,
    sources: &[Row],
    create_new: bool,
) -> Vec<(Uuid, Decision)> {
    let m = criteria.mapping;
    let (src, dst) = (criteria.pass.source(), criteria.pass.destination());
    let what = |r: &Row| {
        format!(
            "{} '{}'",
            m.side(src).caption.to_lowercase(),
            display(r, &m.side(src).display_field)
        )
    };
    let dst_caption = m.side(dst).caption.to_lowercase();
    sources
        .iter()
        .map(|r| {
            let d = match index.find(criteria, lookups, &r.fields) {
                MatchResult::Unique(target) => {
                    index.take(target);
                    Decision::Couple { target }
                }
                MatchResult::NoMatch if create_new => Decision::Create,
                MatchResult::NoMatch => Decision::Fail {
                    message: format!(
                        "No {dst_caption} in {dst} matches the {} on {}.",
                        what(r),
                        criteria.describe()
                    ),
                },
                MatchResult::Ambiguous(n) => Decision::Fail {
                    message: format!(
                        "{n} records of {dst_caption} in {dst} match the {} on {}: it was not coupled. Add match fields or couple it by hand.",
                        what(r),
                        criteria.describe()
                    ),
                },
                MatchResult::AlreadyCoupled(target) => Decision::Fail {
                    message: format!(
                        "The {dst_caption} {target} in {dst} that matches the {} is already coupled to another record.",
                        what(r)
                    ),
                },
            };
            (r.id, d)
        })
        .collect()
}

#[cfg(test)]
#[path = "matching_tests.rs"]
mod tests;
