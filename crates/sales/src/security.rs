//! Security roles and privileges (pure).
//!
//! A privilege is `prv<Op><SchemaName>` (`prvCreateAccount`). Roles are rows in `roles`; their
//! privileges are stored in `crm_roleprivileges`. Built-in roles and the integration roles get the
//! privilege lists defined here.

use std::collections::BTreeSet;

use crate::model::{TableInfo, sales_model};

pub const SYSTEM_ADMINISTRATOR: &str = "System Administrator";
pub const SOLUTION_CUSTOMIZER: &str = "Solution Customizer";
pub const SALESPERSON: &str = "Salesperson";
pub const INTEGRATION_ADMINISTRATOR: &str = "Kontor Integration Administrator";
pub const INTEGRATION_USER: &str = "Kontor Integration User";

/// The operation a privilege grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Op {
    Create,
    Read,
    Write,
    Delete,
}

impl Op {
    pub const ALL: [Op; 4] = [Op::Create, Op::Read, Op::Write, Op::Delete];
    fn as_str(self) -> &'static str {
        match self {
            Op::Create => "Create",
            Op::Read => "Read",
            Op::Write => "Write",
            Op::Delete => "Delete",
        }
    }
}

/// `prvCreateAccount`.
pub fn privilege_name(op: Op, table: &TableInfo) -> String {
    format!("prv{}{}", op.as_str(), table.schema_name)
}

/// Deterministic id of one of Kontor's roles, so every database names them alike.
pub fn role_id_for(name: &str) -> uuid::Uuid {
    uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, format!("kontor.role.{name}").as_bytes())
}

/// A stable id for a privilege name (Dataverse shows privilege ids in its messages).
pub fn privilege_id(name: &str) -> uuid::Uuid {
    uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, format!("kontor.privilege.{name}").as_bytes())
}

/// What a caller holds: its roles (by id: names are writable and prove nothing) and the union of
/// their privileges.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Grants {
    pub roles: BTreeSet<uuid::Uuid>,
    pub privileges: BTreeSet<String>,
}

impl std::fmt::Debug for Grants {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Grants")
            .field("roles", &self.roles)
            .field("privileges", &self.privileges.len())
            .finish()
    }
}

/// A denied privilege check, with what the Dataverse message needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denied {
    pub privilege: String,
    pub logical_name: String,
    pub object_type_code: i32,
    pub role_count: usize,
    pub privilege_count: usize,
}

impl Denied {
    /// The Dataverse message of this denial for `user`.
    pub fn message(&self, user: uuid::Uuid) -> String {
        let pid = privilege_id(&self.privilege);
        format!(
            "Principal user (Id={user}, type=8, roleCount={}, privilegeCount={}, accessMode=0), is missing {} privilege (Id={pid}) on OTC={} for entity '{}'. context.Caller={user}",
            self.role_count,
            self.privilege_count,
            self.privilege,
            self.object_type_code,
            self.logical_name
        )
    }
}

impl Grants {
    /// Whether the caller holds the role with this id ([`role_id_for`] for Kontor's roles).
    pub fn has_role(&self, role: uuid::Uuid) -> bool {
        self.roles.contains(&role)
    }

    /// Checks `op` on `table`.
    pub fn check(&self, op: Op, table: &TableInfo) -> Result<(), Denied> {
        let privilege = privilege_name(op, table);
        if self.privileges.contains(&privilege) {
            return Ok(());
        }
        Err(Denied {
            privilege,
            logical_name: table.logical_name.clone(),
            object_type_code: table.object_type_code,
            role_count: self.roles.len(),
            privilege_count: self.privileges.len(),
        })
    }
}

fn all_tables() -> impl Iterator<Item = &'static TableInfo> {
    sales_model().tables.iter()
}

fn privileges(ops: &[Op], tables: &[&str]) -> Vec<String> {
    let mut out = vec![];
    for t in all_tables().filter(|t| tables.contains(&t.logical_name.as_str())) {
        for op in ops {
            out.push(privilege_name(*op, t));
        }
    }
    out
}

/// The tables the integration synchronizes.
pub const INTEGRATION_TABLES: &[&str] = &[
    "account",
    "contact",
    "transactioncurrency",
    "uomschedule",
    "uom",
    "product",
    "pricelevel",
    "productpricelevel",
    "salesorder",
    "salesorderdetail",
    "invoice",
    "invoicedetail",
];
const DIRECTORY_TABLES: &[&str] = &["systemuser", "businessunit", "team", "role"];

