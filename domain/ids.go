package domain

import "time"

// Identifiers are distinct types so that a task id cannot be passed where
// an organization id is expected.
type (
	OrgID  int64
	UserID int64
	TaskID int64
)

// Actor is the authenticated caller: taken from the token once at the edge,
// refreshed from the store (so the role is the current one), and passed
// down to every use case. OrgID is the tenant scope of every query.
type Actor struct {
	OrgID  OrgID
	UserID UserID
	Role   Role
	// SessionID is the login session the caller's token belongs to (0
	// when the caller uses an API key).
	SessionID SessionID
	// APIKeyID is the API key the caller authenticated with (0: an access
	// token). ReadOnly is that key's restriction to reads.
	APIKeyID APIKeyID
	ReadOnly bool
}

// ViaAPIKey reports whether the caller authenticated with an API key.
func (a Actor) ViaAPIKey() bool { return a.APIKeyID != 0 }

// IsAdmin reports whether the actor may administer its organization.
func (a Actor) IsAdmin() bool { return a.Role == RoleAdmin }

// Organization is a tenant.
type Organization struct {
	ID        OrgID
	Name      string
	CreatedAt time.Time
}

// NewOrganization validates the name (1 to 200 characters after trimming).
func NewOrganization(name string, now time.Time) (*Organization, error) {
	n, err := trimmedLength("name", name, 1, MaxNameLen)
	if err != nil {
		return nil, err
	}
	return &Organization{Name: n, CreatedAt: now.UTC()}, nil
}

// MaxNameLen bounds organization names and task titles, in characters.
const MaxNameLen = 200
