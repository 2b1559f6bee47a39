-- Shipment methods and shipping agents (Business Central's tables 10 and 291), and the
-- customer's defaults for both (synchronized with the account's freight terms and shipping
-- method option sets).

CREATE TABLE fin_shipment_method (
    id TEXT NOT NULL PRIMARY KEY,
    code TEXT NOT NULL,
    display_name TEXT,
    system_created_at BIGINT,
    last_modified_date_time BIGINT,
    system_modified_by TEXT,
    row_version BIGINT NOT NULL
);
CREATE INDEX fin_shipment_method_row_version ON fin_shipment_method (row_version);
CREATE UNIQUE INDEX fin_shipment_method_code ON fin_shipment_method (code);

CREATE TABLE fin_shipping_agent (
    id TEXT NOT NULL PRIMARY KEY,
    code TEXT NOT NULL,
    display_name TEXT,
    internet_address TEXT,
    system_created_at BIGINT,
    last_modified_date_time BIGINT,
    system_modified_by TEXT,
    row_version BIGINT NOT NULL
);
CREATE INDEX fin_shipping_agent_row_version ON fin_shipping_agent (row_version);
CREATE UNIQUE INDEX fin_shipping_agent_code ON fin_shipping_agent (code);

ALTER TABLE fin_customer ADD COLUMN shipment_method_id TEXT;
ALTER TABLE fin_customer ADD COLUMN shipping_agent_code TEXT;
CREATE INDEX fin_customer_shipment_method_id ON fin_customer (shipment_method_id);
