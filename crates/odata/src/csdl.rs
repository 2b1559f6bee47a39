//! The `$metadata` document: CSDL 4.0 XML built from a [`Model`].
//!
//! One `Schema` in the model's namespace holds an `EntityType` per entity (key, properties with
//! type, nullability, max length and decimal scale, navigation properties with their referential
//! constraints) and the `EntityContainer` with an `EntitySet` per entity and its
//! `NavigationPropertyBinding`s. Read-only properties carry the `Org.OData.Core.V1.Computed`
//! annotation. Every name and value is XML-escaped.

use std::fmt::Write;

use crate::model::{EdmType, Model, NavigationKind};

/// Escapes text for an XML attribute value or element content.
pub fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// The CSDL XML of `model`.
pub fn metadata_xml(model: &Model) -> String {
    let ns = xml_escape(&model.namespace);
    let qualified = |name: &str| {
        if model.namespace.is_empty() {
            xml_escape(name)
        } else {
            format!("{ns}.{}", xml_escape(name))
        }
    };
    let mut x = String::new();
    x.push_str("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n");
    x.push_str(
        "<edmx:Edmx Version=\"4.0\" xmlns:edmx=\"http://docs.oasis-open.org/odata/ns/edmx\">\n",
    );
    x.push_str("  <edmx:DataServices>\n");
    let _ = writeln!(
        x,
        "    <Schema Namespace=\"{ns}\" xmlns=\"http://docs.oasis-open.org/odata/ns/edm\">"
    );
    for entity in &model.entity_types {
        let _ = writeln!(x, "      <EntityType Name=\"{}\">", xml_escape(&entity.name));
        let _ = writeln!(
            x,
            "        <Key>\n          <PropertyRef Name=\"{}\"/>\n        </Key>",
            xml_escape(&entity.key)
        );
        for p in &entity.properties {
            let _ = write!(
                x,
                "        <Property Name=\"{}\" Type=\"{}\"",
                xml_escape(&p.name),
                p.ty.edm_name()
            );
            if !p.nullable {
                x.push_str(" Nullable=\"false\"");
            }
            if let Some(n) = p.max_length {
                let _ = write!(x, " MaxLength=\"{n}\"");
            }
            if let EdmType::Decimal { scale } = p.ty {
                let _ = write!(x, " Scale=\"{scale}\"");
            }
            if p.read_only {
                x.push_str(">\n          <Annotation Term=\"Org.OData.Core.V1.Computed\" Bool=\"true\"/>\n        </Property>\n");
            } else {
                x.push_str("/>\n");
            }
        }
        for n in &entity.navigations {
            let target = model.entity_set(&n.target_set);
            let target_type = target.map(|t| t.name.as_str()).unwrap_or(n.target_set.as_str());
            match &n.kind {
                NavigationKind::ToOne { local_property } => {
                    let _ = writeln!(
                        x,
                        "        <NavigationProperty Name=\"{}\" Type=\"{}\">",
                        xml_escape(&n.name),
                        qualified(target_type)
                    );
                    let referenced = target.map(|t| t.key.as_str()).unwrap_or("id");
                    let _ = writeln!(
                        x,
                        "          <ReferentialConstraint Property=\"{}\" ReferencedProperty=\"{}\"/>",
                        xml_escape(local_property),
                        xml_escape(referenced)
                    );
                    x.push_str("        </NavigationProperty>\n");
                }
                NavigationKind::ToMany { .. } => {
                    let _ = writeln!(
                        x,
                        "        <NavigationProperty Name=\"{}\" Type=\"Collection({})\"/>",
                        xml_escape(&n.name),
                        qualified(target_type)
                    );
                }
            }
        }
        x.push_str("      </EntityType>\n");
    }
    let _ = writeln!(x, "      <EntityContainer Name=\"{}\">", xml_escape(&model.container));
    for entity in &model.entity_types {
        let open = format!(
            "        <EntitySet Name=\"{}\" EntityType=\"{}\"",
            xml_escape(&entity.set_name),
            qualified(&entity.name)
        );
        if entity.navigations.is_empty() {
            let _ = writeln!(x, "{open}/>");
            continue;
        }
        let _ = writeln!(x, "{open}>");
        for n in &entity.navigations {
            let _ = writeln!(
                x,
                "          <NavigationPropertyBinding Path=\"{}\" Target=\"{}\"/>",
                xml_escape(&n.name),
                xml_escape(&n.target_set)
            );
        }
        x.push_str("        </EntitySet>\n");
    }
    x.push_str("      </EntityContainer>\n");
    x.push_str("    </Schema>\n");
    x.push_str("  </edmx:DataServices>\n");
    x.push_str("</edmx:Edmx>\n");
    x
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::crm_model;

    /// A small well-formedness check: balanced tags, quoted attributes, known entities only.
    fn well_formed(xml: &str) -> Result<(), String> {
        let mut stack: Vec<String> = Vec::new();
        let mut rest = xml.trim_start();
        rest = match rest.strip_prefix("<?xml") {
            Some(r) => &r[r.find("?>").ok_or("unclosed declaration")? + 2..],
            None => rest,
        };
        let check_text = |t: &str| -> Result<(), String> {
            let mut s = t;
            while let Some(i) = s.find('&') {
                let end = s[i..].find(';').ok_or("unterminated entity")?;
                let ent = &s[i + 1..i + end];
                if !["amp", "lt", "gt", "quot", "apos"].contains(&ent) {
                    return Err(format!("unknown entity &{ent};"));
                }
                s = &s[i + end + 1..];
            }
            if t.contains('<') || t.contains('>') {
                return Err(format!("raw angle bracket in {t:?}"));
            }
            Ok(())
        };
        while let Some(open) = rest.find('<') {
            check_text(&rest[..open])?;
            let close = rest[open..].find('>').ok_or("unclosed tag")? + open;
            let tag = &rest[open + 1..close];
            rest = &rest[close + 1..];
            if let Some(name) = tag.strip_prefix('/') {
                let top = stack.pop().ok_or("close without open")?;
                if top != name.trim() {
                    return Err(format!("</{name}> closes <{top}>"));
                }
                continue;
            }
            let self_closing = tag.ends_with('/');
            let body = tag.trim_end_matches('/');
            let name = body.split_whitespace().next().ok_or("empty tag")?;
            let mut attrs = &body[name.len()..];
            while !attrs.trim().is_empty() {
                let a = attrs.trim_start();
                let eq = a.find('=').ok_or(format!("attribute without value in <{name}>"))?;
                let v = &a[eq + 1..];
                let v = v.strip_prefix('"').ok_or(format!("unquoted attribute in <{name}>"))?;
                let end = v.find('"').ok_or("unterminated attribute")?;
                check_text(&v[..end])?;
                attrs = &v[end + 1..];
            }
            if !self_closing {
                stack.push(name.to_owned());
            }
        }
        check_text(rest)?;
        if stack.is_empty() { Ok(()) } else { Err(format!("unclosed {stack:?}")) }
    }

    #[test]
    fn the_metadata_document_is_well_formed_csdl() {
        let xml = metadata_xml(&crm_model());
        well_formed(&xml).unwrap();
        insta::assert_snapshot!(xml);
    }

    #[test]
    fn names_with_markup_characters_are_escaped() {
        let mut model = crm_model();
        model.namespace = "A&B<\"C\">".into();
        model.entity_types[0].properties[1].name = "na'me".into();
        let xml = metadata_xml(&model);
        well_formed(&xml).unwrap();
        assert!(xml.contains("Namespace=\"A&amp;B&lt;&quot;C&quot;&gt;\""));
        assert!(xml.contains("Name=\"na&apos;me\""));
    }

    #[test]
    fn the_checker_rejects_broken_xml() {
        assert!(well_formed("<a><b></a>").is_err());
        assert!(well_formed("<a x=1/>").is_err());
        assert!(well_formed("<a>&foo;</a>").is_err());
    }
}
