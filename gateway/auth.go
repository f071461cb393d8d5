package gateway

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// Role is an admin role; a higher role may do all a lower one may.
type Role int

// The roles, lowest first.
const (
	RoleAgent Role = iota + 1
	RoleSupervisor
	RoleAdmin
)

// ParseRole parses "agent", "supervisor" or "admin".
func ParseRole(s string) (Role, error) {
	switch s {
	case "agent":
		return RoleAgent, nil
	case "supervisor":
		return RoleSupervisor, nil
	case "admin":
		return RoleAdmin, nil
	}
	return 0, fmt.Errorf("unknown role %q", s)
}

// String returns the role's name in the configuration: "agent",
// "supervisor" or "admin".
func (r Role) String() string {
	switch r {
	case RoleAgent:
		return "agent"
	case RoleSupervisor:
		return "supervisor"
	case RoleAdmin:
		return "admin"
	}
	return fmt.Sprintf("Role(%d)", int(r))
}

type principal struct {
	name string
	role Role
}

type authenticator struct {
	hashes [][32]byte
	who    []principal
}

func newAuthenticator(tokens []Token) (*authenticator, error) {
	a := &authenticator{}
	for _, t := range tokens {
		if t.Name == "" || t.Secret == "" || t.Role < RoleAgent || t.Role > RoleAdmin {
			return nil, errors.New("gateway: token needs a name, a secret and a role")
		}
		a.hashes = append(a.hashes, sha256.Sum256([]byte(t.Secret)))
		a.who = append(a.who, principal{t.Name, t.Role})
	}
	return a, nil
}

// lookup compares the presented token with every configured one in constant
// time (over fixed-length hashes, so length leaks nothing either).
func (a *authenticator) lookup(token string) (principal, bool) {
	h := sha256.Sum256([]byte(token))
	found := -1
	for i := range a.hashes {
		if subtle.ConstantTimeCompare(h[:], a.hashes[i][:]) == 1 {
			found = i
		}
	}
	if found < 0 {
		return principal{}, false
	}
	return a.who[found], true
}

const principalKey = "hookwall.principal"

// role is middleware admitting bearer tokens of at least min.
func (g *Gateway) role(min Role) fiber.Handler {
	return func(c *fiber.Ctx) error {
		// The scheme name is case-insensitive (RFC 6750, RFC 9110 11.1).
		scheme, token, ok := strings.Cut(c.Get(fiber.HeaderAuthorization), " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
			return errUnauthenticated
		}
		p, ok := g.auth.lookup(token)
		if !ok {
			return errUnauthenticated
		}
		if p.role < min {
			return errForbidden
		}
		c.Locals(principalKey, p)
		return c.Next()
	}
}

// whoami is the authenticated token's principal.
func whoami(c *fiber.Ctx) principal {
	p, _ := c.Locals(principalKey).(principal)
	return p
}

// actor is the name of the authenticated token.
func actor(c *fiber.Ctx) string {
	p, _ := c.Locals(principalKey).(principal)
	return p.name
}
