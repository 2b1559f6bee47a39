//! Users' secrets and permission sets: argon2 password hashes, web service access keys (stored as
//! SHA-256, shown once), and what each permission set allows. Pure; storage is in `users`.

use std::fmt;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// A secret string (password or access key): never printed by `Debug` or `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    /// The secret itself; call only where it is used (hashing, showing it once to its owner).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Hashes a password with argon2id and a random salt (PHC string).
pub fn hash_password(password: &Secret) -> String {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    Argon2::default()
        .hash_password(password.expose().as_bytes(), &salt)
        .map(|h| h.to_string())
        .unwrap_or_default()
}

/// Checks a password against a stored PHC hash (slow by design: ~tens of ms).
pub fn verify_password(password: &Secret, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(hash) => Argon2::default().verify_password(password.expose().as_bytes(), &hash).is_ok(),
        Err(_) => false,
    }
}

/// A new web service access key: 32 random bytes, base64url without padding (43 characters).
pub fn generate_access_key() -> Secret {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    Secret(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// A new random password for the first administrator (24 characters).
pub fn generate_password() -> Secret {
    let mut bytes = [0u8; 18];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    Secret(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// How an access key is stored: lowercase hex SHA-256. Keys carry 256 bits of entropy, so a fast
/// hash is enough and verification costs one lookup.
pub fn access_key_hash(key: &Secret) -> String {
    hex(&Sha256::digest(key.expose().as_bytes()))
}

/// A cache key for verified credentials: SHA-256 over the user, the stored password hash and the
/// secret. A password change changes the stored hash, so old entries can never match again.
pub fn credential_fingerprint(user_name: &str, stored_hash: &str, secret: &Secret) -> [u8; 32] {
    let mut h = Sha256::new();
    for part in [user_name.as_bytes(), stored_hash.as_bytes(), secret.expose().as_bytes()] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part);
    }
    h.finalize().into()
}

fn hex(bytes: &[u8]) -> String {
    use fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Permission sets a user can hold (BC names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PermissionSet {
    /// Everything, including users.
    Super,
    /// Read and write all business data; not users.
    BusFullAccess,
    /// Read all business data.
    Read,
    /// Read the item availability web service (the integration user of the CRM).
    ItemAvailability,
    /// Read the integration with Sales: the connection, mappings, couplings, the full
    /// synchronization's status, synch jobs, skipped records and job queue entries.
    DynCrmRead,
    /// Manage the integration with Sales: change mappings, couple and uncouple, start
    /// synchronizations, retry, restart or hold job queue entries. Includes `D365 DYN CRM READ`.
    DynCrmMgt,
}

impl PermissionSet {
    pub const ALL: [PermissionSet; 6] = [
        PermissionSet::Super,
        PermissionSet::BusFullAccess,
        PermissionSet::Read,
        PermissionSet::ItemAvailability,
        PermissionSet::DynCrmRead,
        PermissionSet::DynCrmMgt,
    ];

    pub fn name(self) -> &'static str {
        match self {
            PermissionSet::Super => "SUPER",
            PermissionSet::BusFullAccess => "D365 BUS FULL ACCESS",
            PermissionSet::Read => "D365 READ",
            PermissionSet::ItemAvailability => "D365 ITEM AVAILABILITY",
            PermissionSet::DynCrmRead => "D365 DYN CRM READ",
            PermissionSet::DynCrmMgt => "D365 DYN CRM MGT",
        }
    }

    /// Whether holding this set grants `other`: itself, everything for `SUPER`, and
    /// `D365 DYN CRM READ` for `D365 DYN CRM MGT`.
    pub fn implies(self, other: PermissionSet) -> bool {
        use PermissionSet::*;
        self == other || self == Super || (self == DynCrmMgt && other == DynCrmRead)
    }

    pub fn parse(s: &str) -> Option<PermissionSet> {
        let s = s.trim();
        Self::ALL.into_iter().find(|p| p.name().eq_ignore_ascii_case(s))
    }
}

/// What a request wants to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

/// What is being touched, as far as permissions go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    /// Business data: every entity set but users.
    Data,
    /// Users and their keys.
    Users,
    /// The `ProductItemAvailability` web service.
    ItemAvailability,
}

/// A user's permission sets, parsed from the comma-separated `permissionSets` field.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Permissions(pub Vec<PermissionSet>);

impl Permissions {
    /// Parses `"SUPER, D365 READ"`; the error names the unknown set.
    pub fn parse(list: &str) -> Result<Permissions, String> {
        let mut sets = Vec::new();
        for part in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match PermissionSet::parse(part) {
                Some(p) if !sets.contains(&p) => sets.push(p),
                Some(_) => {}
                None => {
                    let known: Vec<&str> = PermissionSet::ALL.iter().map(|p| p.name()).collect();
                    return Err(format!(
                        "'{part}' is not a permission set. The existing permission sets are: {}",
                        known.join(", ")
                    ));
                }
            }
        }
        Ok(Permissions(sets))
    }

    pub fn to_list(&self) -> String {
        self.0.iter().map(|p| p.name()).collect::<Vec<_>>().join(",")
    }

    pub fn has(&self, p: PermissionSet) -> bool {
        self.0.contains(&p)
    }

    /// Whether one of the sets held grants `p` ([`PermissionSet::implies`]).
    pub fn grants(&self, p: PermissionSet) -> bool {
        self.0.iter().any(|held| held.implies(p))
    }

    pub fn allows(&self, resource: Resource, access: Access) -> bool {
        use PermissionSet::*;
        if self.has(Super) {
            return true;
        }
        match (resource, access) {
            (Resource::Users, _) => false,
            (Resource::Data, Access::Read) => self.has(BusFullAccess) || self.has(Read),
            (Resource::Data, Access::Write) => self.has(BusFullAccess),
            (Resource::ItemAvailability, Access::Read) => {
                self.has(BusFullAccess) || self.has(ItemAvailability)
            }
            (Resource::ItemAvailability, Access::Write) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_verifies_against_its_own_hash_only() {
        let h = hash_password(&Secret::new("correct horse"));
        assert!(verify_password(&Secret::new("correct horse"), &h));
        assert!(!verify_password(&Secret::new("wrong horse"), &h));
        assert!(!verify_password(&Secret::new("correct horse"), "not a hash"));
    }

    #[test]
    fn secrets_are_redacted_in_debug_output() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "Secret(***)");
        assert!(!format!("{:?}", Some(s)).contains("hunter2"));
    }

    #[test]
    fn access_keys_are_long_random_and_hashed_to_hex() {
        let a = generate_access_key();
        let b = generate_access_key();
        assert_ne!(a, b);
        assert_eq!(a.expose().len(), 43);
        let h = access_key_hash(&a);
        assert_eq!(h.len(), 64);
        assert_eq!(h, access_key_hash(&a));
    }

    #[test]
    fn an_unknown_permission_set_is_named_in_the_error() {
        let err = Permissions::parse("SUPER, ADMIN").unwrap_err();
        assert!(err.contains("'ADMIN'"), "{err}");
        assert_eq!(Permissions::parse("super, D365 read").unwrap().to_list(), "SUPER,D365 READ");
    }

    #[test]
    fn a_read_only_user_can_read_data_but_not_write_it_or_see_users() {
        let p = Permissions::parse("D365 READ").unwrap();
        assert!(p.allows(Resource::Data, Access::Read));
        assert!(!p.allows(Resource::Data, Access::Write));
        assert!(!p.allows(Resource::Users, Access::Read));
        assert!(!p.allows(Resource::ItemAvailability, Access::Read));
        let integration = Permissions::parse("D365 ITEM AVAILABILITY").unwrap();
        assert!(integration.allows(Resource::ItemAvailability, Access::Read));
        assert!(!integration.allows(Resource::Data, Access::Read));
    }

    #[test]
    fn managing_the_integration_includes_reading_it_and_super_includes_everything() {
        use PermissionSet::*;
        let mgt = Permissions::parse("D365 DYN CRM MGT").unwrap();
        assert!(mgt.grants(DynCrmMgt) && mgt.grants(DynCrmRead));
        assert!(!mgt.grants(Super) && !mgt.allows(Resource::Data, Access::Read));
        let read = Permissions::parse("d365 dyn crm read").unwrap();
        assert!(read.grants(DynCrmRead) && !read.grants(DynCrmMgt));
        let sup = Permissions(vec![Super]);
        assert!(PermissionSet::ALL.into_iter().all(|p| sup.grants(p)));
        let others = Permissions(vec![BusFullAccess, Read, ItemAvailability]);
        assert!(!others.grants(DynCrmRead) && !others.grants(DynCrmMgt));
    }
}
