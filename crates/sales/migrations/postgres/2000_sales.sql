-- kontor-sales: Dataverse tables (generated from the model by kontor_sales::schema).

CREATE TABLE crm_systemuser (
    systemuserid TEXT NOT NULL PRIMARY KEY,
    createdon BIGINT,
    modifiedon BIGINT,
    createdby TEXT,
    modifiedby TEXT,
    fullname TEXT,
    firstname TEXT,
    lastname TEXT,
    internalemailaddress TEXT,
    domainname TEXT,
    businessunitid TEXT,
    isdisabled BOOLEAN,
    islicensed BOOLEAN,
    accessmode BIGINT,
    applicationid TEXT,
    isintegrationuser BOOLEAN,
    mobilephone TEXT,
    title TEXT,
    jobtitle TEXT,
    employeeid TEXT,
    parentsystemuserid TEXT,
    transactioncurrencyid TEXT,
    address1_line1 TEXT,
    address1_line2 TEXT,
    address1_line3 TEXT,
    address1_city TEXT,
    address1_postalcode TEXT,
    address1_country TEXT,
    address1_stateorprovince TEXT,
    address1_telephone1 TEXT,
    address1_fax TEXT,
    row_version BIGINT NOT NULL
);
CREATE INDEX crm_systemuser_version ON crm_systemuser (row_version);
CREATE UNIQUE INDEX crm_systemuser_ak0 ON crm_systemuser (domainname);
CREATE INDEX crm_systemuser_modifiedby ON crm_systemuser (modifiedby);
CREATE INDEX crm_systemuser_businessunitid ON crm_systemuser (businessunitid);
CREATE INDEX crm_systemuser_parentsystemuserid ON crm_systemuser (parentsystemuserid);
CREATE INDEX crm_systemuser_transactioncurrencyid ON crm_systemuser (transactioncurrencyid);

CREATE TABLE crm_businessunit (
    businessunitid TEXT NOT NULL PRIMARY KEY,
    createdon BIGINT,
    modifiedon BIGINT,
    createdby TEXT,
    modifiedby TEXT,
    name TEXT,
    parentbusinessunitid TEXT,
    isdisabled BOOLEAN,
    divisionname TEXT,
    emailaddress TEXT,
    websiteurl TEXT,
    creditlimit DOUBLE PRECISION,
    transactioncurrencyid TEXT,
    address1_line1 TEXT,
    address1_line2 TEXT,
    address1_line3 TEXT,
    address1_city TEXT,
    address1_postalcode TEXT,
    address1_country TEXT,
    address1_stateorprovince TEXT,
    address1_telephone1 TEXT,
    address1_fax TEXT,
    row_version BIGINT NOT NULL
);
CREATE INDEX crm_businessunit_version ON crm_businessunit (row_version);
CREATE UNIQUE INDEX crm_businessunit_ak0 ON crm_businessunit (name);
CREATE INDEX crm_businessunit_modifiedby ON crm_businessunit (modifiedby);
CREATE INDEX crm_businessunit_parentbusinessunitid ON crm_businessunit (parentbusinessunitid);
CREATE INDEX crm_businessunit_transactioncurrencyid ON crm_businessunit (transactioncurrencyid);

CREATE TABLE crm_role (
    roleid TEXT NOT NULL PRIMARY KEY,
    createdon BIGINT,
    modifiedon BIGINT,
    createdby TEXT,
    modifiedby TEXT,
    name TEXT,
    businessunitid TEXT,
    isinherited BIGINT,
    ismanaged BOOLEAN,
    row_version BIGINT NOT NULL
);
CREATE INDEX crm_role_version ON crm_role (row_version);
CREATE UNIQUE INDEX crm_role_ak0 ON crm_role (name);
CREATE INDEX crm_role_modifiedby ON crm_role (modifiedby);
CREATE INDEX crm_role_businessunitid ON crm_role (businessunitid);

CREATE TABLE crm_team (
    teamid TEXT NOT NULL PRIMARY KEY,
    createdon BIGINT,
    modifiedon BIGINT,
    createdby TEXT,
    modifiedby TEXT,
    name TEXT,
    businessunitid TEXT,
    teamtype BIGINT,
    administratorid TEXT,
    azureactivedirectoryobjectid TEXT,
    membershiptype BIGINT,
    isdefault BOOLEAN,
    emailaddress TEXT,
    transactioncurrencyid TEXT,
    row_version BIGINT NOT NULL
);
CREATE INDEX crm_team_version ON crm_team (row_version);
CREATE UNIQUE INDEX crm_team_ak0 ON crm_team (name);
CREATE INDEX crm_team_modifiedby ON crm_team (modifiedby);
CREATE INDEX crm_team_businessunitid ON crm_team (businessunitid);
CREATE INDEX crm_team_administratorid ON crm_team (administratorid);
CREATE INDEX crm_team_transactioncurrencyid ON crm_team (transactioncurrencyid);

