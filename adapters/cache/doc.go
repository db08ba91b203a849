// Package cache holds the two implementations of ports.ListCache: Memory,
// for a single process, and Redis, shared by every instance of the service.
// Both key entries by organization and generation, so that Invalidate is
// one counter step however many lists an organization has cached.
//
// It may import the domain, the ports, the standard library and go-redis;
// never the application or another adapter.
package cache
