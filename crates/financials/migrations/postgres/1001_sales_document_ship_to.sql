-- Sales documents: invoice discount amount and ship-to address (read by the sync engine).

ALTER TABLE fin_sales_order ADD COLUMN discount_amount BIGINT NOT NULL DEFAULT 0;
ALTER TABLE fin_sales_order ADD COLUMN ship_to_name TEXT;
ALTER TABLE fin_sales_order ADD COLUMN ship_to_contact TEXT;
ALTER TABLE fin_sales_order ADD COLUMN ship_to_address_line1 TEXT;
ALTER TABLE fin_sales_order ADD COLUMN ship_to_address_line2 TEXT;
ALTER TABLE fin_sales_order ADD COLUMN ship_to_city TEXT;
ALTER TABLE fin_sales_order ADD COLUMN ship_to_state TEXT;
ALTER TABLE fin_sales_order ADD COLUMN ship_to_country TEXT;
ALTER TABLE fin_sales_order ADD COLUMN ship_to_post_code TEXT;

ALTER TABLE fin_sales_invoice ADD COLUMN discount_amount BIGINT NOT NULL DEFAULT 0;
ALTER TABLE fin_sales_invoice ADD COLUMN ship_to_name TEXT;
ALTER TABLE fin_sales_invoice ADD COLUMN ship_to_contact TEXT;
ALTER TABLE fin_sales_invoice ADD COLUMN ship_to_address_line1 TEXT;
ALTER TABLE fin_sales_invoice ADD COLUMN ship_to_address_line2 TEXT;
ALTER TABLE fin_sales_invoice ADD COLUMN ship_to_city TEXT;
ALTER TABLE fin_sales_invoice ADD COLUMN ship_to_state TEXT;
ALTER TABLE fin_sales_invoice ADD COLUMN ship_to_country TEXT;
ALTER TABLE fin_sales_invoice ADD COLUMN ship_to_post_code TEXT;