CREATE TABLE crm_transactioncurrency (
    transactioncurrencyid TEXT NOT NULL PRIMARY KEY,
    createdon BIGINT,
    modifiedon BIGINT,
    createdby TEXT,
    modifiedby TEXT,
    isocurrencycode TEXT,
    currencyname TEXT,
    currencysymbol TEXT,
    exchangerate BIGINT,
    currencyprecision BIGINT,
    currencytype BIGINT,
    statecode BIGINT,
    statuscode BIGINT,
    row_version BIGINT NOT NULL
);
CREATE INDEX crm_transactioncurrency_version ON crm_transactioncurrency (row_version);
CREATE UNIQUE INDEX crm_transactioncurrency_ak0 ON crm_transactioncurrency (isocurrencycode);
CREATE INDEX crm_transactioncurrency_modifiedby ON crm_transactioncurrency (modifiedby);

CREATE TABLE crm_uomschedule (
    uomscheduleid TEXT NOT NULL PRIMARY KEY,
    createdon BIGINT,
    modifiedon BIGINT,
    createdby TEXT,
    modifiedby TEXT,
    name TEXT,
    baseuomname TEXT,
    description TEXT,
    statecode BIGINT,
    statuscode BIGINT,
    row_version BIGINT NOT NULL
);
CREATE INDEX crm_uomschedule_version ON crm_uomschedule (row_version);
CREATE UNIQUE INDEX crm_uomschedule_ak0 ON crm_uomschedule (name);
CREATE INDEX crm_uomschedule_modifiedby ON crm_uomschedule (modifiedby);

CREATE TABLE crm_uom (
    uomid TEXT NOT NULL PRIMARY KEY,
    createdon BIGINT,
    modifiedon BIGINT,
    createdby TEXT,
    modifiedby TEXT,
    name TEXT,
    uomscheduleid TEXT,
    baseuom TEXT,
    quantity BIGINT,
    isschedulebaseuom BOOLEAN,
    row_version BIGINT NOT NULL
);
CREATE INDEX crm_uom_version ON crm_uom (row_version);
CREATE UNIQUE INDEX crm_uom_ak0 ON crm_uom (name, uomscheduleid);
CREATE INDEX crm_uom_modifiedby ON crm_uom (modifiedby);
CREATE INDEX crm_uom_uomscheduleid ON crm_uom (uomscheduleid);
CREATE INDEX crm_uom_baseuom ON crm_uom (baseuom);

CREATE TABLE crm_product (
    productid TEXT NOT NULL PRIMARY KEY,
    createdon BIGINT,
    modifiedon BIGINT,
    createdby TEXT,
    modifiedby TEXT,
    name TEXT,
    productnumber TEXT,
    producttypecode BIGINT,
    productstructure BIGINT,
    defaultuomscheduleid TEXT,
    defaultuomid TEXT,
    pricelevelid TEXT,
    price BIGINT,
    standardcost BIGINT,
    currentcost BIGINT,
    quantityonhand BIGINT,
    quantitydecimal BIGINT,
    stockvolume BIGINT,
    stockweight BIGINT,
    vendorname TEXT,
    vendorpartnumber TEXT,
    vendorid TEXT,
    suppliername TEXT,
    description TEXT,
    transactioncurrencyid TEXT,
    parentproductid TEXT,
    validfromdate TEXT,
    validtodate TEXT,
    statecode BIGINT,
    statuscode BIGINT,
    row_version BIGINT NOT NULL
);
CREATE INDEX crm_product_version ON crm_product (row_version);
CREATE UNIQUE INDEX crm_product_ak0 ON crm_product (productnumber);
CREATE INDEX crm_product_modifiedby ON crm_product (modifiedby);
CREATE INDEX crm_product_defaultuomscheduleid ON crm_product (defaultuomscheduleid);
CREATE INDEX crm_product_defaultuomid ON crm_product (defaultuomid);
CREATE INDEX crm_product_pricelevelid ON crm_product (pricelevelid);
CREATE INDEX crm_product_transactioncurrencyid ON crm_product (transactioncurrencyid);
CREATE INDEX crm_product_parentproductid ON crm_product (parentproductid);

