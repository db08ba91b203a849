// Package cache holds the memory and Redis implementations of
// ports.ListCache and ports.RateLimiter: Memory and MemoryLimiter for a
// single process, Redis and RedisLimiter shared by every instance of the
// service. The list caches key entries by organization, space and
// generation, so that Invalidate is one counter step however many entries
// an organization's space holds.
//
// FallbackLimiter puts a MemoryLimiter behind a RedisLimiter, so that rate
// limits count per replica while Redis is away.
//
// It may import the domain, the ports, the standard library, go-redis and
// golang-lru; never the application or another adapter.
package cache
