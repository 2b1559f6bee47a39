-- Test-only tables for the store's conformance suite (a small Dataverse-like account/contact).
CREATE TABLE t_account (
    accountid TEXT NOT NULL PRIMARY KEY,
    name TEXT NOT NULL,
    accountnumber TEXT,
    revenue BIGINT,
    creditlimit BIGINT,
    exchangerate BIGINT,
    statecode BIGINT NOT NULL DEFAULT 0,
    numberofemployees BIGINT,
    latitude DOUBLE PRECISION,
    donotemail BOOLEAN,
    opendate TEXT,
    primarycontactid TEXT,
    createdon BIGINT NOT NULL,
    modifiedon BIGINT NOT NULL,
    row_version BIGINT NOT NULL
);
CREATE UNIQUE INDEX t_account_accountnumber ON t_account (accountnumber);
CREATE INDEX t_account_row_version ON t_account (row_version);

CREATE TABLE t_contact (
    contactid TEXT NOT NULL PRIMARY KEY,
    fullname TEXT,
    jobtitle TEXT,
    parentcustomerid TEXT REFERENCES t_account (accountid),
    birthdate TEXT,
    createdon BIGINT NOT NULL,
    modifiedon BIGINT NOT NULL,
    row_version BIGINT NOT NULL
);
CREATE INDEX t_contact_parentcustomerid ON t_contact (parentcustomerid);
CREATE INDEX t_contact_row_version ON t_contact (row_version);