CREATE TABLE crm_pricelevel (
    pricelevelid TEXT NOT NULL PRIMARY KEY,
    createdon BIGINT,
    modifiedon BIGINT,
    createdby TEXT,
    modifiedby TEXT,
    name TEXT,
    transactioncurrencyid TEXT,
    begindate TEXT,
    enddate TEXT,
    description TEXT,
    freighttermscode BIGINT,
    paymentmethodcode BIGINT,
    shippingmethodcode BIGINT,
    statecode BIGINT,
    statuscode BIGINT,
    row_version BIGINT NOT NULL
);
CREATE INDEX crm_pricelevel_version ON crm_pricelevel (row_version);
CREATE UNIQUE INDEX crm_pricelevel_ak0 ON crm_pricelevel (name);
CREATE INDEX crm_pricelevel_modifiedby ON crm_pricelevel (modifiedby);
CREATE INDEX crm_pricelevel_transactioncurrencyid ON crm_pricelevel (transactioncurrencyid);

CREATE TABLE crm_productpricelevel (
    productpricelevelid TEXT NOT NULL PRIMARY KEY,
    createdon BIGINT,
    modifiedon BIGINT,
    createdby TEXT,
    modifiedby TEXT,
    pricelevelid TEXT,
    productid TEXT,
    uomid TEXT,
    uomscheduleid TEXT,
    amount BIGINT,
    percentage BIGINT,
    pricingmethodcode BIGINT,
    quantitysellingcode BIGINT,
    roundingpolicycode BIGINT,
    roundingoptioncode BIGINT,
    roundingoptionamount BIGINT,
    transactioncurrencyid TEXT,
    productnumber TEXT,
    productidname TEXT,
    row_version BIGINT NOT NULL
);
CREATE INDEX crm_productpricelevel_version ON crm_productpricelevel (row_version);
CREATE UNIQUE INDEX crm_productpricelevel_ak0 ON crm_productpricelevel (pricelevelid, productid, uomid);
CREATE INDEX crm_productpricelevel_modifiedby ON crm_productpricelevel (modifiedby);
CREATE INDEX crm_productpricelevel_pricelevelid ON crm_productpricelevel (pricelevelid);
CREATE INDEX crm_productpricelevel_productid ON crm_productpricelevel (productid);
CREATE INDEX crm_productpricelevel_uomid ON crm_productpricelevel (uomid);
CREATE INDEX crm_productpricelevel_uomscheduleid ON crm_productpricelevel (uomscheduleid);
CREATE INDEX crm_productpricelevel_transactioncurrencyid ON crm_productpricelevel (transactioncurrencyid);

CREATE TABLE crm_account (
    accountid TEXT NOT NULL PRIMARY KEY,
    createdon BIGINT,
    modifiedon BIGINT,
    createdby TEXT,
    modifiedby TEXT,
    name TEXT,
    accountnumber TEXT,
    address1_line1 TEXT,
    address1_line2 TEXT,
    address1_line3 TEXT,
    address1_city TEXT,
    address1_postalcode TEXT,
    address1_country TEXT,
    address1_stateorprovince TEXT,
    address1_county TEXT,
    address1_primarycontactname TEXT,
    address1_freighttermscode BIGINT,
    address1_shippingmethodcode BIGINT,
    telephone1 TEXT,
    telephone2 TEXT,
    fax TEXT,
    emailaddress1 TEXT,
    websiteurl TEXT,
    creditlimit BIGINT,
    creditonhold BOOLEAN,
    paymenttermscode BIGINT,
    customertypecode BIGINT,
    transactioncurrencyid TEXT,
    defaultpricelevelid TEXT,
    primarycontactid TEXT,
    parentaccountid TEXT,
    ownerid TEXT,
    owneridtype TEXT,
    statecode BIGINT,
    statuscode BIGINT,
    row_version BIGINT NOT NULL
);
CREATE INDEX crm_account_version ON crm_account (row_version);
CREATE UNIQUE INDEX crm_account_ak0 ON crm_account (accountnumber);
CREATE INDEX crm_account_modifiedby ON crm_account (modifiedby);
CREATE INDEX crm_account_transactioncurrencyid ON crm_account (transactioncurrencyid);
CREATE INDEX crm_account_defaultpricelevelid ON crm_account (defaultpricelevelid);
CREATE INDEX crm_account_primarycontactid ON crm_account (primarycontactid);
CREATE INDEX crm_account_parentaccountid ON crm_account (parentaccountid);
CREATE INDEX crm_account_ownerid ON crm_account (ownerid);

