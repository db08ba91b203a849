// Package migrations embeds TaskFlow's SQL schema migrations, one folder
// per database dialect, so the binary carries its own schema and needs no
// files on disk, and runs the migration commands (up, down, status) that
// both store adapters share. It imports embed, goose and the standard
// library; each store adapter builds a goose provider over its own folder
// (with its own locking) and hands it to Run.
package migrations

import "embed"

// Postgres holds the goose migrations for PostgreSQL 15 or newer (the
// tasks table uses the column-list form of ON DELETE SET NULL).
//
//go:embed postgres/*.sql
var Postgres embed.FS

// SQLite holds the goose migrations for the embedded SQLite store: the
// same tables, keys and checks as the Postgres ones, in SQLite's dialect.
//
//go:embed sqlite/*.sql
var SQLite embed.FS
