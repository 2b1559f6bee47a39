//! The sales documents: **Sales Orders** (list, and the Sales Order card with its lines and the
//! actions Release, Reopen and Post — Ship and Invoice) and **Posted Sales Invoices** (list and
//! card with lines), one implementation over a document description ([`Doc`]).
//!
//! Lists read one page of rows ([`crate::paging`]); the actions call the domain's
//! `service::set_order_status` and `service::post_order` (the API's `shipAndInvoice` calls the
//! same), in one write transaction: a refused action writes nothing and is shown on the card.

use askama::Template;
use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use kontor_financials::model::sets;
use kontor_financials::service::{self, Actor};
use kontor_financials::{FinError, query};
use kontor_odata::query::QueryOptions;
use serde_json::Value as Json;
use uuid::Uuid;

use crate::WebState;
use crate::paging::{PAGE_SIZE, page_number, page_query};
use crate::permission::Page;
use crate::render::{Signed, WebError, after_action, page};

/// The most lines a document card reads (its lines are one page too).
const LINES_PAGE: u64 = 500;

/// A column: property and caption.
type Col = (&'static str, &'static str);

/// One kind of sales document as its list and card show it.
pub struct Doc {
    /// The URL segment (`sales-orders`).
    pub slug: &'static str,
    pub set: &'static str,
    pub lines_set: &'static str,
    /// Window names, as in Business Central.
    pub list_title: &'static str,
    pub card_title: &'static str,
    /// "sales order", "posted sales invoice".
    pub noun: &'static str,
    pub plural: &'static str,
    /// The list's columns after the number (which links to the card) and the customer's.
    pub columns: &'static [Col],
    /// Sortable: (`sort` parameter, property, caption).
    pub sorts: &'static [(&'static str, &'static str, &'static str)],
    pub searched: &'static [&'static str],
    /// The card's header fields.
    pub header: &'static [Col],
    /// The columns of its lines.
    pub lines: &'static [Col],
    /// Release, Reopen and Post (sales orders only).
    pub actions: bool,
}

/// The columns of an order's lines; a posted invoice's are the same but the last two.
const ORDER_LINES: &[Col] = &[
    ("lineType", "Type"),
    ("lineObjectNumber", "No."),
    ("description", "Description"),
    ("quantity", "Quantity"),
    ("unitOfMeasureCode", "Unit of Measure Code"),
    ("unitPrice", "Unit Price Excl. VAT"),
    ("discountPercent", "Line Discount %"),
    ("amountExcludingTax", "Line Amount Excl. VAT"),
    ("shippedQuantity", "Quantity Shipped"),
    ("invoicedQuantity", "Quantity Invoiced"),
];

pub const SALES_ORDERS: Doc = Doc {
    slug: "sales-orders",
    set: sets::SALES_ORDERS,
    lines_set: sets::SALES_ORDER_LINES,
    list_title: "Sales Orders",
    card_title: "Sales Order",
    noun: "sales order",
    plural: "sales orders",
    columns: &[
        ("orderDate", "Order Date"),
        ("status", "Status"),
        ("currencyCode", "Currency Code"),
        ("totalAmountIncludingTax", "Amount Including VAT"),
    ],
    sorts: &[
        ("number", "number", "No."),
        ("customer", "customerName", "Sell-to Customer Name"),
        ("date", "orderDate", "Order Date"),
    ],
    searched: &["number", "customerNumber", "customerName", "externalDocumentNumber"],
    header: &[
        ("number", "No."),
        ("customerNumber", "Sell-to Customer No."),
        ("customerName", "Sell-to Customer Name"),
        ("externalDocumentNumber", "External Document No."),
        ("orderDate", "Order Date"),
        ("postingDate", "Posting Date"),
        ("requestedDeliveryDate", "Requested Delivery Date"),
        ("salesperson", "Salesperson Code"),
        ("currencyCode", "Currency Code"),
        ("customerPriceGroup", "Customer Price Group"),
        ("status", "Status"),
        ("totalAmountExcludingTax", "Total Excl. VAT"),
        ("totalTaxAmount", "Total VAT"),
        ("totalAmountIncludingTax", "Total Incl. VAT"),
    ],
    lines: ORDER_LINES,
    actions: true,
};

