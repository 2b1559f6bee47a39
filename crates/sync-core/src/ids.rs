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

/// Leading bytes of the ids that stand for Sales option values in couplings.
const OPTION_ID_PREFIX: u64 = 0x6b6f_6e74_6f70_7430;

/// The coupling id of a Sales option value (option mappings couple a Financials record with an
/// option value, which has no GUID of its own): a fixed prefix, then the value.
pub fn option_id(value: i64) -> Uuid {
    Uuid::from_u64_pair(OPTION_ID_PREFIX, value as u64)
}

/// The option value a coupling id stands for; `None` for an id that is not one.
pub fn option_value(id: Uuid) -> Option<i64> {
    let (hi, lo) = id.as_u64_pair();
    (hi == OPTION_ID_PREFIX).then_some(lo as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_option_id_gives_its_value_back_and_other_ids_give_none() {
        for v in [0, 1, 100_000_000, -1, i64::MAX] {
            assert_eq!(option_value(option_id(v)), Some(v));
        }
        assert_eq!(option_value(Uuid::from_u128(7)), None);
        assert_eq!(option_value(target_id(Uuid::nil(), "X", Uuid::nil())), None);
    }

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
