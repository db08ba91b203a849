// Package auth implements the security ports of the core: access tokens
// (ports.TokenIssuer, ports.TokenVerifier) as HS256 JWTs with golang-jwt v5,
// password hashing (ports.PasswordHasher) with bcrypt, the system clock
// (ports.Clock) and random one-time codes (ports.CodeGenerator).
//
// It may import the domain, the ports, golang-jwt, x/crypto and the
// standard library; never another adapter, the application or a framework.
package auth