pub const POSTED_SALES_INVOICES: Doc = Doc {
    slug: "posted-sales-invoices",
    set: sets::SALES_INVOICES,
    lines_set: sets::SALES_INVOICE_LINES,
    list_title: "Posted Sales Invoices",
    card_title: "Posted Sales Invoice",
    noun: "posted sales invoice",
    plural: "posted sales invoices",
    columns: &[
        ("postingDate", "Posting Date"),
        ("dueDate", "Due Date"),
        ("orderNumber", "Order No."),
        ("currencyCode", "Currency Code"),
        ("totalAmountIncludingTax", "Amount Including VAT"),
        ("remainingAmount", "Remaining Amount"),
    ],
    sorts: &[
        ("number", "number", "No."),
        ("customer", "customerName", "Sell-to Customer Name"),
        ("date", "postingDate", "Posting Date"),
    ],
    searched: &["number", "customerNumber", "customerName", "orderNumber"],
    header: &[
        ("number", "No."),
        ("customerNumber", "Sell-to Customer No."),
        ("customerName", "Sell-to Customer Name"),
        ("externalDocumentNumber", "External Document No."),
        ("orderNumber", "Order No."),
        ("invoiceDate", "Document Date"),
        ("postingDate", "Posting Date"),
        ("dueDate", "Due Date"),
        ("salesperson", "Salesperson Code"),
        ("currencyCode", "Currency Code"),
        ("status", "Status"),
        ("totalAmountExcludingTax", "Total Excl. VAT"),
        ("totalTaxAmount", "Total VAT"),
        ("totalAmountIncludingTax", "Total Incl. VAT"),
        ("remainingAmount", "Remaining Amount"),
    ],
    lines: ORDER_LINES.split_at(8).0,
    actions: false,
};

impl Doc {
    fn base(&self) -> String {
        format!("/{}", self.slug)
    }
}

/// The routes of both documents.
pub fn routes(router: Router<WebState>) -> Router<WebState> {
    let router = doc_routes(router, &SALES_ORDERS);
    let router = doc_routes(router, &POSTED_SALES_INVOICES);
    router.route(
        "/sales-orders/{id}/{action}",
        post(
            |st: State<WebState>, s: Signed, Path((id, what)): Path<(String, String)>| async move {
                let what = match what.as_str() {
                    "release" => Action::Release,
                    "reopen" => Action::Reopen,
                    "post" => Action::Post,
                    _ => return Err(WebError::NotFound("The page does not exist.".into())),
                };
                action(st.0, s, id, what).await
            },
        ),
    )
}

fn doc_routes(router: Router<WebState>, d: &'static Doc) -> Router<WebState> {
    router
        .route(
            &d.base(),
            get(move |State(st): State<WebState>, s: Signed, RawQuery(raw): RawQuery| async move {
                list(d, st, s, raw).await
            }),
        )
        .route(
            &format!("{}/{{id}}", d.base()),
            get(move |State(st): State<WebState>, s: Signed, Path(id): Path<String>| async move {
                s.require(Page::SalesDocuments)?;
                let id = parse_id(d, &id)?;
                render_card(d, &st, &s, id, None, None).await
            }),
        )
}

