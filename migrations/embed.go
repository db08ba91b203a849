// Package migrations embeds TaskFlow's SQL schema migrations, one folder
// per database dialect, so the binary carries its own schema and needs no
// files on disk. It holds data only and imports nothing but embed; the
// Postgres adapter runs these files with goose.
package migrations

import "embed"

// Postgres holds the goose migrations for PostgreSQL 15 or newer (the
// tasks table uses the column-list form of ON DELETE SET NULL).
//
//go:embed postgres/*.sql
var Postgres embed.FS
