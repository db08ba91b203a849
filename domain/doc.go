// Package domain holds TaskFlow's entities (organizations, users, invites,
// tasks), their invariants, the task status state machine and the one error
// type the rest of the service speaks. It imports the standard library only:
// no framework, database or transport concern may leak in here.
package domain
