//! Demo and benchmark data: a deterministic company, as Financials API v2.0 payloads.
//!
//! Pure: `generate(&Spec)` returns the payloads; seeding them over HTTP is the caller's job. Every record
//! carries a deterministic `id` (UUIDv5 of its kind and number), so seeding twice writes the same rows
//! instead of duplicating them.

use serde_json::{Value, json};
use uuid::Uuid;

/// How much data to make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spec {
    pub customers: usize,
    pub items: usize,
    pub salespeople: usize,
    pub open_orders: usize,
}

impl Spec {
    /// The `kontor up` demo company: about 200 customers, 100 items, a few open orders.
    pub const DEMO: Spec = Spec { customers: 200, items: 100, salespeople: 5, open_orders: 5 };

    /// Benchmark data for `records` customers, with contacts, items and prices in proportion.
    #[cfg(any(test, feature = "bench"))]
    pub fn bench(records: usize) -> Spec {
        Spec { customers: records, items: (records / 4).max(1), salespeople: 5, open_orders: 0 }
    }
}

/// The payloads, in the order they must be created (dependencies first).
#[derive(Debug, Clone, Default)]
pub struct Dataset {
    pub currencies: Vec<Value>,
    pub units_of_measure: Vec<Value>,
    pub salespeople: Vec<Value>,
    pub customer_price_groups: Vec<Value>,
    pub customers: Vec<Value>,
    pub contacts: Vec<Value>,
    pub items: Vec<Value>,
    pub sales_prices: Vec<Value>,
    /// Inventory to put on each item: (item number, quantity).
    pub inventory: Vec<(String, i64)>,
    /// Open sales orders, each with its lines.
    pub sales_orders: Vec<Value>,
}

