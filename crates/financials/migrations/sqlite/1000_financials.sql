-- Financials schema (versions 1000-1999 belong to kontor-financials). Generated from the entity model, then reviewed.

CREATE TABLE fin_company (
    id TEXT NOT NULL PRIMARY KEY,
    system_version TEXT,
    name TEXT NOT NULL,
    display_name TEXT,
    business_profile_id TEXT,
    experience TEXT NOT NULL,
    base_currency_code TEXT,
    system_created_at BIGINT,
    last_modified_date_time BIGINT,
    system_modified_by TEXT,
    row_version BIGINT NOT NULL
);
CREATE INDEX fin_company_row_version ON fin_company (row_version);
CREATE UNIQUE INDEX fin_company_name ON fin_company (name);

CREATE TABLE fin_customer (
    id TEXT NOT NULL PRIMARY KEY,
    number TEXT,
    display_name TEXT,
    type TEXT NOT NULL,
    address_line1 TEXT,
    address_line2 TEXT,
    city TEXT,
    state TEXT,
    country TEXT,
    postal_code TEXT,
    phone_number TEXT,
    email TEXT,
    website TEXT,
    salesperson_code TEXT,
    balance_due BIGINT NOT NULL DEFAULT 0,
    credit_limit BIGINT NOT NULL DEFAULT 0,
    currency_code TEXT,
    payment_terms_id TEXT,
    customer_price_group TEXT,
    blocked TEXT NOT NULL,
    system_created_at BIGINT,
    last_modified_date_time BIGINT,
    system_modified_by TEXT,
    row_version BIGINT NOT NULL
);
CREATE INDEX fin_customer_row_version ON fin_customer (row_version);
CREATE UNIQUE INDEX fin_customer_number ON fin_customer (number);
CREATE INDEX fin_customer_payment_terms_id ON fin_customer (payment_terms_id);

CREATE TABLE fin_contact (
    id TEXT NOT NULL PRIMARY KEY,
    number TEXT,
    type TEXT NOT NULL,
    display_name TEXT,
    job_title TEXT,
    company_number TEXT,
    company_name TEXT,
    address_line1 TEXT,
    address_line2 TEXT,
    city TEXT,
    state TEXT,
    country TEXT,
    postal_code TEXT,
    phone_number TEXT,
    mobile_phone_number TEXT,
    email TEXT,
    website TEXT,
    system_created_at BIGINT,
    last_modified_date_time BIGINT,
    system_modified_by TEXT,
    row_version BIGINT NOT NULL
);
CREATE INDEX fin_contact_row_version ON fin_contact (row_version);
CREATE UNIQUE INDEX fin_contact_number ON fin_contact (number);

CREATE TABLE fin_currency (
    id TEXT NOT NULL PRIMARY KEY,
    code TEXT NOT NULL,
    display_name TEXT,
    symbol TEXT,
    iso_code TEXT,
    amount_decimal_places TEXT,
    amount_rounding_precision BIGINT NOT NULL DEFAULT 0,
    exchange_rate BIGINT,
    system_created_at BIGINT,
    last_modified_date_time BIGINT,
    system_modified_by TEXT,
    row_version BIGINT NOT NULL
);
CREATE INDEX fin_currency_row_version ON fin_currency (row_version);
CREATE UNIQUE INDEX fin_currency_code ON fin_currency (code);

CREATE TABLE fin_currency_exchange_rate (
    id TEXT NOT NULL PRIMARY KEY,
    currency_id TEXT,
    currency_code TEXT NOT NULL,
    starting_date TEXT NOT NULL,
    exchange_rate_amount BIGINT NOT NULL DEFAULT 0,
    relational_exchange_rate_amount BIGINT NOT NULL DEFAULT 0,
    system_created_at BIGINT,
    last_modified_date_time BIGINT,
    system_modified_by TEXT,
    row_version BIGINT NOT NULL
);
CREATE INDEX fin_currency_exchange_rate_row_version ON fin_currency_exchange_rate (row_version);
CREATE UNIQUE INDEX fin_currency_exchange_rate_currency_code_starting_date ON fin_currency_exchange_rate (currency_code, starting_date);
CREATE INDEX fin_currency_exchange_rate_currency_id ON fin_currency_exchange_rate (currency_id);