CREATE TABLE crm_contact (
    contactid TEXT NOT NULL PRIMARY KEY,
    createdon BIGINT,
    modifiedon BIGINT,
    createdby TEXT,
    modifiedby TEXT,
    fullname TEXT,
    firstname TEXT,
    middlename TEXT,
    lastname TEXT,
    jobtitle TEXT,
    employeeid TEXT,
    parentcustomerid TEXT,
    parentcustomeridtype TEXT,
    emailaddress1 TEXT,
    telephone1 TEXT,
    telephone2 TEXT,
    mobilephone TEXT,
    fax TEXT,
    pager TEXT,
    websiteurl TEXT,
    address1_line1 TEXT,
    address1_line2 TEXT,
    address1_line3 TEXT,
    address1_city TEXT,
    address1_postalcode TEXT,
    address1_country TEXT,
    address1_stateorprovince TEXT,
    address1_freighttermscode BIGINT,
    address1_shippingmethodcode BIGINT,
    paymenttermscode BIGINT,
    customertypecode BIGINT,
    creditlimit BIGINT,
    defaultpricelevelid TEXT,
    transactioncurrencyid TEXT,
    ownerid TEXT,
    owneridtype TEXT,
    statecode BIGINT,
    statuscode BIGINT,
    row_version BIGINT NOT NULL
);
CREATE INDEX crm_contact_version ON crm_contact (row_version);
CREATE UNIQUE INDEX crm_contact_ak0 ON crm_contact (employeeid);
CREATE INDEX crm_contact_modifiedby ON crm_contact (modifiedby);
CREATE INDEX crm_contact_parentcustomerid ON crm_contact (parentcustomerid);
CREATE INDEX crm_contact_defaultpricelevelid ON crm_contact (defaultpricelevelid);
CREATE INDEX crm_contact_transactioncurrencyid ON crm_contact (transactioncurrencyid);
CREATE INDEX crm_contact_ownerid ON crm_contact (ownerid);

CREATE TABLE crm_salesorder (
    salesorderid TEXT NOT NULL PRIMARY KEY,
    createdon BIGINT,
    modifiedon BIGINT,
    createdby TEXT,
    modifiedby TEXT,
    name TEXT,
    ordernumber TEXT,
    customerid TEXT,
    customeridtype TEXT,
    pricelevelid TEXT,
    transactioncurrencyid TEXT,
    opportunityid TEXT,
    quoteid TEXT,
    ownerid TEXT,
    owneridtype TEXT,
    paymenttermscode BIGINT,
    freighttermscode BIGINT,
    shippingmethodcode BIGINT,
    requestdeliveryby TEXT,
    datefulfilled TEXT,
    submitdate TEXT,
    discountamount BIGINT,
    freightamount BIGINT,
    discountpercentage BIGINT,
    totallineitemamount BIGINT,
    totallineitemdiscountamount BIGINT,
    totaldiscountamount BIGINT,
    totalamountlessfreight BIGINT,
    totaltax BIGINT,
    totalamount BIGINT,
    ispricelocked BOOLEAN,
    willcall BOOLEAN,
    emailaddress TEXT,
    description TEXT,
    billto_name TEXT,
    billto_contactname TEXT,
    billto_line1 TEXT,
    billto_line2 TEXT,
    billto_line3 TEXT,
    billto_city TEXT,
    billto_stateorprovince TEXT,
    billto_postalcode TEXT,
    billto_country TEXT,
    billto_telephone TEXT,
    billto_fax TEXT,
    shipto_name TEXT,
    shipto_contactname TEXT,
    shipto_line1 TEXT,
    shipto_line2 TEXT,
    shipto_line3 TEXT,
    shipto_city TEXT,
    shipto_stateorprovince TEXT,
    shipto_postalcode TEXT,
    shipto_country TEXT,
    shipto_telephone TEXT,
    shipto_fax TEXT,
    shipto_freighttermscode BIGINT,
    statecode BIGINT,
    statuscode BIGINT,
    kontor_financialsordernumber TEXT,
    row_version BIGINT NOT NULL
);
CREATE INDEX crm_salesorder_version ON crm_salesorder (row_version);
CREATE UNIQUE INDEX crm_salesorder_ak0 ON crm_salesorder (ordernumber);
CREATE INDEX crm_salesorder_modifiedby ON crm_salesorder (modifiedby);
CREATE INDEX crm_salesorder_customerid ON crm_salesorder (customerid);
CREATE INDEX crm_salesorder_pricelevelid ON crm_salesorder (pricelevelid);
CREATE INDEX crm_salesorder_transactioncurrencyid ON crm_salesorder (transactioncurrencyid);
CREATE INDEX crm_salesorder_ownerid ON crm_salesorder (ownerid);