impl Dataset {
    /// Entity set name and payloads, in creation order.
    pub fn sets(&self) -> [(&'static str, &[Value]); 8] {
        [
            ("currencies", &self.currencies),
            ("unitsOfMeasure", &self.units_of_measure),
            ("salespeople", &self.salespeople),
            ("customerPriceGroups", &self.customer_price_groups),
            ("customers", &self.customers),
            ("contacts", &self.contacts),
            ("items", &self.items),
            ("salesPrices", &self.sales_prices),
        ]
    }
}

const DEMO_NAMESPACE: Uuid = Uuid::from_u128(0x6b6f_6e74_6f72_4000_8000_6465_6d6f_0001);

/// The deterministic id of a demo record.
pub fn demo_id(kind: &str, key: &str) -> Uuid {
    Uuid::new_v5(&DEMO_NAMESPACE, format!("{kind}/{key}").as_bytes())
}

const FIRST: [&str; 16] = [
    "Anna", "Ben", "Clara", "David", "Eva", "Felix", "Greta", "Hugo", "Ida", "Jonas", "Lena",
    "Max", "Nora", "Oskar", "Paula", "Rene",
];
const LAST: [&str; 12] = [
    "Valdes", "Keller", "Meier", "Schmid", "Weber", "Fischer", "Brunner", "Baumann", "Frei",
    "Huber", "Gerber", "Moser",
];
const TRADE: [&str; 10] = [
    "Coffee",
    "Bikes",
    "Furniture",
    "Office Supply",
    "Electronics",
    "Textiles",
    "Tools",
    "Garden",
    "Books",
    "Sports",
];
const FORM: [&str; 6] = ["AG", "GmbH", "Ltd", "Inc", "& Co", "SA"];
const CITIES: [(&str, &str, &str); 8] = [
    ("Zürich", "8001", "CH"),
    ("Bern", "3011", "CH"),
    ("München", "80331", "DE"),
    ("Wien", "1010", "AT"),
    ("London", "EC1A 1BB", "GB"),
    ("Seattle", "98052", "US"),
    ("Lyon", "69001", "FR"),
    ("Basel", "4051", "CH"),
];
const PRODUCTS: [&str; 10] = [
    "Chair", "Desk", "Lamp", "Cabinet", "Monitor", "Keyboard", "Bicycle", "Helmet", "Kettle",
    "Grinder",
];
const ADJECTIVES: [&str; 10] =
    ["Basic", "Deluxe", "Compact", "Pro", "Classic", "Ergo", "Urban", "Alpine", "Studio", "Eco"];

/// Makes the data set. Deterministic: the same spec gives the same payloads, ids included.
pub fn generate(spec: &Spec) -> Dataset {
    let mut d = Dataset::default();
    for (code, name, symbol, rate) in [
        ("EUR", "Euro", "€", "1.08"),
        ("GBP", "Pound Sterling", "£", "1.27"),
        ("CHF", "Swiss Franc", "CHF", "1.13"),
    ] {
        d.currencies.push(json!({
            "id": demo_id("currency", code), "code": code, "displayName": name, "symbol": symbol,
            "isoCode": code, "exchangeRate": rate.parse::<f64>().unwrap_or(1.0),
        }));
    }
    for (code, name, iso) in [("PCS", "Piece", "EA"), ("BOX", "Box", "BX"), ("HOUR", "Hour", "HUR")]
    {
        d.units_of_measure.push(json!({
            "id": demo_id("uom", code), "code": code, "displayName": name, "internationalStandardCode": iso,
        }));
    }
    let salespeople: Vec<String> = (0..spec.salespeople)
        .map(|i| {
            let first = FIRST[i % FIRST.len()];
            let last = LAST[(i * 7) % LAST.len()];
            let code = format!("{}{}", &first[..1], &last[..1]);
            let code = if i >= FIRST.len() { format!("{code}{i}") } else { code };
            d.salespeople.push(json!({
                "id": demo_id("salesperson", &code), "code": code,
                "displayName": format!("{first} {last}"),
                "email": format!("{}.{}@kontor.example", first.to_lowercase(), last.to_lowercase()),
                "phoneNumber": format!("+41 44 555 {:04}", 100 + i), "jobTitle": "Account Manager",
            }));
            code
        })
        .collect();
    for (code, name) in [("RETAIL", "Retail customers"), ("WHOLESALE", "Wholesale customers")] {
        d.customer_price_groups.push(json!({
            "id": demo_id("pricegroup", code), "code": code, "displayName": name,
        }));
    }
    for i in 0..spec.customers {
        let number = format!("C{:06}", 10000 + i);
        let (city, post, country) = CITIES[i % CITIES.len()];
        let name = format!(
            "{} {} {}",
            LAST[i % LAST.len()],
            TRADE[(i / LAST.len()) % TRADE.len()],
            FORM[(i / 3) % FORM.len()]
        );
        let currency = match i % 10 {
            0 => "EUR",
            1 => "GBP",
            _ => "",
        };
        let domain = format!("c{}.example", 10000 + i);
        let salesperson =
            salespeople.get(i % salespeople.len().max(1)).cloned().unwrap_or_default();
        d.customers.push(json!({
            "id": demo_id("customer", &number), "number": number, "displayName": name, "type": "Company",
            "addressLine1": format!("{} Main Street", 1 + i % 200), "addressLine2": "",
            "city": city, "state": "", "country": country, "postalCode": post,
            "phoneNumber": format!("+41 44 {:03} {:04}", i % 1000, i % 10000),
            "email": format!("info@{domain}"), "website": format!("https://www.{domain}"),
            "salespersonCode": salesperson, "currencyCode": currency,
            "customerPriceGroup": if i % 3 == 0 { "WHOLESALE" } else { "RETAIL" },
            "creditLimit": ((i % 20) as f64) * 5000.0, "blocked": " ",
        }));
        let person = format!("{} {}", FIRST[(i * 5) % FIRST.len()], LAST[(i * 3) % LAST.len()]);
        let contact_no = format!("CT{:06}", 10000 + i);
        d.contacts.push(json!({
            "id": demo_id("contact", &contact_no), "number": contact_no, "type": "Person",
            "displayName": person, "companyNumber": number, "companyName": name,
            "jobTitle": if i % 4 == 0 { "Manager" } else { "Buyer" },
            "addressLine1": format!("{} Main Street", 1 + i % 200), "city": city, "country": country,
            "postalCode": post, "phoneNumber": format!("+41 44 {:03} {:04}", i % 1000, (i + 1) % 10000),
            "mobilePhoneNumber": format!("+41 79 {:03} {:04}", i % 1000, i % 10000),
            "email": format!("{}@{domain}", person.to_lowercase().replace(' ', ".")),
        }));
    }
    for i in 0..spec.items {
        let number = format!("{}", 1000 + i);
        let name = format!(
            "{} {}",
            ADJECTIVES[(i / PRODUCTS.len()) % ADJECTIVES.len()],
            PRODUCTS[i % PRODUCTS.len()]
        );
        let cents = 1990 + (i as i64 * 731) % 50000;
        let price = cents as f64 / 100.0;
        let cost = (cents * 6 / 10) as f64 / 100.0;
        d.items.push(json!({
            "id": demo_id("item", &number), "number": number, "displayName": name, "type": "Inventory",
            "baseUnitOfMeasureCode": "PCS", "unitPrice": price, "unitCost": cost, "blocked": false,
        }));
        d.inventory.push((number.clone(), 20 + (i as i64 * 37) % 480));
        for (group, factor) in [("RETAIL", 100), ("WHOLESALE", 85)] {
            let key = format!("{group}/{number}");
            d.sales_prices.push(json!({
                "id": demo_id("salesprice", &key), "itemNumber": number,
                "customerPriceGroupCode": group, "currencyCode": "", "unitOfMeasureCode": "PCS",
                "minimumQuantity": 0, "unitPrice": (cents * factor / 100) as f64 / 100.0,
                "startingDate": "2026-01-01",
            }));
        }
    }
    for i in 0..spec.open_orders.min(spec.customers) {
        let customer = &d.customers[i * 7 % d.customers.len()];
        let lines: Vec<Value> = (0..3.min(d.items.len()))
            .map(|l| {
                let item = &d.items[(i * 3 + l) % d.items.len()];
                json!({"lineType": "Item", "lineObjectNumber": item["number"], "quantity": 1 + (i + l) % 5})
            })
            .collect();
        d.sales_orders.push(json!({
            "id": demo_id("salesorder", &i.to_string()),
            "customerNumber": customer["number"], "salesOrderLines": lines,
        }));
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_spec_gives_the_same_records_and_ids() {
        let a = generate(&Spec::DEMO);
        let b = generate(&Spec::DEMO);
        assert_eq!(a.customers, b.customers);
        assert_eq!(a.sales_prices, b.sales_prices);
    }

    #[test]
    fn the_demo_company_has_the_promised_shape() {
        let d = generate(&Spec::DEMO);
        assert_eq!(d.customers.len(), 200);
        assert_eq!(d.contacts.len(), 200);
        assert_eq!(d.items.len(), 100);
        assert_eq!(d.sales_prices.len(), 200, "two price groups per item");
        assert_eq!(d.sales_orders.len(), 5);
        let numbers: std::collections::BTreeSet<_> =
            d.customers.iter().map(|c| c["number"].as_str().unwrap().to_owned()).collect();
        assert_eq!(numbers.len(), 200, "customer numbers are unique");
    }

    #[test]
    fn every_customer_refers_to_an_existing_salesperson_and_price_group() {
        let d = generate(&Spec::bench(1000));
        let codes: Vec<_> = d.salespeople.iter().map(|s| s["code"].clone()).collect();
        let groups: Vec<_> = d.customer_price_groups.iter().map(|g| g["code"].clone()).collect();
        for c in &d.customers {
            assert!(codes.contains(&c["salespersonCode"]), "{c}");
            assert!(groups.contains(&c["customerPriceGroup"]), "{c}");
        }
    }
}
