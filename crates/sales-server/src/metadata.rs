//! `$metadata`: the CSDL document of the Sales model (namespace `Microsoft.Dynamics.CRM`).

use kontor_odata::model::{EntityType, NavigationKind};
use kontor_sales::model::sales_model;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// The CSDL XML; solution columns only when `installed`.
pub fn csdl(installed: bool) -> String {
    let m = sales_model();
    let ns = &m.odata.namespace;
    let mut x = String::from(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<edmx:Edmx Version=\"4.0\" xmlns:edmx=\"http://docs.oasis-open.org/odata/ns/edmx\">\n<edmx:DataServices>\n",
    );
    x.push_str(&format!("<Schema Namespace=\"{ns}\" Alias=\"mscrm\" xmlns=\"http://docs.oasis-open.org/odata/ns/edm\">\n"));
    for (e, t) in m.iter() {
        x.push_str(&format!(
            "<EntityType Name=\"{}\">\n<Key><PropertyRef Name=\"{}\"/></Key>\n",
            esc(&e.name),
            esc(&e.key)
        ));
        for p in &e.properties {
            if !installed && t.is_solution_property(&p.name) {
                continue;
            }
            let mut attrs = format!("Name=\"{}\" Type=\"{}\"", esc(&p.name), p.ty.edm_name());
            if !p.nullable {
                attrs.push_str(" Nullable=\"false\"");
            }
            if let kontor_odata::model::EdmType::Decimal { scale } = p.ty {
                attrs.push_str(&format!(" Scale=\"{scale}\""));
            }
            if let Some(n) = p.max_length {
                attrs.push_str(&format!(" MaxLength=\"{n}\""));
            }
            if p.read_only {
                x.push_str(&format!(
                    "<Property {attrs}><Annotation Term=\"Org.OData.Core.V1.Computed\" Bool=\"true\"/></Property>\n"
                ));
            } else {
                x.push_str(&format!("<Property {attrs}/>\n"));
            }
        }
        for n in &e.navigations {
            let target = target_type(&n.target_set);
            match &n.kind {
                NavigationKind::ToOne { local_property } => x.push_str(&format!(
                    "<NavigationProperty Name=\"{}\" Type=\"mscrm.{target}\"><ReferentialConstraint Property=\"{}\" ReferencedProperty=\"{}\"/></NavigationProperty>\n",
                    esc(&n.name),
                    esc(local_property),
                    esc(&format!("{target}id"))
                )),
                NavigationKind::ToMany { .. } => x.push_str(&format!(
                    "<NavigationProperty Name=\"{}\" Type=\"Collection(mscrm.{target})\"/>\n",
                    esc(&n.name)
                )),
            }
        }
        x.push_str("</EntityType>\n");
    }
    x.push_str(
        "<ComplexType Name=\"WhoAmIResponse\"><Property Name=\"BusinessUnitId\" Type=\"Edm.Guid\" Nullable=\"false\"/><Property Name=\"UserId\" Type=\"Edm.Guid\" Nullable=\"false\"/><Property Name=\"OrganizationId\" Type=\"Edm.Guid\" Nullable=\"false\"/></ComplexType>\n",
    );
    x.push_str("<Function Name=\"WhoAmI\"><ReturnType Type=\"mscrm.WhoAmIResponse\" Nullable=\"false\"/></Function>\n");
    x.push_str(&format!("<EntityContainer Name=\"{}\">\n", esc(&m.odata.container)));
    for e in &m.odata.entity_types {
        x.push_str(&format!(
            "<EntitySet Name=\"{}\" EntityType=\"mscrm.{}\">",
            esc(&e.set_name),
            esc(&e.name)
        ));
        for n in &e.navigations {
            x.push_str(&format!(
                "<NavigationPropertyBinding Path=\"{}\" Target=\"{}\"/>",
                esc(&n.name),
                esc(&n.target_set)
            ));
        }
        x.push_str("</EntitySet>\n");
    }
    x.push_str("<FunctionImport Name=\"WhoAmI\" Function=\"mscrm.WhoAmI\"/>\n</EntityContainer>\n</Schema>\n</edmx:DataServices>\n</edmx:Edmx>\n");
    x
}

fn target_type(set: &str) -> String {
    sales_model().set(set).map(|(e, _): (&EntityType, _)| e.name.clone()).unwrap_or_default()
}
