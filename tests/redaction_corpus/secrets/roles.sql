-- 0007_roles.sql: application roles for the reporting replica
BEGIN;

CREATE ROLE reporting_ro WITH LOGIN PASSWORD 'J4kgAEjRL!3UsSpZS';
GRANT CONNECT ON DATABASE reporting TO reporting_ro;
GRANT USAGE ON SCHEMA public TO reporting_ro;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO reporting_ro;

ALTER ROLE etl_writer WITH PASSWORD 'iVA_NZhmtR8WvVaLP5' VALID UNTIL '2025-12-31';

COMMIT;
