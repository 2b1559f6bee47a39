//! Which permission sets each page and action needs: one table, [`page_permission`].

use kontor_financials::credentials::{Access, PermissionSet, Permissions, Resource};

/// A page or an action of the web client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Page {
    Home,
    /// Users, User Card.
    Users,
    /// Change Web Service Key.
    ChangeWebServiceKey,
    /// Job Queue Entries (read).
    JobQueueEntries,
    /// Restart, Set On Hold.
    JobQueueActions,
    /// Integration Table Mappings and their Integration Field Mappings (read).
    TableMappings,
    /// Reset a mapping to its default.
    TableMappingActions,
    /// Customer List and Customer Card, and the other lists and cards of business data
    /// (contacts, items, salespeople, currencies, units of measure, price groups, prices).
    Customers,
    /// Set Up Coupling, Match-Based Coupling, Synchronize Now, Delete Coupling of those lists.
    CustomerCoupling,
    /// CRM Full Synch. Review (read, the statuses).
    FullSynchReview,
    /// Run Full Synchronization, Start.
    FullSynchActions,
    /// Integration Synch. Jobs, Integration Synch. Job Errors, CRM Skipped Records (read).
    SynchJobs,
    /// Retry skipped records.
    SkippedRetry,
    /// Coupled Data Synchronization Errors (read).
    CoupledErrors,
    /// Retry, a side wins, Restore Records, Remove Coupling of a failed coupling.
    CoupledErrorsActions,
    /// Dynamics 365 Connection Setup (read, save, Test Connection, Enable, Disable).
    ConnectionSetup,
    /// The assisted setup guide Dynamics 365 Connection Setup.
    AssistedSetup,
    /// Sales Orders, Sales Order, Posted Sales Invoices, Posted Sales Invoice (read).
    SalesDocuments,
    /// Release, Reopen, Post (Ship and Invoice) a sales order.
    SalesDocumentActions,
}

/// What a page needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Required {
    /// Any signed-in user.
    SignedIn,
    /// One of these permission sets.
    AnyOf(&'static [PermissionSet]),
    /// What the API asks of the same access to business data ([`Permissions::allows`]).
    Data(Access),
}

const SUPER: &[PermissionSet] = &[PermissionSet::Super];
const INTEGRATION_READ: &[PermissionSet] = &[PermissionSet::DynCrmRead];
const INTEGRATION_MANAGE: &[PermissionSet] = &[PermissionSet::DynCrmMgt];

/// The one table of the pages' permissions, the same as the API's: users and their keys need
/// SUPER; the integration's pages read with D365 DYN CRM READ and act with D365 DYN CRM MGT
/// (SUPER implies both, MGT implies READ: [`PermissionSet::implies`]).
pub fn page_permission(page: Page) -> Required {
    match page {
        Page::Home => Required::SignedIn,
        Page::Users | Page::ChangeWebServiceKey => Required::AnyOf(SUPER),
        Page::JobQueueEntries | Page::TableMappings => Required::AnyOf(INTEGRATION_READ),
        Page::JobQueueActions | Page::TableMappingActions => Required::AnyOf(INTEGRATION_MANAGE),
        Page::Customers => Required::Data(Access::Read),
        Page::CustomerCoupling => Required::AnyOf(INTEGRATION_MANAGE),
        Page::FullSynchReview | Page::SynchJobs => Required::AnyOf(INTEGRATION_READ),
        Page::FullSynchActions | Page::SkippedRetry => Required::AnyOf(INTEGRATION_MANAGE),
        Page::CoupledErrors => Required::AnyOf(INTEGRATION_READ),
        Page::CoupledErrorsActions => Required::AnyOf(INTEGRATION_MANAGE),
        Page::ConnectionSetup | Page::AssistedSetup => Required::AnyOf(SUPER),
        Page::SalesDocuments => Required::Data(Access::Read),
        Page::SalesDocumentActions => Required::Data(Access::Write),
    }
}

/// Whether a user with `permissions` may use `page`.
pub fn allows(permissions: &Permissions, page: Page) -> bool {
    match page_permission(page) {
        Required::SignedIn => true,
        Required::AnyOf(sets) => sets.iter().any(|s| permissions.grants(*s)),
        Required::Data(access) => permissions.allows(Resource::Data, access),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_permission_set_opens_the_pages_of_its_table_row() {
        use Page::*;
        let pages = [
            Home,
            Users,
            ChangeWebServiceKey,
            JobQueueEntries,
            JobQueueActions,
            TableMappings,
            TableMappingActions,
            CoupledErrors,
            CoupledErrorsActions,
        ];
        let cases: [(&str, [bool; 9]); 6] = [
            ("SUPER", [true; 9]),
            ("D365 DYN CRM MGT", [true, false, false, true, true, true, true, true, true]),
            ("D365 DYN CRM READ", [true, false, false, true, false, true, false, true, false]),
            (
                "D365 BUS FULL ACCESS",
                [true, false, false, false, false, false, false, false, false],
            ),
            ("D365 READ", [true, false, false, false, false, false, false, false, false]),
            (
                "D365 ITEM AVAILABILITY",
                [true, false, false, false, false, false, false, false, false],
            ),
        ];
        for (set, expected) in cases {
            let p = Permissions::parse(set).unwrap();
            let got: Vec<bool> = pages.iter().map(|page| allows(&p, *page)).collect();
            assert_eq!(got, expected, "{set}");
        }
    }
}
