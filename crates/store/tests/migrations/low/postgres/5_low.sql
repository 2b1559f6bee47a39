CREATE TABLE low_thing (id TEXT);
