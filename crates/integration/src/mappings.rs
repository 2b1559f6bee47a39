//! Integration table mappings: read, save one, import and export the file, reset one to its
//! default.

use kontor_sync::defaults::{MappingOptions, default_mappings_with};
use kontor_sync::filter::Filter;
use kontor_sync::mapping::{MappingSet, TableMapping};
use kontor_sync::{CoreError, Direction, SyncError};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{Integration, IntegrationError, Result};

/// What an import stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportResult {
    pub imported: usize,
}

/// An edit of a table mapping's settings on the *Integration Table Mappings* page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MappingEdit {
    pub direction: Direction,
    /// The Financials table filter as `$filter` text (empty: none).
    #[serde(default)]
    pub financials_filter: String,
    /// The Sales (integration table) filter as `$filter` text (empty: none).
    #[serde(default)]
    pub sales_filter: String,
    pub enabled: bool,
}

/// An edit of one field mapping (by its position in the mapping) on *Integration Field
/// Mappings*.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FieldEdit {
    pub direction: Direction,
    /// The constant value as typed (empty or `None`: no constant). Kept as text when the field's
    /// constant was text; otherwise a number, `true`/`false` or JSON is read as such.
    #[serde(default)]
    pub constant: Option<String>,
    pub enabled: bool,
}

/// A `$filter` text as a table filter (`None` when empty); the error names `field`.
fn table_filter(field: &str, caption: &str, text: &str) -> Result<Option<Filter>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    Filter::parse(text).map(Some).map_err(|e| format!("The {caption} ({field}) is invalid: {e}."))
}

/// The constant value `typed` for a field whose constant was `old`.
fn constant_value(typed: Option<&str>, old: Option<&Value>) -> Result<Option<Value>, String> {
    let Some(text) = typed.map(str::trim).filter(|t| !t.is_empty()) else { return Ok(None) };
    match old {
        Some(Value::String(_)) => Ok(Some(Value::String(text.to_owned()))),
        Some(Value::Number(_)) => match serde_json::from_str::<Value>(text) {
            Ok(v @ Value::Number(_)) => Ok(Some(v)),
            _ => Err(format!("The constant value (constant) must be a number, not '{text}'.")),
        },
        Some(Value::Bool(_)) => match text.to_ascii_lowercase().as_str() {
            "true" | "yes" => Ok(Some(Value::Bool(true))),
            "false" | "no" => Ok(Some(Value::Bool(false))),
            _ => Err(format!("The constant value (constant) must be true or false, not '{text}'.")),
        },
        _ => Ok(Some(
            serde_json::from_str::<Value>(text)
                .ok()
                .filter(|v| !v.is_string())
                .unwrap_or_else(|| Value::String(text.to_owned())),
        )),
    }
}

/// The line of `file` on which mapping `name` is named (1-based).
fn line_of(file: &str, name: &str) -> Option<usize> {
    let quoted = serde_json::to_string(name).ok()?;
    file.lines()
        .position(|l| {
            let l = l.trim_start();
            l.starts_with("\"name\"") && l.contains(&quoted)
        })
        .map(|n| n + 1)
}

impl Integration {
    /// All integration table mappings.
    pub async fn mappings(&self) -> Result<MappingSet> {
        Ok(self.store.mappings().await?)
    }

    /// One mapping.
    pub async fn mapping(&self, name: &str) -> Result<TableMapping> {
        Ok(self.store.mapping(name).await?)
    }

    /// Stores `mapping` as `name` (new or replacing the stored one), marked customised, when the
    /// mappings stay coherent with it.
    pub async fn save_mapping(&self, name: &str, mapping: TableMapping) -> Result<TableMapping> {
        if mapping.name != name {
            return Err(IntegrationError::invalid(format!(
                "The mapping in the body is named {}, not {name}.",
                mapping.name
            )));
        }
        let mut set = self.store.mappings().await?;
        match set.mappings.iter_mut().find(|x| x.name == name) {
            Some(x) => *x = mapping.clone(),
            None => set.mappings.push(mapping.clone()),
        }
        set.validate()?;
        self.store.save_mapping(&mapping, self.clock.now()).await?;
        Ok(mapping)
    }

    /// *Edit* a table mapping: its direction, table filters and whether it is enabled. A
    /// filter that does not parse is refused naming it and the position. Made one-way, its
    /// bidirectional field mappings go that way too (a field going the other way is refused,
    /// naming it). Stored customised, so setup keeps it.
    pub async fn edit_mapping(&self, name: &str, edit: MappingEdit) -> Result<TableMapping> {
        let mut m = self.store.mapping(name).await?;
        let financials = table_filter("financialsFilter", "table filter", &edit.financials_filter);
        let sales = table_filter("salesFilter", "integration table filter", &edit.sales_filter);
        let (financials, sales) = match (financials, sales) {
            (Ok(f), Ok(s)) => (f, s),
            (f, s) => {
                let errors: Vec<String> = [f.err(), s.err()].into_iter().flatten().collect();
                return Err(IntegrationError::invalid(errors.join(" ")));
            }
        };
        m.direction = edit.direction;
        m.financials.filter = financials;
        m.sales.filter = sales;
        m.enabled = edit.enabled;
        if edit.direction != Direction::Bidirectional {
            for f in m.fields.iter_mut().filter(|f| f.direction == Direction::Bidirectional) {
                f.direction = edit.direction;
            }
        }
        self.save_mapping(name, m).await
    }

