package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"

	"github.com/gofiber/fiber/v2"
	"github.com/hookwall/hookwall/blocklist/store"
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

// mapping is the one table from errors to HTTP status, problem code and
// detail. A 4xx detail is the error's text: it is about the caller's own
// request. A 5xx detail says what failed, never where: the error's text may
// name a Redis address, repeat a Redis reply (READONLY, a script's hash) or a
// platform's URL with its API key, and the webhook and /readyz answers go to
// callers who are not authenticated. The whole cause goes to the log.
var mapping = []struct {
	err    error
	status int
	code   string
	// detail, when set, words the answer's detail instead of the error.
	detail func(error) string
}{
	{errUnauthenticated, http.StatusUnauthorized, "unauthenticated", nil},
	{errForbidden, http.StatusForbidden, "forbidden", nil},
	{errUnknownChannel, http.StatusNotFound, "unknown_channel", nil},
	{errTooLarge, http.StatusRequestEntityTooLarge, "payload_too_large", nil},
	{errContactBlocked, http.StatusForbidden, "contact_blocked", nil},
	{errBadRequest, http.StatusBadRequest, "invalid_request", nil},
	{store.ErrInvalid, http.StatusBadRequest, "invalid_request", nil},
	{store.ErrNotFound, http.StatusNotFound, "not_found", nil},
	{store.ErrDisabled, http.StatusConflict, "feature_disabled", nil},
	{store.ErrBlocked, http.StatusConflict, "contact_blocked", nil},
	{store.ErrUnavailable, http.StatusServiceUnavailable, "store_unavailable", func(error) string { return "the store is unavailable" }},
	{errBusy, http.StatusServiceUnavailable, "server_busy", nil},
	{channels.ErrBadSignature, http.StatusUnauthorized, "bad_signature", nil},
	{channels.ErrMalformed, http.StatusBadRequest, "malformed_payload", nil},
	{channels.ErrHandshake, http.StatusForbidden, "forbidden", nil},
	{channels.ErrPlatform, http.StatusBadGateway, "channel_error", platformDetail},
}

// classify maps an error to its HTTP status, problem code and detail.
func classify(err error) (status int, code, detail string) {
	var fe *fiber.Error
	if errors.As(err, &fe) {
		return fe.Code, fiberCode(fe.Code), fe.Message
	}
	for _, m := range mapping {
		if errors.Is(err, m.err) {
			if m.detail != nil {
				return m.status, m.code, m.detail(err)
			}
			return m.status, m.code, err.Error()
		}
	}
	return http.StatusInternalServerError, "internal", "internal error"
}

// sendError is a reply the platform refused or failed, with the channel it
// went through: what a 502 answer names.
type sendError struct {
	channel, platform string
	err               error
}

func (e *sendError) Error() string { return "channel " + e.channel + ": " + e.err.Error() }
func (e *sendError) Unwrap() error { return e.err }

// platformDetail words a channel_error: the channel and its platform, and
// the status class the platform answered or that it did not answer — not
// the platform's words, which may repeat the request, nor the URL.
func platformDetail(err error) string {
	who := "the platform"
	if se, ok := errors.AsType[*sendError](err); ok {
		who = fmt.Sprintf("channel %s (%s)", se.channel, se.platform)
	}
	if st, ok := errors.AsType[*channels.StatusError](err); ok {
		return fmt.Sprintf("%s: the platform answered %dxx", who, st.Code/100)
	}
	ne, isNet := errors.AsType[net.Error](err)
	switch {
	case errors.Is(err, context.DeadlineExceeded) || (isNet && ne.Timeout()):
		return who + ": the platform did not answer in time"
	case isNet:
		return who + ": the platform could not be reached"
	}
	return who + ": the platform gave no usable answer"
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
