ALTER TABLE alpha_thing ADD COLUMN label TEXT;