    /// *Edit* a field mapping (`index`: its position in the mapping's fields): direction,
    /// constant value, enabled; the mapping as a whole must stay valid.
    pub async fn edit_field_mapping(
        &self,
        name: &str,
        index: usize,
        edit: FieldEdit,
    ) -> Result<TableMapping> {
        let mut m = self.store.mapping(name).await?;
        let count = m.fields.len();
        let f = m.fields.get_mut(index).ok_or_else(|| {
            IntegrationError::NotFound(format!(
                "Mapping {name} has no field mapping {} (it has {count}).",
                index + 1
            ))
        })?;
        f.constant = constant_value(edit.constant.as_deref(), f.constant.as_ref())
            .map_err(IntegrationError::invalid)?;
        f.direction = edit.direction;
        f.enabled = edit.enabled;
        self.save_mapping(name, m).await
    }

    /// Replaces mappings from an export file, validated as a whole and written in one
    /// transaction (a bad file writes nothing); marked customised. A refusal names the line
    /// (the file's own, or the one the mapping at fault is named on) and the field.
    pub async fn import_mappings(&self, file: &str) -> Result<ImportResult> {
        let set = MappingSet::from_json(file).map_err(|e| match &e {
            CoreError::InvalidMapping { mapping, .. } if !mapping.is_empty() => {
                match line_of(file, mapping) {
                    Some(line) => IntegrationError::invalid(format!("{e} (line {line})")),
                    None => e.into(),
                }
            }
            CoreError::InvalidMapping { message, .. } => {
                IntegrationError::invalid(format!("The file cannot be imported: {message}."))
            }
            _ => e.into(),
        })?;
        self.store.save_mappings(&set, false, true, self.clock.now()).await?;
        Ok(ImportResult { imported: set.mappings.len() })
    }

    /// The export file of all mappings.
    pub async fn export_mappings(&self) -> Result<String> {
        Ok(self.store.mappings().await?.to_json())
    }

    /// Puts one mapping back to its default (kontor-sync's default set, of Unit Group Mapping
    /// when the stored UNIT GROUP mapping is enabled) and marks it no longer customised. Whether
    /// it is enabled stays as it is; SALESPEOPLE keeps leaving out the integration user.
    pub async fn reset_mapping(&self, name: &str) -> Result<TableMapping> {
        let stored = self.store.mapping(name).await?;
        let mut set = self.store.mappings().await?;
        let unit_group_mapping = set.get("UNIT GROUP").is_some_and(|m| m.enabled);
        let mut default = [unit_group_mapping, true]
            .into_iter()
            .find_map(|on| {
                default_mappings_with(MappingOptions { unit_group_mapping: on }).get(name).cloned()
            })
            .ok_or_else(|| {
                SyncError::Refused(format!(
                    "{name} is not one of the default mappings: it has no default to reset to."
                ))
            })?;
        default.enabled = stored.enabled;
        if let Some(user) = self.store.connection().await?.and_then(|c| c.sales_user_id) {
            kontor_sync::setup::leave_out_integration_user(&mut default, user)?;
        }
        if let Some(x) = set.mappings.iter_mut().find(|x| x.name == name) {
            *x = default.clone();
        }
        set.validate()?;
        if !self.store.reset_mapping(&default, self.clock.now()).await? {
            return Err(SyncError::NotFound(format!("integration table mapping {name}")).into());
        }
        Ok(default)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_typed_constant_keeps_the_type_of_the_fields_constant_or_is_refused_naming_it() {
        type Expected = Result<Option<Value>, &'static str>;
        let cases: [(&str, Option<Value>, Expected); 9] = [
            ("", Some(json!("x")), Ok(None)),
            ("  ", None, Ok(None)),
            ("42", Some(json!("old")), Ok(Some(json!("42")))),
            ("7", Some(json!(1)), Ok(Some(json!(7)))),
            (
                "seven",
                Some(json!(1)),
                Err("The constant value (constant) must be a number, not 'seven'."),
            ),
            ("yes", Some(json!(false)), Ok(Some(json!(true)))),
            (
                "maybe",
                Some(json!(false)),
                Err("The constant value (constant) must be true or false, not 'maybe'."),
            ),
            ("3", None, Ok(Some(json!(3)))),
            ("Contoso", None, Ok(Some(json!("Contoso")))),
        ];
        for (typed, old, expected) in cases {
            let got = constant_value(Some(typed), old.as_ref());
            assert_eq!(got, expected.map_err(str::to_owned), "{typed:?} over {old:?}");
        }
    }

    #[test]
    fn an_import_refusal_finds_the_line_its_mapping_is_named_on() {
        let file = "{\n  \"version\": 1,\n  \"mappings\": [\n    {\n      \"name\": \"CURRENCY\"\n    },\n    {\n      \"name\": \"CUSTOMER\",\n";
        assert_eq!(line_of(file, "CUSTOMER"), Some(8));
        assert_eq!(line_of(file, "CURRENCY"), Some(5));
        assert_eq!(line_of(file, "CONTACT"), None);
    }
}