CREATE TABLE crm_salesorderdetail (
    salesorderdetailid TEXT NOT NULL PRIMARY KEY,
    createdon BIGINT,
    modifiedon BIGINT,
    createdby TEXT,
    modifiedby TEXT,
    salesorderid TEXT,
    productid TEXT,
    isproductoverridden BOOLEAN,
    productdescription TEXT,
    uomid TEXT,
    quantity BIGINT,
    priceperunit BIGINT,
    ispriceoverridden BOOLEAN,
    baseamount BIGINT,
    extendedamount BIGINT,
    manualdiscountamount BIGINT,
    tax BIGINT,
    volumediscountamount BIGINT,
    lineitemnumber BIGINT,
    sequencenumber BIGINT,
    requestdeliveryby TEXT,
    quantityshipped BIGINT,
    quantitybackordered BIGINT,
    quantitycancelled BIGINT,
    transactioncurrencyid TEXT,
    producttypecode BIGINT,
    skippricecalculation BIGINT,
    salesorderdetailname TEXT,
    kontor_financialslinenumber BIGINT,
    row_version BIGINT NOT NULL
);
CREATE INDEX crm_salesorderdetail_version ON crm_salesorderdetail (row_version);
CREATE UNIQUE INDEX crm_salesorderdetail_ak0 ON crm_salesorderdetail (salesorderid, lineitemnumber);
CREATE INDEX crm_salesorderdetail_modifiedby ON crm_salesorderdetail (modifiedby);
CREATE INDEX crm_salesorderdetail_salesorderid ON crm_salesorderdetail (salesorderid);
CREATE INDEX crm_salesorderdetail_productid ON crm_salesorderdetail (productid);
CREATE INDEX crm_salesorderdetail_uomid ON crm_salesorderdetail (uomid);
CREATE INDEX crm_salesorderdetail_transactioncurrencyid ON crm_salesorderdetail (transactioncurrencyid);

CREATE TABLE crm_invoice (
    invoiceid TEXT NOT NULL PRIMARY KEY,
    createdon BIGINT,
    modifiedon BIGINT,
    createdby TEXT,
    modifiedby TEXT,
    name TEXT,
    invoicenumber TEXT,
    customerid TEXT,
    customeridtype TEXT,
    salesorderid TEXT,
    opportunityid TEXT,
    pricelevelid TEXT,
    transactioncurrencyid TEXT,
    ownerid TEXT,
    owneridtype TEXT,
    duedate TEXT,
    datedelivered TEXT,
    paymenttermscode BIGINT,
    shippingmethodcode BIGINT,
    discountamount BIGINT,
    discountpercentage BIGINT,
    freightamount BIGINT,
    totalamount BIGINT,
    totalamountlessfreight BIGINT,
    totaltax BIGINT,
    totallineitemamount BIGINT,
    totaldiscountamount BIGINT,
    ispricelocked BOOLEAN,
    willcall BOOLEAN,
    description TEXT,
    billto_name TEXT,
    billto_contactname TEXT,
    billto_line1 TEXT,
    billto_line2 TEXT,
    billto_line3 TEXT,
    billto_city TEXT,
    billto_stateorprovince TEXT,
    billto_postalcode TEXT,
    billto_country TEXT,
    billto_telephone TEXT,
    billto_fax TEXT,
    shipto_name TEXT,
    shipto_contactname TEXT,
    shipto_line1 TEXT,
    shipto_line2 TEXT,
    shipto_line3 TEXT,
    shipto_city TEXT,
    shipto_stateorprovince TEXT,
    shipto_postalcode TEXT,
    shipto_country TEXT,
    shipto_telephone TEXT,
    shipto_fax TEXT,
    shipto_freighttermscode BIGINT,
    statecode BIGINT,
    statuscode BIGINT,
    row_version BIGINT NOT NULL
);
CREATE INDEX crm_invoice_version ON crm_invoice (row_version);
CREATE UNIQUE INDEX crm_invoice_ak0 ON crm_invoice (invoicenumber);
CREATE INDEX crm_invoice_modifiedby ON crm_invoice (modifiedby);
CREATE INDEX crm_invoice_customerid ON crm_invoice (customerid);
CREATE INDEX crm_invoice_salesorderid ON crm_invoice (salesorderid);
CREATE INDEX crm_invoice_pricelevelid ON crm_invoice (pricelevelid);
CREATE INDEX crm_invoice_transactioncurrencyid ON crm_invoice (transactioncurrencyid);
CREATE INDEX crm_invoice_ownerid ON crm_invoice (ownerid);

