-- api.md v1.2: keys of the `subscriber` role read the event feed.
ALTER TABLE api_keys DROP CONSTRAINT api_keys_role_check;
ALTER TABLE api_keys ADD CONSTRAINT api_keys_role_check
    CHECK (role IN ('storefront', 'staff', 'payments', 'analyst', 'operator', 'subscriber', 'admin'));
