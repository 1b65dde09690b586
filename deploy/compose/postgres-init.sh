#!/bin/sh
# First start of the PostgreSQL volume only: reelflow's own role and database (Temporal's
# auto-setup creates its two databases itself). The password comes from the environment.
set -eu
psql -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -v pw="$PG_REELFLOW_PASSWORD" <<'SQL'
CREATE ROLE reelflow LOGIN PASSWORD :'pw';
CREATE DATABASE reelflow OWNER reelflow;
SQL