/// The privileges of a role Kontor defines (built-in or installed by the solution).
pub fn role_privileges(role: &str) -> Vec<String> {
    let every: Vec<&str> = all_tables().map(|t| t.logical_name.as_str()).collect();
    let mut p = match role {
        SYSTEM_ADMINISTRATOR => privileges(&Op::ALL, &every),
        SOLUTION_CUSTOMIZER => privileges(&[Op::Read], &every),
        SALESPERSON => {
            let mut p =
                privileges(&Op::ALL, &["account", "contact", "salesorder", "salesorderdetail"]);
            p.extend(privileges(
                &[Op::Read],
                &[
                    "systemuser",
                    "businessunit",
                    "team",
                    "transactioncurrency",
                    "uomschedule",
                    "uom",
                    "product",
                    "pricelevel",
                    "productpricelevel",
                    "invoice",
                    "invoicedetail",
                ],
            ));
            p
        }
        INTEGRATION_ADMINISTRATOR => {
            let mut p = privileges(&Op::ALL, INTEGRATION_TABLES);
            p.extend(privileges(&Op::ALL, DIRECTORY_TABLES));
            p.push(KONTOR_CONNECTION_PRIVILEGE.to_owned());
            p
        }
        INTEGRATION_USER => {
            let mut p = privileges(&Op::ALL, INTEGRATION_TABLES);
            p.extend(privileges(&[Op::Read], DIRECTORY_TABLES));
            p
        }
        _ => vec![],
    };
    if role == SYSTEM_ADMINISTRATOR {
        p.push(KONTOR_CONNECTION_PRIVILEGE.to_owned());
    }
    p.sort();
    p.dedup();
    p
}

/// Privilege to read and change the Financials connection of the integration.
pub const KONTOR_CONNECTION_PRIVILEGE: &str = "prvWriteKontorFinancialsConnection";

/// The built-in roles created on an empty database.
pub const BUILT_IN_ROLES: &[&str] = &[SYSTEM_ADMINISTRATOR, SOLUTION_CUSTOMIZER, SALESPERSON];

/// Kontor's predefined roles: the built-in ones and those the integration solution installs.
/// Each has a fixed id ([`role_id_for`] its name, the id every database has created it with), and
/// none can be renamed, changed or deleted through the API.
pub const PREDEFINED_ROLES: &[&str] = &[
    SYSTEM_ADMINISTRATOR,
    SOLUTION_CUSTOMIZER,
    SALESPERSON,
    INTEGRATION_ADMINISTRATOR,
    INTEGRATION_USER,
];

/// The fixed id of System Administrator.
pub fn system_administrator_id() -> uuid::Uuid {
    role_id_for(SYSTEM_ADMINISTRATOR)
}

/// The name of the predefined role with this id, if it is one.
pub fn predefined_role(id: uuid::Uuid) -> Option<&'static str> {
    PREDEFINED_ROLES.iter().copied().find(|name| role_id_for(name) == id)
}

/// The predefined role this name belongs to (names compare without case, as Dataverse's do).
fn reserved_name(name: &str) -> Option<&'static str> {
    PREDEFINED_ROLES.iter().copied().find(|r| r.eq_ignore_ascii_case(name.trim()))
}

/// Importing a solution needs both System Administrator and Solution Customizer (the integration
/// setup's rule).
pub fn may_import_solution(grants: &Grants) -> bool {
    grants.has_role(system_administrator_id()) && grants.has_role(role_id_for(SOLUTION_CUSTOMIZER))
}

/// Setting other users' credentials is an administrator's job.
pub fn may_administer_users(grants: &Grants) -> bool {
    grants.has_role(system_administrator_id())
}

/// Why a change to a role, or to who holds it, is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoleRefusal {
    #[error(
        "The security role '{name}' (Id={id}) is predefined: it cannot be renamed, changed or deleted."
    )]
    Predefined { id: uuid::Uuid, name: &'static str },
    #[error("The name '{0}' belongs to a predefined security role; choose another name.")]
    ReservedName(String),
    #[error("A user cannot change its own security roles; another user with the privileges must.")]
    OwnRoles,
    #[error(
        "A System Administrator cannot remove System Administrator from itself; another one must."
    )]
    OwnAdministration,
    /// The rule against elevation: nobody assigns (or removes) a role they do not hold
    /// themselves (System Administrator holds every privilege and may assign any role).
    #[error(
        "The caller does not hold the security role (Id={role}), so it cannot assign or remove it."
    )]
    NotHeld { role: uuid::Uuid },
    /// Dataverse's rule against elevation: nobody assigns (or removes) a role with privileges they
    /// do not hold themselves.
    #[error(
        "The security role (Id={role}) has privileges the caller does not hold ({}), so the caller cannot assign or remove it.",
        missing.join(", ")
    )]
    Escalation { role: uuid::Uuid, missing: Vec<String> },
}