CREATE TABLE fin_unit_of_measure (
    id TEXT NOT NULL PRIMARY KEY,
    code TEXT NOT NULL,
    display_name TEXT,
    international_standard_code TEXT,
    symbol TEXT,
    system_created_at BIGINT,
    last_modified_date_time BIGINT,
    system_modified_by TEXT,
    row_version BIGINT NOT NULL
);
CREATE INDEX fin_unit_of_measure_row_version ON fin_unit_of_measure (row_version);
CREATE UNIQUE INDEX fin_unit_of_measure_code ON fin_unit_of_measure (code);

CREATE TABLE fin_payment_terms (
    id TEXT NOT NULL PRIMARY KEY,
    code TEXT NOT NULL,
    display_name TEXT,
    due_date_calculation TEXT,
    discount_date_calculation TEXT,
    discount_percent BIGINT NOT NULL DEFAULT 0,
    system_created_at BIGINT,
    last_modified_date_time BIGINT,
    system_modified_by TEXT,
    row_version BIGINT NOT NULL
);
CREATE INDEX fin_payment_terms_row_version ON fin_payment_terms (row_version);
CREATE UNIQUE INDEX fin_payment_terms_code ON fin_payment_terms (code);

CREATE TABLE fin_item (
    id TEXT NOT NULL PRIMARY KEY,
    number TEXT,
    display_name TEXT,
    display_name2 TEXT,
    type TEXT NOT NULL,
    item_category_code TEXT,
    blocked BOOLEAN NOT NULL DEFAULT FALSE,
    gtin TEXT,
    inventory BIGINT NOT NULL DEFAULT 0,
    unit_price BIGINT NOT NULL DEFAULT 0,
    unit_cost BIGINT NOT NULL DEFAULT 0,
    price_includes_tax BOOLEAN NOT NULL DEFAULT FALSE,
    base_unit_of_measure_id TEXT,
    base_unit_of_measure_code TEXT,
    prevent_negative_inventory BOOLEAN NOT NULL DEFAULT FALSE,
    system_created_at BIGINT,
    last_modified_date_time BIGINT,
    system_modified_by TEXT,
    crm_id TEXT,
    row_version BIGINT NOT NULL
);
CREATE INDEX fin_item_row_version ON fin_item (row_version);
CREATE UNIQUE INDEX fin_item_number ON fin_item (number);
CREATE INDEX fin_item_base_unit_of_measure_id ON fin_item (base_unit_of_measure_id);

CREATE TABLE fin_item_unit_of_measure (
    id TEXT NOT NULL PRIMARY KEY,
    item_id TEXT,
    item_number TEXT NOT NULL,
    code TEXT NOT NULL,
    qty_per_unit_of_measure BIGINT NOT NULL DEFAULT 0,
    system_created_at BIGINT,
    last_modified_date_time BIGINT,
    system_modified_by TEXT,
    row_version BIGINT NOT NULL
);
CREATE INDEX fin_item_unit_of_measure_row_version ON fin_item_unit_of_measure (row_version);
CREATE UNIQUE INDEX fin_item_unit_of_measure_item_number_code ON fin_item_unit_of_measure (item_number, code);
CREATE INDEX fin_item_unit_of_measure_item_id ON fin_item_unit_of_measure (item_id);

CREATE TABLE fin_resource (
    id TEXT NOT NULL PRIMARY KEY,
    number TEXT,
    display_name TEXT,
    type TEXT NOT NULL,
    base_unit_of_measure_code TEXT,
    unit_price BIGINT NOT NULL DEFAULT 0,
    unit_cost BIGINT NOT NULL DEFAULT 0,
    blocked BOOLEAN NOT NULL DEFAULT FALSE,
    system_created_at BIGINT,
    last_modified_date_time BIGINT,
    system_modified_by TEXT,
    row_version BIGINT NOT NULL
);
CREATE INDEX fin_resource_row_version ON fin_resource (row_version);
CREATE UNIQUE INDEX fin_resource_number ON fin_resource (number);