fn text(r: &serde_json::Map<String, Json>, name: &str) -> String {
    match r.get(name) {
        Some(Json::String(s)) => s.clone(),
        Some(Json::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

// ----- the list -----------------------------------------------------------------------------

struct Row {
    href: String,
    number: String,
    customer_href: Option<String>,
    customer_number: String,
    customer_name: String,
    cells: Vec<String>,
}

struct Head {
    caption: &'static str,
    href: String,
    current: Option<&'static str>,
}

#[derive(Template)]
#[template(path = "doc_list.html")]
struct ListPage<'a> {
    title: &'static str,
    base: String,
    slug: &'static str,
    plural: &'static str,
    noun: &'static str,
    heads: Vec<Head>,
    captions: Vec<&'static str>,
    rows: Vec<Row>,
    q: &'a str,
    sort: &'a str,
    dir: &'a str,
    page: u64,
    previous: Option<String>,
    next: Option<String>,
}

async fn list(
    d: &'static Doc,
    state: WebState,
    s: Signed,
    raw: Option<String>,
) -> Result<Response, WebError> {
    s.require(Page::SalesDocuments)?;
    let lq: crate::paging::ListQuery =
        serde_urlencoded::from_str(raw.as_deref().unwrap_or("")).unwrap_or_default();
    let q = lq.q.trim();
    let (sort, property, _) =
        d.sorts.iter().copied().find(|(p, _, _)| *p == lq.sort).unwrap_or(d.sorts[0]);
    let dir = if lq.dir == "desc" { "desc" } else { "asc" };
    let page_no = page_number(&lq.page);
    let options = page_query(d.set, d.searched, property, dir, q, page_no)?;
    let mut tx = state.db.begin().await?;
    let found = query::list(&mut tx, service::entity(d.set)?, &options, None, PAGE_SIZE).await?;
    tx.commit().await?;
    let rows = found
        .rows
        .iter()
        .filter_map(|r| {
            let id = r.id()?;
            let customer = text(&r.data, "customerId");
            Some(Row {
                href: format!("{}/{id}", d.base()),
                number: text(&r.data, "number"),
                customer_href: (!customer.is_empty()).then(|| format!("/customers/{customer}")),
                customer_number: text(&r.data, "customerNumber"),
                customer_name: text(&r.data, "customerName"),
                cells: d.columns.iter().map(|(p, _)| text(&r.data, p)).collect(),
            })
        })
        .collect();
    let heads = d
        .sorts
        .iter()
        .map(|&(p, _, caption)| {
            let here = p == sort;
            let next_dir = if here && dir == "asc" { "desc" } else { "asc" };
            Head {
                caption,
                href: crate::paging::list_href(&d.base(), q, p, next_dir, 1),
                current: here.then_some(if dir == "asc" { "ascending" } else { "descending" }),
            }
        })
        .collect();
    let view = ListPage {
        title: d.list_title,
        base: d.base(),
        slug: d.slug,
        plural: d.plural,
        noun: d.noun,
        heads,
        captions: d.columns.iter().map(|(_, c)| *c).collect(),
        rows,
        q,
        sort,
        dir,
        page: page_no,
        previous: (page_no > 1)
            .then(|| crate::paging::list_href(&d.base(), q, sort, dir, page_no - 1)),
        next: found
            .next_skiptoken
            .is_some()
            .then(|| crate::paging::list_href(&d.base(), q, sort, dir, page_no + 1)),
    };
    page(&s.ctx, d.list_title, &view)
}

// ----- the card -----------------------------------------------------------------------------

struct Field {
    label: &'static str,
    value: String,
}

#[derive(Template)]
#[template(path = "doc_card.html")]
struct CardPage<'a> {
    title: &'static str,
    list_title: &'static str,
    base: String,
    href: String,
    number: String,
    customer_href: Option<String>,
    fields: Vec<Field>,
    line_captions: Vec<&'static str>,
    lines: Vec<Vec<String>>,
    more_lines: bool,
    /// Which actions the card offers: (Release, Reopen, Post).
    release: bool,
    reopen: bool,
    post: bool,
    csrf: &'a str,
    message: Option<String>,
    error: Option<String>,
}

fn not_found(d: &Doc) -> WebError {
    let noun = d.noun;
    WebError::NotFound(format!("The {noun} does not exist."))
}

fn parse_id(d: &Doc, id: &str) -> Result<Uuid, WebError> {
    Uuid::parse_str(id).map_err(|_| not_found(d))
}

async fn render_card(
    d: &Doc,
    state: &WebState,
    s: &Signed,
    id: Uuid,
    message: Option<String>,
    error: Option<String>,
) -> Result<Response, WebError> {
    let mut tx = state.db.begin().await?;
    let doc = query::get(&mut tx, service::entity(d.set)?, id, &QueryOptions::default(), None)
        .await?
        .ok_or_else(|| not_found(d))?;
    let lines_entity = service::entity(d.lines_set)?;
    let options = QueryOptions::parse(
        "$orderby=sequence asc",
        lines_entity,
        kontor_financials::model::model(),
    )
    .map_err(WebError::internal)?;
    let scope = Some(("documentId", Json::String(id.to_string())));
    let lines = query::list(&mut tx, lines_entity, &options, scope, LINES_PAGE).await?;
    tx.commit().await?;
    let data = &doc.data;
    let customer = text(data, "customerId");
    let status = text(data, "status");
    let can_act = d.actions && s.may(Page::SalesDocumentActions);
    let view = CardPage {
        title: d.card_title,
        list_title: d.list_title,
        base: d.base(),
        href: format!("{}/{id}", d.base()),
        number: text(data, "number"),
        customer_href: (!customer.is_empty()).then(|| format!("/customers/{customer}")),
        fields: d.header.iter().map(|&(p, label)| Field { label, value: text(data, p) }).collect(),
        line_captions: d.lines.iter().map(|(_, c)| *c).collect(),
        lines: lines
            .rows
            .iter()
            .map(|l| d.lines.iter().map(|(p, _)| text(&l.data, p)).collect())
            .collect(),
        more_lines: lines.next_skiptoken.is_some(),
        release: can_act && status != "Released",
        reopen: can_act && status == "Released",
        post: can_act,
        csrf: s.csrf(),
        message,
        error,
    };
    page(&s.ctx, d.card_title, &view)
}

// ----- the actions --------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Release,
    Reopen,
    Post,
}