/// Creating a role row with `id` and `name`: a predefined role's name only at its own id, and a
/// predefined id only with its own name.
pub fn check_role_create(id: uuid::Uuid, name: Option<&str>) -> Result<(), RoleRefusal> {
    if let Some(predefined) = predefined_role(id)
        && name != Some(predefined)
    {
        return Err(RoleRefusal::Predefined { id, name: predefined });
    }
    match name.and_then(reserved_name) {
        Some(r) if role_id_for(r) != id => Err(RoleRefusal::ReservedName(r.to_owned())),
        _ => Ok(()),
    }
}

/// Updating the role row `id`, renaming it to `new_name` when given: predefined roles are
/// read-only, and no other role takes a predefined role's name.
pub fn check_role_update(id: uuid::Uuid, new_name: Option<&str>) -> Result<(), RoleRefusal> {
    if let Some(name) = predefined_role(id) {
        return Err(RoleRefusal::Predefined { id, name });
    }
    match new_name.and_then(reserved_name) {
        Some(r) => Err(RoleRefusal::ReservedName(r.to_owned())),
        None => Ok(()),
    }
}

/// Deleting the role row `id`.
pub fn check_role_delete(id: uuid::Uuid) -> Result<(), RoleRefusal> {
    match predefined_role(id) {
        Some(name) => Err(RoleRefusal::Predefined { id, name }),
        None => Ok(()),
    }
}

/// The privileges that let a caller assign and remove roles at all (Dataverse asks for Read and
/// Assign on Security Role; Kontor's closest are Read and Write on `role`).
pub const ROLE_ASSIGNMENT_OPS: [Op; 2] = [Op::Read, Op::Write];

/// Whether a role is given to a user or taken from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoleChange {
    Assign,
    Remove,
}

