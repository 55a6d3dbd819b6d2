#!/usr/bin/env bash
# Run by the postgres image's entrypoint, once, when it creates the cluster (an empty data
# volume): creates the four service roles and schemas (and the console's, when
# CONSOLE_DB_PASSWORD is given) with deploy/postgres/init.sql, mounted at
# /passerelle/init.sql, using the passwords given to the container.
#
# The entrypoint sources *.sh files that are not executable, so this avoids `set -u` and `exit`,
# which would leak into (or end) the entrypoint itself.
set -eo pipefail

psql -v ON_ERROR_STOP=1 --no-psqlrc --username "${POSTGRES_USER:-postgres}" --dbname "${POSTGRES_DB:?}" \
  -v intake_password="${INTAKE_DB_PASSWORD:?INTAKE_DB_PASSWORD is not set}" \
  -v matching_password="${MATCHING_DB_PASSWORD:?MATCHING_DB_PASSWORD is not set}" \
  -v notification_password="${NOTIFICATION_DB_PASSWORD:?NOTIFICATION_DB_PASSWORD is not set}" \
  -v evaluation_password="${EVALUATION_DB_PASSWORD:?EVALUATION_DB_PASSWORD is not set}" \
  ${CONSOLE_DB_PASSWORD:+-v console_password="$CONSOLE_DB_PASSWORD"} \
  -f /passerelle/init.sql
