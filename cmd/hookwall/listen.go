package main

// hookwall listen: a local receiver for hookwall's deliveries, so that
// someone trying hookwall out sees the envelopes the bot and the helpdesk
// get, and the reference for helpdesk integrators of how to take one:
// verify the Standard Webhooks signature over the raw body, answer fast,
// de-duplicate by webhook-id (inbox.receive, in this file). The rest is
// plumbing: listen_serve.go (flags, listeners, shutdown), listen_targets.go
// (where to listen) and listen_print.go (what a person sees).

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

const (
	// maxDeliveryBytes bounds a delivery's body. An envelope carries the
	// platform's event in raw, and WhatsApp alone sends bodies of up to
	// 3 MB; past 5 MiB the answer is 413 (which hookwall retries, then
	// parks).
	maxDeliveryBytes = 5 << 20
	// rememberedIDs is how many webhook-ids listen remembers to mark
	// redeliveries.
	rememberedIDs = 10_000
	// maxIDBytes bounds a remembered webhook-id; hookwall's are 36 bytes.
	maxIDBytes = 256
	// shutdownBound is how long deliveries in flight get on SIGINT/SIGTERM.
	shutdownBound = 5 * time.Second
)

// inbox takes deliveries for every endpoint: it prints them and remembers
// their webhook-ids.
type inbox struct {
	json bool
	now  func() time.Time
	seen *recentIDs
	out  io.Writer // accepted deliveries
	log  io.Writer // listeners, refusals, duplicates in --json
}

// receive takes one delivery, as a helpdesk should.
func (in *inbox) receive(w http.ResponseWriter, r *http.Request, ep *endpoint) {
	label := ep.labelFor(r)
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		in.refuse(w, r, label, http.StatusMethodNotAllowed, "method_not_allowed", "deliveries are POST requests")
		return
	}
	// 1. Read the raw body, bounded: the signature is over these exact
	// bytes (never verify a re-encoded copy), and a stranger must not make
	// the receiver read without end.
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxDeliveryBytes))
	if err != nil {
		if errors.As(err, new(*http.MaxBytesError)) {
			in.refuse(w, r, label, http.StatusRequestEntityTooLarge, "payload_too_large", fmt.Sprintf("the body is over %d bytes", maxDeliveryBytes))
		} else {
			in.refuse(w, r, label, http.StatusBadRequest, "invalid_request", "the body could not be read")
		}
		return
	}
	// 2. Verify before believing anything in the body.
	if err := ep.verify(body, r.Header); err != nil {
		in.refuse(w, r, label, http.StatusUnauthorized, "bad_signature", signatureProblem(err))
		return
	}
	d, err := parseDelivery(body)
	if err != nil {
		in.refuse(w, r, label, http.StatusBadRequest, "malformed_payload", err.Error())
		return
	}
	// 3. De-duplicate by webhook-id. Deliveries are at least once: hookwall
	// posts the same webhook-id again after a timeout or a lost answer, a
	// replica's takeover or a dead-letter retry. A helpdesk keeps the ids it
	// has handled (for longer than hookwall's retries last) and answers a
	// repeat 2xx without acting on it again; listen marks it.
	dup := in.seen.add(r.Header.Get(standardwebhooks.HeaderWebhookID))
	// 4. Answer fast. 2xx means "taken": a helpdesk stores or queues the
	// envelope and answers, and does slow work afterwards, since hookwall
	// retries an attempt that takes longer than delivery.timeout.
	in.print(label, dup, body, d)
	w.WriteHeader(http.StatusNoContent)
}

// verify checks the Standard Webhooks signature of a delivery.
func (ep *endpoint) verify(body []byte, h http.Header) error {
	if len(ep.keys) == 0 {
		return nil // a target without a secret: hookwall does not sign
	}
	var err error
	for _, k := range ep.keys {
		// Verify recomputes the HMAC-SHA256 of "id.timestamp.body",
		// compares it with each webhook-signature in constant time, and
		// refuses a webhook-timestamp more than 5 minutes from this clock,
		// so that a captured delivery cannot be replayed later.
		if err = k.Verify(body, h); err == nil || !errors.Is(err, standardwebhooks.ErrNoMatchingSignature) {
			return err
		}
	}
	return err
}

// signatureProblem says why a signature was refused, without the secret.
func signatureProblem(err error) string {
	switch {
	case errors.Is(err, standardwebhooks.ErrRequiredHeaders):
		return "missing webhook-id, webhook-timestamp or webhook-signature header"
	case errors.Is(err, standardwebhooks.ErrInvalidHeaders):
		return "webhook-timestamp is not unix seconds"
	case errors.Is(err, standardwebhooks.ErrMessageTooOld):
		return "webhook-timestamp is more than 5 minutes old"
	case errors.Is(err, standardwebhooks.ErrMessageTooNew):
		return "webhook-timestamp is more than 5 minutes ahead"
	case errors.Is(err, standardwebhooks.ErrNoMatchingSignature):
		return "no webhook-signature matches this target's secret"
	}
	return "bad signature"
}

// problem is an RFC 9457 problem details body with hookwall's code member.
type problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
	Code   string `json:"code"`
}

// refuse prints why a request was refused and answers it with a problem.
func (in *inbox) refuse(w http.ResponseWriter, r *http.Request, label string, status int, code, detail string) {
	if label != "" {
		label = " (" + label + ")"
	}
	in.logf("refused %s %s%s from %s: %d %s: %s", r.Method, field(r.URL.Path), label, r.RemoteAddr, status, code, detail)
	body, _ := json.Marshal(problem{Type: "about:blank", Title: http.StatusText(status), Status: status, Detail: detail, Code: code})
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// recentIDs remembers the last webhook-ids seen, up to a bound.
type recentIDs struct {
	mu   sync.Mutex
	set  map[string]struct{}
	ring []string // the ids in the order seen; next is overwritten next
	next int
}

func newRecentIDs(n int) *recentIDs {
	return &recentIDs{set: make(map[string]struct{}, n), ring: make([]string, n)}
}

// add records id and reports whether it was seen already. An empty id, or
// one longer than maxIDBytes, is never remembered.
func (s *recentIDs) add(id string) (seen bool) {
	if id == "" || len(id) > maxIDBytes {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.set[id]; ok {
		return true
	}
	if old := s.ring[s.next]; old != "" {
		delete(s.set, old)
	}
	s.ring[s.next] = id
	s.next = (s.next + 1) % len(s.ring)
	s.set[id] = struct{}{}
	return false
}
