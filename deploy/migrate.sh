#!/usr/bin/env bash
# Applies the schema migrations db/migrations/NNN_name.sql, in order, to
# DATABASE_URL. Each file runs in one transaction together with its row in
# schema_migrations, so a file is either applied and recorded or neither.
# Files already recorded are skipped: re-running changes nothing. The first
# error stops everything with psql's message and a nonzero exit.
#
# A migration file must not contain its own BEGIN/COMMIT (nor anything that
# cannot run in a transaction, such as CREATE INDEX CONCURRENTLY).
set -euo pipefail

DATABASE_URL=${DATABASE_URL:-postgresql://chatsync@127.0.0.1:15432/chatsync}
# Installed, the migrations sit beside this script (deploy/install.sh); in the
# repository, in db/migrations.
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [ -z "${MIGRATIONS_DIR:-}" ]; then
	MIGRATIONS_DIR=$HERE/migrations
	[ -d "$MIGRATIONS_DIR" ] || MIGRATIONS_DIR=$HERE/../db/migrations
fi

die() { echo "migrate: $*" >&2; exit 1; }

run_psql() {
	PGOPTIONS="${PGOPTIONS:-} -c client_min_messages=warning" \
		psql -X -q -v ON_ERROR_STOP=1 -d "$DATABASE_URL" "$@"
}

ensure_table() {
	run_psql -c "CREATE TABLE IF NOT EXISTS schema_migrations (
		version text PRIMARY KEY,
		applied_at timestamptz NOT NULL DEFAULT now())" \
		|| die "could not create schema_migrations in $DATABASE_URL"
}

is_applied() {
	local found
	found=$(run_psql -tA -c "SELECT 1 FROM schema_migrations WHERE version = '$1'") \
		|| die "could not read schema_migrations"
	[ "$found" = 1 ]
}

apply() {
	local file=$1 version=$2
	if grep -Eiq '^[[:space:]]*(BEGIN|COMMIT|ROLLBACK|START TRANSACTION)[[:space:]]*;' "$file"; then
		die "$file: has its own transaction control; migrate.sh wraps each file in one"
	fi
	echo "migrate: applying $version" >&2
	# One session, one transaction: the file, then its row. A concurrent
	# migrate.sh waits on the advisory lock and then finds the row.
	{
		printf '%s\n' 'BEGIN;' 'SELECT pg_advisory_xact_lock(4242001);' \
			"SELECT count(*) > 0 AS already FROM schema_migrations WHERE version = '$version' \\gset" \
			'\if :already' 'ROLLBACK;' '\else'
		cat "$file"
		printf '%s\n' '' ';' "INSERT INTO schema_migrations (version) VALUES ('$version');" \
			'COMMIT;' '\endif'
	} | run_psql -o /dev/null || die "$version: failed; nothing of it was applied"
}

main() {
	local file version applied=0
	command -v psql >/dev/null || die "psql not found (run deploy/install-deps.sh)"
	[ -d "$MIGRATIONS_DIR" ] || die "no migrations folder at $MIGRATIONS_DIR"
	ensure_table
	for file in "$MIGRATIONS_DIR"/*.sql; do
		[ -e "$file" ] || continue
		version=$(basename "$file" .sql)
		[[ $version =~ ^[0-9]{3}_[a-z0-9_]+$ ]] \
			|| die "$file: name must be NNN_lowercase_name.sql"
		is_applied "$version" && continue
		apply "$file" "$version"
		applied=$((applied + 1))
	done
	echo "migrate: $applied applied, database is up to date" >&2
}

main "$@"
