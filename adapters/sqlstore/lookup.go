package sqlstore

import (
	"context"
	"strings"

	"github.com/jmoiron/sqlx"

	"github.com/taskflow/taskflow/domain"
)

// The lookup tables (migrations/postgres/00019_citus_ready.sql) find a
// row's organization before the tenant is known: the normalized email of
// a user, the code hash of an invite, the key hash of an API key, each the
// table's primary key, with only the organization and the row's id beside
// it. In Citus they are reference tables and the tenant tables are
// distributed by organization_id, whose unique keys must all contain it;
// so the lookup table's primary key, not the tenant table, is what keeps
// an email or a hash unique across organizations.
//
// The stores write a lookup row in the transaction that inserts its row
// and delete it in the one that deletes it (including a member's keys
// and invites, which their removal takes along). Every statement on them
// names the organization, so it runs scoped like any tenant statement.
const (
	userEmailLookupPKey = "user_email_lookup_pkey"
)

// lookupTable is one lookup table: its name, key column and id column.
type lookupTable struct {
	name, key, id string
}

var (
	userEmailLookup  = lookupTable{name: "user_email_lookup", key: "email", id: "user_id"}
	inviteCodeLookup = lookupTable{name: "invite_code_lookup", key: "code_hash", id: "invite_id"}
	apiKeyLookup     = lookupTable{name: "api_key_lookup", key: "key_hash", id: "api_key_id"}
)

// addLookup writes the lookup row (key, org, id) of l. keyExpr is the SQL
// expression of the key over its one placeholder ("?" or "lower(?)").
func (c conn) addLookup(ctx context.Context, q sqlx.ExtContext, l lookupTable, keyExpr, key string, org domain.OrgID, id int64) error {
	_, err := c.exec(ctx, q,
		`INSERT INTO `+l.name+` (`+l.key+`, organization_id, `+l.id+`) VALUES (`+keyExpr+`, ?, ?)`, key, org, id)
	return err
}

// dropLookups deletes org's lookup rows of l with the given keys. The keys
// are read from the tenant rows first rather than joined here: in Citus a
// write to a reference table may not read a distributed table.
func (c conn) dropLookups(ctx context.Context, q sqlx.ExtContext, l lookupTable, org domain.OrgID, keys []string) error {
	// SQLite allows 32766 variables per statement; a member's keys and
	// invites are far fewer, but a batch bounds each statement anyway.
	const batch = 500
	for len(keys) > 0 {
		n := min(len(keys), batch)
		args := make([]any, 0, n+1)
		args = append(args, org)
		for _, k := range keys[:n] {
			args = append(args, k)
		}
		if _, err := c.exec(ctx, q,
			`DELETE FROM `+l.name+` WHERE organization_id = ? AND `+l.key+` IN (?`+strings.Repeat(", ?", n-1)+`)`,
			args...); err != nil {
			return err
		}
		keys = keys[n:]
	}
	return nil
}
