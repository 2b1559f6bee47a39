CREATE TABLE beta_thing (id TEXT NOT NULL PRIMARY KEY, alpha_id TEXT REFERENCES alpha_thing (id));