/// Release, Reopen or Post (Ship and Invoice) a sales order. A refused action (a rule of the
/// domain: nothing to release or post, a blocked customer, …) is shown on the card, nothing
/// written; a posted order is gone, so Post answers with its Posted Sales Invoice.
async fn action(
    state: WebState,
    s: Signed,
    id: String,
    what: Action,
) -> Result<Response, WebError> {
    s.require(Page::SalesDocuments)?;
    s.require(Page::SalesDocumentActions)?;
    let d = &SALES_ORDERS;
    let id = parse_id(d, &id)?;
    let actor = Actor(s.session.principal.user_id);
    let mut tx = service::begin_write(&state.db).await?;
    let done = match what {
        Action::Release => service::set_order_status(&mut tx, id, true, actor).await,
        Action::Reopen => service::set_order_status(&mut tx, id, false, actor).await,
        Action::Post => service::post_order(&mut tx, id, actor).await,
    };
    let back = format!("{}/{id}", d.base());
    match done {
        Ok(rec) => {
            tx.commit().await?;
            let number = rec.str("number").unwrap_or_default().to_owned();
            if what == Action::Post {
                let invoice =
                    format!("{}/{}", POSTED_SALES_INVOICES.base(), rec.id().unwrap_or_default());
                return Ok(redirect(&s, &invoice));
            }
            let message = match what {
                Action::Release => format!("Sales order {number} is released."),
                _ => format!("Sales order {number} is open again."),
            };
            after_action(s.ctx.htmx, &back, Some(message), None, |m, e| {
                render_card(d, &state, &s, id, m, e)
            })
            .await
        }
        Err(e) => {
            drop(tx);
            let message = refusal(e)?;
            after_action(s.ctx.htmx, &back, None, Some(message), |m, e| {
                render_card(d, &state, &s, id, m, e)
            })
            .await
        }
    }
}

/// The message of an action the domain refused (shown on the card), or the failure as the
/// web client's error.
fn refusal(e: FinError) -> Result<String, WebError> {
    match e {
        FinError::Rule(m) | FinError::Invalid { message: m, .. } => Ok(m),
        FinError::Changed => {
            Ok("The sales order was changed by someone else meanwhile. Look at it again and retry."
                .into())
        }
        other => Err(other.into()),
    }
}

/// Sends the browser to `to`: a redirect, or for htmx `HX-Redirect` (htmx then loads it).
fn redirect(s: &Signed, to: &str) -> Response {
    if s.ctx.htmx {
        let mut resp = ().into_response();
        if let Ok(v) = HeaderValue::from_str(to) {
            resp.headers_mut().insert("hx-redirect", v);
        }
        return resp;
    }
    Redirect::to(to).into_response()
}
