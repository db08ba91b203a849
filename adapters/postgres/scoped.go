package postgres

import (
	"database/sql/driver"
	"encoding/hex"
	"strconv"
	"strings"
	"time"

	"github.com/lib/pq"
)

// ScopedStatement returns the text of one simple-protocol query that
// confines its transaction to org and then runs query: a scoped statement
// in one round trip.
//
// Outside a transaction block the query string is Postgres's implicit
// transaction: `SET LOCAL` holds until the end of the string and no
// further, so the tenant never outlives the statement, exactly as
// ScopeSQL's set_config(..., true) ends with an explicit transaction.
// readOnly makes that transaction read only as well, as a read's
// `BEGIN READ ONLY` did. Inside an explicit transaction (a use case's),
// the settings hold for the rest of it, as ScopeSQL's do.
//
// The simple protocol takes no parameters, so args, which query refers
// to as $1, $2..., are written into the text as quoted literals (see
// literal): strings through lib/pq's QuoteLiteral, everything else in
// the text form lib/pq itself sends. A literal is untyped, like a
// parameter sent without a type, so Postgres infers its type from the
// context in the same way. ok is false when an argument has no literal
// form (a type the driver does not know) or a placeholder has no
// argument: errors the driver reports too, given query and args.
//
// What it costs: no plan can be cached, but lib/pq's unnamed statements
// are planned on every execution anyway; Postgres parses a few more
// bytes. docs/PERFORMANCE.md has the measurements.
func (Dialect) ScopedStatement(org int64, readOnly bool, query string, args []any) (string, bool) {
	var b strings.Builder
	b.Grow(len(query) + 96 + 16*len(args))
	if readOnly {
		b.WriteString("SET LOCAL transaction_read_only = on; ")
	}
	b.WriteString(scopeSQL(org))
	b.WriteString("; ")
	if !inline(&b, query, args) {
		return "", false
	}
	return b.String(), true
}

// Inline returns query with its $n placeholders replaced by args as
// literals, as ScopedStatement writes them: a statement without
// parameters, which can go out in one query string with others. ok is
// false as for ScopedStatement.
func (Dialect) Inline(query string, args []any) (string, bool) {
	var b strings.Builder
	b.Grow(len(query) + 16*len(args))
	if !inline(&b, query, args) {
		return "", false
	}
	return b.String(), true
}

// inline writes query to b with each $n placeholder replaced by args[n-1]
// as a literal. Placeholders are recognized where Postgres would see one:
// not inside a quoted string, a quoted identifier, a dollar-quoted string
// or a comment.
func inline(b *strings.Builder, query string, args []any) bool {
	lits := make([]string, len(args))
	for i, a := range args {
		l, ok := literal(a)
		if !ok {
			return false
		}
		lits[i] = l
	}
	for i := 0; i < len(query); {
		c := query[i]
		switch {
		case c == '\'' || c == '"':
			end := closing(query, i+1, c)
			b.WriteString(query[i:end])
			i = end
		case c == '-' && strings.HasPrefix(query[i:], "--"):
			end := strings.IndexByte(query[i:], '\n')
			if end < 0 {
				end = len(query) - i
			}
			b.WriteString(query[i : i+end])
			i += end
		case c == '/' && strings.HasPrefix(query[i:], "/*"):
			end := strings.Index(query[i+2:], "*/")
			if end < 0 {
				end = len(query) - i - 2
			} else {
				end += 2
			}
			b.WriteString(query[i : i+2+end])
			i += 2 + end
		case c == '$':
			j := i + 1
			for j < len(query) && query[j] >= '0' && query[j] <= '9' {
				j++
			}
			if j > i+1 && !identChar(query, i-1) {
				n, err := strconv.Atoi(query[i+1 : j])
				if err != nil || n < 1 || n > len(lits) {
					return false
				}
				b.WriteString(lits[n-1])
				i = j
				continue
			}
			// A dollar-quoted string: $$...$$ or $tag$...$tag$.
			if tag, ok := dollarTag(query, i); ok {
				end := strings.Index(query[i+len(tag):], tag)
				if end < 0 {
					end = len(query) - i - len(tag)
				} else {
					end += len(tag)
				}
				b.WriteString(query[i : i+len(tag)+end])
				i += len(tag) + end
				continue
			}
			b.WriteByte(c)
			i++
		default:
			b.WriteByte(c)
			i++
		}
	}
	return true
}

// closing returns the index just past the quote q that closes a string
// opened before from; a doubled quote is an escaped one.
func closing(s string, from int, q byte) int {
	for i := from; i < len(s); i++ {
		if s[i] == q {
			if i+1 < len(s) && s[i+1] == q {
				i++
				continue
			}
			return i + 1
		}
	}
	return len(s)
}

// identChar tells whether s[i] continues an identifier, so that a $ after
// it is part of the name (Postgres allows $ inside identifiers).
func identChar(s string, i int) bool {
	if i < 0 {
		return false
	}
	c := s[i]
	return c == '_' || c == '$' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80
}

// dollarTag returns the opening tag of a dollar-quoted string at s[i].
func dollarTag(s string, i int) (string, bool) {
	for j := i + 1; j < len(s); j++ {
		c := s[j]
		switch {
		case c == '$':
			return s[i : j+1], true
		case c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80 || (j > i+1 && c >= '0' && c <= '9'):
		default:
			return "", false
		}
	}
	return "", false
}

var nulEscaper = strings.NewReplacer(`\`, `\\`, `'`, `''`, "\x00", `\000`)

// literal is arg as an untyped SQL literal, converted as database/sql
// converts a parameter (driver.Valuer, then the basic kinds).
func literal(arg any) (string, bool) {
	v, err := driver.DefaultParameterConverter.ConvertValue(arg)
	if err != nil {
		return "", false
	}
	switch v := v.(type) {
	case nil:
		return "NULL", true
	case int64:
		return "'" + strconv.FormatInt(v, 10) + "'", true
	case float64:
		return "'" + strconv.FormatFloat(v, 'g', -1, 64) + "'", true
	case bool:
		if v {
			return "'t'", true
		}
		return "'f'", true
	case string:
		if strings.IndexByte(v, 0) >= 0 {
			// No Postgres text holds NUL, and a NUL written raw would end
			// the query string early. Written as an escape, the server
			// refuses the literal with the error a bound parameter
			// holding NUL gets (22021), and runs nothing.
			return "E'" + nulEscaper.Replace(v) + "'", true
		}
		return pq.QuoteLiteral(v), true
	case []byte:
		return "E'\\\\x" + hex.EncodeToString(v) + "'::bytea", true
	case time.Time:
		return "'" + string(pq.FormatTimestamp(v)) + "'", true
	default:
		return "", false
	}
}