/// Assigning `role` (with `role_privileges`) to `target`, or removing it, by `caller` holding
/// `grants` (who already passed the [`ROLE_ASSIGNMENT_OPS`] check): only a role the caller holds
/// itself (or any, for System Administrator), never one with a privilege the caller lacks, and
/// never one's own roles — but for a System Administrator, who holds every privilege already
/// (so gains nothing) and may give itself another role, never take System Administrator away.
pub fn check_role_assignment(
    grants: &Grants,
    caller: uuid::Uuid,
    target: uuid::Uuid,
    role: uuid::Uuid,
    role_privileges: &BTreeSet<String>,
    change: RoleChange,
) -> Result<(), RoleRefusal> {
    let administrator = grants.has_role(system_administrator_id());
    if caller == target {
        if !administrator {
            return Err(RoleRefusal::OwnRoles);
        }
        if change == RoleChange::Remove && role == system_administrator_id() {
            return Err(RoleRefusal::OwnAdministration);
        }
        return Ok(());
    }
    if !grants.has_role(role) && !administrator {
        return Err(RoleRefusal::NotHeld { role });
    }
    let missing: Vec<String> = role_privileges.difference(&grants.privileges).cloned().collect();
    if missing.is_empty() { Ok(()) } else { Err(RoleRefusal::Escalation { role, missing }) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grants(role: &str) -> Grants {
        Grants {
            roles: [role_id_for(role)].into(),
            privileges: role_privileges(role).into_iter().collect(),
        }
    }
    fn table(name: &str) -> &'static TableInfo {
        sales_model().by_logical_name(name).unwrap().1
    }

    #[test]
    fn a_system_administrator_may_do_anything_on_every_table() {
        let g = grants(SYSTEM_ADMINISTRATOR);
        for t in all_tables() {
            for op in Op::ALL {
                assert!(g.check(op, t).is_ok(), "{op:?} {}", t.logical_name);
            }
        }
    }

    #[test]
    fn a_salesperson_may_not_create_products_and_the_denial_names_the_privilege() {
        let g = grants(SALESPERSON);
        assert!(g.check(Op::Create, table("account")).is_ok());
        let d = g.check(Op::Create, table("product")).unwrap_err();
        assert_eq!(d.privilege, "prvCreateProduct");
        assert_eq!(d.object_type_code, 1024);
    }

    #[test]
    fn solution_import_needs_both_roles() {
        let mut g = grants(SYSTEM_ADMINISTRATOR);
        assert!(!may_import_solution(&g));
        g.roles.insert(role_id_for(SOLUTION_CUSTOMIZER));
        assert!(may_import_solution(&g));
        assert!(!may_import_solution(&grants(SOLUTION_CUSTOMIZER)));
    }

    #[test]
    fn the_privileges_of_every_kontor_role_are_as_reviewed() {
        let mut out = String::new();
        for role in [
            SYSTEM_ADMINISTRATOR,
            SOLUTION_CUSTOMIZER,
            SALESPERSON,
            INTEGRATION_ADMINISTRATOR,
            INTEGRATION_USER,
        ] {
            out.push_str(&format!("{role}:\n"));
            for p in role_privileges(role) {
                out.push_str(&format!("  {p}\n"));
            }
        }
        insta::assert_snapshot!(out);
    }

    #[test]
    fn the_integration_user_reads_users_but_does_not_change_them() {
        let g = grants(INTEGRATION_USER);
        assert!(g.check(Op::Read, table("systemuser")).is_ok());
        assert!(g.check(Op::Write, table("systemuser")).is_err());
        assert!(g.check(Op::Write, table("salesorder")).is_ok());
    }

    #[test]
    fn a_role_named_system_administrator_is_not_the_system_administrator_role() {
        let impostor = uuid::Uuid::new_v4();
        let g = Grants { roles: [impostor].into(), privileges: BTreeSet::new() };
        assert!(!may_administer_users(&g));
        assert_eq!(
            check_role_update(impostor, Some("system administrator")),
            Err(RoleRefusal::ReservedName(SYSTEM_ADMINISTRATOR.to_owned()))
        );
        assert!(check_role_create(impostor, Some(SYSTEM_ADMINISTRATOR)).is_err());
        assert!(check_role_create(impostor, Some("Auditor")).is_ok());
        assert!(check_role_update(impostor, Some("Auditor")).is_ok());
    }

    #[test]
    fn predefined_roles_cannot_be_renamed_changed_or_deleted() {
        for name in PREDEFINED_ROLES {
            let id = role_id_for(name);
            assert_eq!(predefined_role(id), Some(*name));
            assert!(matches!(check_role_update(id, None), Err(RoleRefusal::Predefined { .. })));
            assert!(check_role_update(id, Some("Renamed")).is_err());
            assert!(check_role_delete(id).is_err());
            assert!(check_role_create(id, Some(name)).is_ok(), "the role itself, at its own id");
            assert!(check_role_create(id, Some("Other")).is_err());
        }
        assert!(check_role_delete(uuid::Uuid::new_v4()).is_ok());
    }

    #[test]
    fn nobody_assigns_a_role_they_do_not_hold_nor_changes_their_own_roles_but_an_administrator_adding_one()
     {
        use RoleChange::{Assign, Remove};
        let set = |role: &str| -> BTreeSet<String> { role_privileges(role).into_iter().collect() };
        let admin = grants(INTEGRATION_ADMINISTRATOR);
        let (me, other) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
        let (user, sysadmin) = (set(INTEGRATION_USER), set(SYSTEM_ADMINISTRATOR));
        let (user_role, sa_id) = (role_id_for(INTEGRATION_USER), system_administrator_id());
        let admin_role = role_id_for(INTEGRATION_ADMINISTRATOR);
        let check = check_role_assignment;
        assert!(
            check(&admin, me, other, admin_role, &set(INTEGRATION_ADMINISTRATOR), Assign).is_ok()
        );
        assert_eq!(
            check(&admin, me, other, user_role, &user, Assign),
            Err(RoleRefusal::NotHeld { role: user_role })
        );
        assert_eq!(check(&admin, me, me, user_role, &user, Assign), Err(RoleRefusal::OwnRoles));
        assert_eq!(check(&admin, me, me, admin_role, &user, Remove), Err(RoleRefusal::OwnRoles));
        assert_eq!(
            check(&admin, me, other, sa_id, &sysadmin, Assign),
            Err(RoleRefusal::NotHeld { role: sa_id })
        );
        // A role it holds, but whose privileges grew past its own: refused by name.
        let mut grown = user.clone();
        grown.insert("prvWriteNothingElse".to_owned());
        let mut holder = admin.clone();
        holder.roles.insert(user_role);
        match check(&holder, me, other, user_role, &grown, Remove) {
            Err(RoleRefusal::Escalation { missing, .. }) => {
                assert_eq!(missing, vec!["prvWriteNothingElse".to_owned()])
            }
            other => panic!("{other:?}"),
        }
        // System Administrator assigns any role to anyone; to itself it may add a role (it gains
        // nothing) but never drop System Administrator.
        let sa = grants(SYSTEM_ADMINISTRATOR);
        assert!(check(&sa, me, other, sa_id, &sysadmin, Assign).is_ok());
        assert!(check(&sa, me, me, user_role, &user, Assign).is_ok());
        assert!(check(&sa, me, me, user_role, &user, Remove).is_ok());
        assert_eq!(
            check(&sa, me, me, sa_id, &sysadmin, Remove),
            Err(RoleRefusal::OwnAdministration)
        );
    }
}
