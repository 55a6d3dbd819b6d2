-- One schema and one login role per service; each role has rights on its own schema only.
-- Run by psql as a superuser, connected to the Passerelle database, with the variables
-- intake_password, matching_password, notification_password, evaluation_password.
-- Used by the local stack (deploy/local/stack.sh) and docker compose alike.
\set ON_ERROR_STOP on
SET client_min_messages = warning;

REVOKE CREATE ON SCHEMA public FROM PUBLIC;
REVOKE ALL ON DATABASE :"DBNAME" FROM PUBLIC;

SELECT format('CREATE ROLE %I LOGIN', r) FROM unnest(ARRAY['passerelle_intake', 'passerelle_matching', 'passerelle_notification', 'passerelle_evaluation']) AS r
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) \gexec

ALTER ROLE passerelle_intake PASSWORD :'intake_password';
ALTER ROLE passerelle_matching PASSWORD :'matching_password';
ALTER ROLE passerelle_notification PASSWORD :'notification_password';
ALTER ROLE passerelle_evaluation PASSWORD :'evaluation_password';

CREATE SCHEMA IF NOT EXISTS intake AUTHORIZATION passerelle_intake;
CREATE SCHEMA IF NOT EXISTS matching AUTHORIZATION passerelle_matching;
CREATE SCHEMA IF NOT EXISTS notification AUTHORIZATION passerelle_notification;
CREATE SCHEMA IF NOT EXISTS evaluation AUTHORIZATION passerelle_evaluation;

GRANT CONNECT ON DATABASE :"DBNAME" TO passerelle_intake, passerelle_matching, passerelle_notification, passerelle_evaluation;
-- Matching streams an Open Referral import through temporary tables dropped at commit.
GRANT TEMPORARY ON DATABASE :"DBNAME" TO passerelle_matching;
ALTER ROLE passerelle_intake SET search_path = intake;
ALTER ROLE passerelle_matching SET search_path = matching;
ALTER ROLE passerelle_notification SET search_path = notification;
ALTER ROLE passerelle_evaluation SET search_path = evaluation;

-- The console keeps sessions only, in its own schema, when given a password for its role
-- (the local stack does; a deployment without the console leaves it out).
\if :{?console_password}
SELECT 'CREATE ROLE passerelle_console LOGIN' WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'passerelle_console') \gexec
ALTER ROLE passerelle_console PASSWORD :'console_password';
CREATE SCHEMA IF NOT EXISTS console AUTHORIZATION passerelle_console;
GRANT CONNECT ON DATABASE :"DBNAME" TO passerelle_console;
ALTER ROLE passerelle_console SET search_path = console;
\endif
