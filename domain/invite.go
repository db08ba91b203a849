package domain

import "time"

// Invite lets one person join an organization with a role. Only a hash of
// the code is stored; the code itself is shown once, to its creator.
type Invite struct {
	ID        int64
	OrgID     OrgID
	CodeHash  string
	Role      Role
	Email     string // empty: anyone holding the code may use it
	ExpiresAt time.Time
	CreatedAt time.Time
	UsedAt    *time.Time
	// CreatedBy is the ADMIN who made the invite; nil for the first
	// ADMIN's, made with the organization. A creator's unused invites end
	// when they leave or stop being an ADMIN.
	CreatedBy *UserID
}

// Usable reports why the invite cannot be used by email at now, or nil.
func (i *Invite) Usable(email string, now time.Time) error {
	switch {
	case i.UsedAt != nil, !now.Before(i.ExpiresAt), i.Email != "" && i.Email != email:
		return ErrInviteInvalid
	}
	return nil
}