CREATE TABLE fin_salesperson (
    id TEXT NOT NULL PRIMARY KEY,
    code TEXT NOT NULL,
    display_name TEXT,
    email TEXT,
    phone_number TEXT,
    job_title TEXT,
    blocked BOOLEAN NOT NULL DEFAULT FALSE,
    system_created_at BIGINT,
    last_modified_date_time BIGINT,
    system_modified_by TEXT,
    row_version BIGINT NOT NULL
);
CREATE INDEX fin_salesperson_row_version ON fin_salesperson (row_version);
CREATE UNIQUE INDEX fin_salesperson_code ON fin_salesperson (code);

CREATE TABLE fin_customer_price_group (
    id TEXT NOT NULL PRIMARY KEY,
    code TEXT NOT NULL,
    display_name TEXT,
    system_created_at BIGINT,
    last_modified_date_time BIGINT,
    system_modified_by TEXT,
    row_version BIGINT NOT NULL
);
CREATE INDEX fin_customer_price_group_row_version ON fin_customer_price_group (row_version);
CREATE UNIQUE INDEX fin_customer_price_group_code ON fin_customer_price_group (code);

CREATE TABLE fin_sales_price (
    id TEXT NOT NULL PRIMARY KEY,
    item_id TEXT,
    item_number TEXT NOT NULL,
    customer_price_group_id TEXT,
    customer_price_group_code TEXT,
    currency_code TEXT,
    unit_of_measure_code TEXT,
    minimum_quantity BIGINT NOT NULL DEFAULT 0,
    unit_price BIGINT NOT NULL DEFAULT 0,
    starting_date TEXT,
    ending_date TEXT,
    system_created_at BIGINT,
    last_modified_date_time BIGINT,
    system_modified_by TEXT,
    row_version BIGINT NOT NULL
);
CREATE INDEX fin_sales_price_row_version ON fin_sales_price (row_version);
CREATE INDEX fin_sales_price_item_id ON fin_sales_price (item_id);
CREATE INDEX fin_sales_price_customer_price_group_id ON fin_sales_price (customer_price_group_id);

CREATE TABLE fin_sales_order (
    id TEXT NOT NULL PRIMARY KEY,
    number TEXT,
    external_document_number TEXT,
    order_date TEXT,
    posting_date TEXT,
    customer_id TEXT,
    customer_number TEXT,
    customer_name TEXT,
    sell_to_address_line1 TEXT,
    sell_to_address_line2 TEXT,
    sell_to_city TEXT,
    sell_to_state TEXT,
    sell_to_country TEXT,
    sell_to_post_code TEXT,
    currency_code TEXT,
    customer_price_group TEXT,
    salesperson TEXT,
    requested_delivery_date TEXT,
    total_amount_excluding_tax BIGINT NOT NULL DEFAULT 0,
    total_tax_amount BIGINT NOT NULL DEFAULT 0,
    total_amount_including_tax BIGINT NOT NULL DEFAULT 0,
    fully_shipped BOOLEAN NOT NULL DEFAULT FALSE,
    status TEXT NOT NULL,
    phone_number TEXT,
    email TEXT,
    system_created_at BIGINT,
    last_modified_date_time BIGINT,
    system_modified_by TEXT,
    row_version BIGINT NOT NULL
);
CREATE INDEX fin_sales_order_row_version ON fin_sales_order (row_version);
CREATE UNIQUE INDEX fin_sales_order_number ON fin_sales_order (number);
CREATE INDEX fin_sales_order_customer_id ON fin_sales_order (customer_id);

