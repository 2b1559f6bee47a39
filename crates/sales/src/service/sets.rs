//! Entity sets by name: the entity type, the table and the storage entity type.

use kontor_odata::model::EntityType;

use crate::SalesError;
use crate::model::{TableInfo, sales_model, storage_model};

/// The entity type, the table and the storage entity type of an entity set.
pub fn entity_set(
    set: &str,
) -> Result<(&'static EntityType, &'static TableInfo, &'static EntityType), SalesError> {
    let (e, t) = sales_model().set(set).ok_or_else(|| SalesError::UnknownSet(set.to_owned()))?;
    let storage =
        storage_model().entity_set(set).ok_or_else(|| SalesError::UnknownSet(set.to_owned()))?;
    Ok((e, t, storage))
}

/// The storage entity type of `entity`'s set.
pub(super) fn storage_of(entity: &EntityType) -> Result<&'static EntityType, SalesError> {
    storage_model()
        .entity_set(&entity.set_name)
        .ok_or_else(|| SalesError::UnknownSet(entity.set_name.clone()))
}
