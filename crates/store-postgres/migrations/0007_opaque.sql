-- OPAQUE (RFC 9807): an account's registration record (192 bytes). An account has either
-- this or an Argon2 hash in password_hash (then empty); a deleted account has neither.
ALTER TABLE users ADD COLUMN opaque_record BYTEA;