CREATE TABLE fin_sales_order_line (
    id TEXT NOT NULL PRIMARY KEY,
    document_id TEXT NOT NULL,
    sequence BIGINT NOT NULL DEFAULT 0,
    line_type TEXT NOT NULL,
    item_id TEXT,
    line_object_number TEXT,
    description TEXT,
    unit_of_measure_code TEXT,
    quantity BIGINT NOT NULL DEFAULT 0,
    unit_price BIGINT NOT NULL DEFAULT 0,
    discount_amount BIGINT NOT NULL DEFAULT 0,
    discount_percent BIGINT NOT NULL DEFAULT 0,
    amount_excluding_tax BIGINT NOT NULL DEFAULT 0,
    total_tax_amount BIGINT NOT NULL DEFAULT 0,
    amount_including_tax BIGINT NOT NULL DEFAULT 0,
    unit_cost BIGINT NOT NULL DEFAULT 0,
    shipment_date TEXT,
    shipped_quantity BIGINT NOT NULL DEFAULT 0,
    invoiced_quantity BIGINT NOT NULL DEFAULT 0,
    system_created_at BIGINT,
    last_modified_date_time BIGINT,
    system_modified_by TEXT,
    row_version BIGINT NOT NULL
);
CREATE INDEX fin_sales_order_line_row_version ON fin_sales_order_line (row_version);
CREATE INDEX fin_sales_order_line_document_id ON fin_sales_order_line (document_id);
CREATE INDEX fin_sales_order_line_item_id ON fin_sales_order_line (item_id);

CREATE TABLE fin_sales_invoice (
    id TEXT NOT NULL PRIMARY KEY,
    number TEXT NOT NULL,
    external_document_number TEXT,
    invoice_date TEXT,
    posting_date TEXT,
    due_date TEXT,
    customer_id TEXT,
    customer_number TEXT,
    customer_name TEXT,
    currency_code TEXT,
    salesperson TEXT,
    order_id TEXT,
    order_number TEXT,
    total_amount_excluding_tax BIGINT NOT NULL DEFAULT 0,
    total_tax_amount BIGINT NOT NULL DEFAULT 0,
    total_amount_including_tax BIGINT NOT NULL DEFAULT 0,
    remaining_amount BIGINT NOT NULL DEFAULT 0,
    status TEXT NOT NULL,
    system_created_at BIGINT,
    last_modified_date_time BIGINT,
    system_modified_by TEXT,
    row_version BIGINT NOT NULL
);
CREATE INDEX fin_sales_invoice_row_version ON fin_sales_invoice (row_version);
CREATE UNIQUE INDEX fin_sales_invoice_number ON fin_sales_invoice (number);
CREATE INDEX fin_sales_invoice_customer_id ON fin_sales_invoice (customer_id);
CREATE INDEX fin_sales_invoice_order_id ON fin_sales_invoice (order_id);

CREATE TABLE fin_sales_invoice_line (
    id TEXT NOT NULL PRIMARY KEY,
    document_id TEXT NOT NULL,
    sequence BIGINT NOT NULL DEFAULT 0,
    line_type TEXT NOT NULL,
    item_id TEXT,
    line_object_number TEXT,
    description TEXT,
    unit_of_measure_code TEXT,
    quantity BIGINT NOT NULL DEFAULT 0,
    unit_price BIGINT NOT NULL DEFAULT 0,
    discount_amount BIGINT NOT NULL DEFAULT 0,
    discount_percent BIGINT NOT NULL DEFAULT 0,
    amount_excluding_tax BIGINT NOT NULL DEFAULT 0,
    total_tax_amount BIGINT NOT NULL DEFAULT 0,
    amount_including_tax BIGINT NOT NULL DEFAULT 0,
    unit_cost BIGINT NOT NULL DEFAULT 0,
    system_created_at BIGINT,
    last_modified_date_time BIGINT,
    system_modified_by TEXT,
    row_version BIGINT NOT NULL
);
CREATE INDEX fin_sales_invoice_line_row_version ON fin_sales_invoice_line (row_version);
CREATE INDEX fin_sales_invoice_line_document_id ON fin_sales_invoice_line (document_id);
CREATE INDEX fin_sales_invoice_line_item_id ON fin_sales_invoice_line (item_id);

CREATE TABLE fin_item_ledger_entry (
    id TEXT NOT NULL PRIMARY KEY,
    entry_number BIGINT NOT NULL DEFAULT 0,
    item_id TEXT,
    item_number TEXT NOT NULL,
    posting_date TEXT NOT NULL,
    entry_type TEXT NOT NULL,
    source_type TEXT NOT NULL,
    source_number TEXT,
    document_type TEXT NOT NULL,
    document_number TEXT,
    description TEXT,
    unit_of_measure_code TEXT,
    quantity BIGINT NOT NULL DEFAULT 0,
    sales_amount_actual BIGINT NOT NULL DEFAULT 0,
    cost_amount_actual BIGINT NOT NULL DEFAULT 0,
    system_created_at BIGINT,
    last_modified_date_time BIGINT,
    system_modified_by TEXT,
    row_version BIGINT NOT NULL
);
CREATE INDEX fin_item_ledger_entry_row_version ON fin_item_ledger_entry (row_version);
CREATE UNIQUE INDEX fin_item_ledger_entry_entry_number ON fin_item_ledger_entry (entry_number);
CREATE INDEX fin_item_ledger_entry_item_id ON fin_item_ledger_entry (item_id);

