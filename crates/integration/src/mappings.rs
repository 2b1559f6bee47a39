//! Integration table mappings: read, save one, import and export the file, reset one to its
//! default.

use kontor_sync::SyncError;
use kontor_sync::defaults::{MappingOptions, default_mappings_with};
use kontor_sync::mapping::{MappingSet, TableMapping};
use serde::{Deserialize, Serialize};

use crate::{Integration, IntegrationError, Result};

/// What an import stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportResult {
    pub imported: usize,
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

    /// Replaces mappings from an export file (validated; marked customised).
    pub async fn import_mappings(&self, file: &str) -> Result<ImportResult> {
        let set = MappingSet::from_json(file)?;
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
