-- A password someone else chose or that was generated (a new user's, a
-- reset's) is the person's to replace: until they do, the console shows them
-- the change form and nothing else.
ALTER TABLE console_users ADD COLUMN must_change_password boolean NOT NULL DEFAULT false;