CREATE TABLE fin_customer_ledger_entry (
    id TEXT NOT NULL PRIMARY KEY,
    entry_number BIGINT NOT NULL DEFAULT 0,
    customer_id TEXT,
    customer_number TEXT NOT NULL,
    posting_date TEXT NOT NULL,
    document_type TEXT NOT NULL,
    document_number TEXT,
    description TEXT,
    currency_code TEXT,
    amount BIGINT NOT NULL DEFAULT 0,
    remaining_amount BIGINT NOT NULL DEFAULT 0,
    open BOOLEAN NOT NULL DEFAULT FALSE,
    system_created_at BIGINT,
    last_modified_date_time BIGINT,
    system_modified_by TEXT,
    row_version BIGINT NOT NULL
);
CREATE INDEX fin_customer_ledger_entry_row_version ON fin_customer_ledger_entry (row_version);
CREATE UNIQUE INDEX fin_customer_ledger_entry_entry_number ON fin_customer_ledger_entry (entry_number);
CREATE INDEX fin_customer_ledger_entry_customer_id ON fin_customer_ledger_entry (customer_id);

CREATE TABLE fin_user (
    id TEXT NOT NULL PRIMARY KEY,
    user_name TEXT NOT NULL,
    full_name TEXT,
    authentication_email TEXT,
    state TEXT NOT NULL,
    permission_sets TEXT NOT NULL,
    web_service_key_expiry BIGINT,
    has_web_service_key BOOLEAN NOT NULL DEFAULT FALSE,
    system_created_at BIGINT,
    last_modified_date_time BIGINT,
    system_modified_by TEXT,
    row_version BIGINT NOT NULL
);
CREATE INDEX fin_user_row_version ON fin_user (row_version);
CREATE UNIQUE INDEX fin_user_user_name ON fin_user (user_name);

CREATE INDEX fin_item_ledger_entry_item_number ON fin_item_ledger_entry (item_number);
CREATE INDEX fin_customer_ledger_entry_customer_number ON fin_customer_ledger_entry (customer_number);
CREATE INDEX fin_sales_price_item_number ON fin_sales_price (item_number);

-- Credentials live apart from the user rows the generic API serves: never selectable through it.
CREATE TABLE fin_user_secret (
    user_id TEXT NOT NULL PRIMARY KEY,
    password_hash TEXT,
    web_service_key_hash TEXT,
    web_service_key_expiry BIGINT
);
CREATE UNIQUE INDEX fin_user_secret_key ON fin_user_secret (web_service_key_hash);

-- Number series: the last number handed out per series; the next is its increment.
CREATE TABLE fin_no_series (
    code TEXT NOT NULL PRIMARY KEY,
    description TEXT,
    starting_no TEXT NOT NULL,
    last_no_used TEXT
);
INSERT INTO fin_no_series (code, description, starting_no) VALUES
    ('CUST', 'Customers', 'C00010'),
    ('CONT', 'Contacts', 'CT000010'),
    ('ITEM', 'Items', '1000'),
    ('RES', 'Resources', 'R0010'),
    ('S-ORD', 'Sales Orders', 'S-ORD101001'),
    ('S-INV+', 'Posted Sales Invoices', '103001'),
    ('ILE', 'Item Ledger Entry No.', '1'),
    ('CLE', 'Cust. Ledger Entry No.', '1');

-- The published page 5390 "Product Item Availability" (OData web service).
CREATE VIEW fin_product_item_availability AS
    SELECT id, number AS item_no, base_unit_of_measure_code AS uom, inventory, crm_id, row_version
    FROM fin_item;
