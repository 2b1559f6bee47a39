-- Customer ledger entries: the amount in the local currency (balances are kept in it).

ALTER TABLE fin_customer_ledger_entry ADD COLUMN amount_lcy BIGINT NOT NULL DEFAULT 0;
