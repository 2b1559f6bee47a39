//! Deterministic target ids: a record the engine creates on the other side gets a key derived
//! from the connection, the mapping and the source record (UUIDv5), so a create repeated after a
//! crash is an upsert of the same row and a lost coupling can be rebuilt from the two ids.

use uuid::Uuid;

/// Namespace of Kontor's UUIDv5 target ids.
pub const TARGET_ID_NAMESPACE: Uuid = Uuid::from_u128(0x6b6f_6e74_6f72_5f73_796e_635f_6964_7331);

/// The key the engine gives the record it creates for `source_id` under `mapping`.
pub fn target_id(connection_id: Uuid, mapping: &str, source_id: Uuid) -> Uuid {
    let name = format!("{connection_id}/{mapping}/{source_id}");
    Uuid::new_v5(&TARGET_ID_NAMESPACE, name.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_target_id_depends_on_connection_mapping_and_source_only() {
        let c = Uuid::from_u128(1);
        let s = Uuid::from_u128(2);
        assert_eq!(target_id(c, "CUSTOMER", s), target_id(c, "CUSTOMER", s));
        assert_ne!(target_id(c, "CUSTOMER", s), target_id(c, "CONTACT", s));
        assert_ne!(target_id(c, "CUSTOMER", s), target_id(Uuid::from_u128(3), "CUSTOMER", s));
        assert_eq!(target_id(c, "CUSTOMER", s).get_version_num(), 5);
    }
}
