-- Unit groups (Business Central 2023's Unit Group table: one per item and per resource, kept by
-- the domain), resource units of measure (table 205), and the id of each item's and resource's
-- base unit of measure row, for the integration's "Unit Group Mapping".

CREATE TABLE fin_unit_group (
    id TEXT NOT NULL PRIMARY KEY,
    source_type TEXT NOT NULL,
    source_id TEXT NOT NULL,
    source_number TEXT,
    code TEXT NOT NULL,
    source_name TEXT,
    base_unit_of_measure_code TEXT,
    system_created_at BIGINT,
    last_modified_date_time BIGINT,
    system_modified_by TEXT,
    row_version BIGINT NOT NULL
);
CREATE INDEX fin_unit_group_row_version ON fin_unit_group (row_version);
CREATE UNIQUE INDEX fin_unit_group_code ON fin_unit_group (code);
CREATE UNIQUE INDEX fin_unit_group_source_id ON fin_unit_group (source_id);

CREATE TABLE fin_resource_unit_of_measure (
    id TEXT NOT NULL PRIMARY KEY,
    resource_id TEXT,
    resource_number TEXT NOT NULL,
    code TEXT NOT NULL,
    qty_per_unit_of_measure BIGINT NOT NULL DEFAULT 0,
    system_created_at BIGINT,
    last_modified_date_time BIGINT,
    system_modified_by TEXT,
    row_version BIGINT NOT NULL
);
CREATE INDEX fin_resource_unit_of_measure_row_version ON fin_resource_unit_of_measure (row_version);
CREATE UNIQUE INDEX fin_resource_unit_of_measure_resource_number_code ON fin_resource_unit_of_measure (resource_number, code);
CREATE INDEX fin_resource_unit_of_measure_resource_id ON fin_resource_unit_of_measure (resource_id);

ALTER TABLE fin_item ADD COLUMN base_item_unit_of_measure_id TEXT;
ALTER TABLE fin_resource ADD COLUMN base_resource_unit_of_measure_id TEXT;
