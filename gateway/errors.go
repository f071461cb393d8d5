package gateway

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/gofiber/fiber/v2"
	"github.com/hookwall/hookwall/blocklist"
	"github.com/hookwall/hookwall/channels"
	"github.com/moogar0880/problems"
)

// Errors of the gateway's own, mapped to problem codes in errorHandler.
var (
	errUnauthenticated = errors.New("missing or invalid bearer token")
	errForbidden       = errors.New("role too low for this route")
	errUnknownChannel  = errors.New("unknown channel")
	errTooLarge        = errors.New("payload too large")
	errContactBlocked  = errors.New("contact is blocked")
	errBadRequest      = errors.New("invalid request")
)

// roleError refuses a request its route admits for what it asks: the detail
// says what needs which role. It is errForbidden to the error handler.
type roleError struct {
	why  string // optional: what about this request asks for it
	what string
	need Role
}

func (e roleError) Error() string {
	s := fmt.Sprintf("%s needs the %s role", e.what, e.need)
	if e.why != "" {
		s = e.why + "; " + s
	}
	return s
}

func (e roleError) Unwrap() error { return errForbidden }

// problem is an RFC 9457 problem details object with the contract's stable
// code as an extension member.
type problem struct {
	problems.Problem
	// Code is the stable, machine-readable error code of the contract.
	Code string `json:"code"`
}

// mapping is the one table from errors to HTTP status and problem code.
var mapping = []struct {
	err    error
	status int
	code   string
}{
	{errUnauthenticated, http.StatusUnauthorized, "unauthenticated"},
	{errForbidden, http.StatusForbidden, "forbidden"},
	{errUnknownChannel, http.StatusNotFound, "unknown_channel"},
	{errTooLarge, http.StatusRequestEntityTooLarge, "payload_too_large"},
	{errContactBlocked, http.StatusForbidden, "contact_blocked"},
	{errBadRequest, http.StatusBadRequest, "invalid_request"},
	{blocklist.ErrInvalid, http.StatusBadRequest, "invalid_request"},
	{blocklist.ErrNotFound, http.StatusNotFound, "not_found"},
	{blocklist.ErrDisabled, http.StatusConflict, "feature_disabled"},
	{blocklist.ErrBlocked, http.StatusConflict, "contact_blocked"},
	{blocklist.ErrUnavailable, http.StatusServiceUnavailable, "store_unavailable"},
	{errBusy, http.StatusServiceUnavailable, "server_busy"},
	{channels.ErrBadSignature, http.StatusUnauthorized, "bad_signature"},
	{channels.ErrMalformed, http.StatusBadRequest, "malformed_payload"},
	{channels.ErrHandshake, http.StatusForbidden, "forbidden"},
	{channels.ErrPlatform, http.StatusBadGateway, "channel_error"},
}

// classify maps an error to its HTTP status, problem code and detail.
func classify(err error) (status int, code, detail string) {
	var fe *fiber.Error
	if errors.As(err, &fe) {
		return fe.Code, fiberCode(fe.Code), fe.Message
	}
	for _, m := range mapping {
		if errors.Is(err, m.err) {
			return m.status, m.code, err.Error()
		}
	}
	return http.StatusInternalServerError, "internal", "internal error"
}

// StatusOf returns the HTTP status the gateway answers err with.
func StatusOf(err error) int {
	status, _, _ := classify(err)
	return status
}

// errorHandler turns every error a handler returns into a problem+json
// answer. It is the only place that knows status codes and problem codes.
func (g *Gateway) errorHandler(c *fiber.Ctx, err error) error {
	status, code, detail := classify(err)
	if status >= 500 {
		g.log.ErrorContext(c.UserContext(), "request failed", "method", c.Method(), "path", c.Route().Path, "status", status, "err", err)
		if status == http.StatusInternalServerError {
			detail = "internal error"
		}
	}
	p := problem{Problem: *problems.NewStatusProblem(status), Code: code}
	p.Detail = detail
	body, _ := json.Marshal(p)
	c.Set(fiber.HeaderContentType, problems.ProblemMediaType)
	return c.Status(status).Send(body)
}

// fiberCode names the problem code of Fiber's own errors (routing, limits).
func fiberCode(status int) string {
	switch status {
	case http.StatusNotFound:
		return "not_found"
	case http.StatusMethodNotAllowed:
		return "method_not_allowed"
	case http.StatusRequestEntityTooLarge:
		return "payload_too_large"
	case http.StatusBadRequest:
		return "invalid_request"
	}
	if status >= 500 {
		return "internal"
	}
	return "invalid_request"
}