CREATE TABLE crm_invoicedetail (
    invoicedetailid TEXT NOT NULL PRIMARY KEY,
    createdon BIGINT,
    modifiedon BIGINT,
    createdby TEXT,
    modifiedby TEXT,
    invoiceid TEXT,
    invoicedetailname TEXT,
    productid TEXT,
    uomid TEXT,
    salesorderdetailid TEXT,
    isproductoverridden BOOLEAN,
    productdescription TEXT,
    quantity BIGINT,
    priceperunit BIGINT,
    ispriceoverridden BOOLEAN,
    manualdiscountamount BIGINT,
    tax BIGINT,
    baseamount BIGINT,
    extendedamount BIGINT,
    actualdeliveryon TEXT,
    shippingtrackingnumber TEXT,
    quantityshipped BIGINT,
    quantitybackordered BIGINT,
    quantitycancelled BIGINT,
    lineitemnumber BIGINT,
    transactioncurrencyid TEXT,
    row_version BIGINT NOT NULL
);
CREATE INDEX crm_invoicedetail_version ON crm_invoicedetail (row_version);
CREATE UNIQUE INDEX crm_invoicedetail_ak0 ON crm_invoicedetail (invoiceid, lineitemnumber);
CREATE INDEX crm_invoicedetail_modifiedby ON crm_invoicedetail (modifiedby);
CREATE INDEX crm_invoicedetail_invoiceid ON crm_invoicedetail (invoiceid);
CREATE INDEX crm_invoicedetail_productid ON crm_invoicedetail (productid);
CREATE INDEX crm_invoicedetail_uomid ON crm_invoicedetail (uomid);
CREATE INDEX crm_invoicedetail_salesorderdetailid ON crm_invoicedetail (salesorderdetailid);
CREATE INDEX crm_invoicedetail_transactioncurrencyid ON crm_invoicedetail (transactioncurrencyid);

-- N:N systemuserroles_association.
CREATE TABLE crm_systemuserroles (
    systemuserid TEXT NOT NULL,
    roleid TEXT NOT NULL,
    PRIMARY KEY (systemuserid, roleid)
);
-- Privileges of each role (prvCreateAccount …).
CREATE TABLE crm_roleprivileges (
    roleid TEXT NOT NULL,
    privilegename TEXT NOT NULL,
    PRIMARY KEY (roleid, privilegename)
);
-- Credentials: argon2 password hashes (interactive users), sha256 client-secret hashes (applications).
CREATE TABLE crm_credential (
    systemuserid TEXT NOT NULL PRIMARY KEY,
    password_hash TEXT,
    secret_hash TEXT
);
-- Issued bearer tokens, stored as sha256 hashes.
CREATE TABLE crm_token (
    token_hash TEXT NOT NULL PRIMARY KEY,
    systemuserid TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX crm_token_expires ON crm_token (expires_at);
-- Installed solutions.
CREATE TABLE crm_solution (
    uniquename TEXT NOT NULL PRIMARY KEY,
    version TEXT NOT NULL,
    installedon BIGINT NOT NULL
);
-- The Kontor integration's Financials connection (access key encrypted at rest).
CREATE TABLE crm_kontor_connection (
    name TEXT NOT NULL PRIMARY KEY,
    odata_url TEXT NOT NULL,
    user_name TEXT NOT NULL,
    access_key_encrypted TEXT,
    modifiedon BIGINT NOT NULL
);
-- Auto-numbering (ordernumber, invoicenumber).
CREATE TABLE crm_sequence (
    name TEXT NOT NULL PRIMARY KEY,
    value BIGINT NOT NULL
);
