// Package notify fans the news of committed events out to every replica
// (ports.Notifier) and counts open event streams per organization across
// them (ports.StreamSlots): in process for a single process (SQLite),
// Postgres LISTEN/NOTIFY through lib/pq's listener, or Redis pub/sub and
// a Redis sorted set of leases. It imports the domain, the ports and its
// drivers; never another adapter.
package notify
