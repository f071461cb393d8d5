package whatsapp

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/hookwall/hookwall/channels"
)

// maxResponseBytes bounds how much of a Graph API answer is read; a send
// answer is a few hundred bytes.
const maxResponseBytes = 1 << 20

type sendRequest struct {
	MessagingProduct string   `json:"messaging_product"`
	RecipientType    string   `json:"recipient_type"`
	To               string   `json:"to"`
	Type             string   `json:"type"`
	Text             sendText `json:"text"`
}

type sendText struct {
	Body string `json:"body"`
}

type sendResponse struct {
	Messages []struct {
		ID string `json:"id"`
	} `json:"messages"`
}

// graphError is the Graph API's error object.
type graphError struct {
	Message      string `json:"message"`
	Type         string `json:"type"`
	Code         int    `json:"code"`
	ErrorSubcode int    `json:"error_subcode"`
	FBTraceID    string `json:"fbtrace_id"`
	ErrorData    *struct {
		Details string `json:"details"`
	} `json:"error_data"`
}

// Send posts a text message to the contact (a wa_id) through
// POST {APIBase}/{PhoneNumberID}/messages and returns the wamid Meta assigned
// to it. The call is bounded by the channel's Timeout. Refusals, transport
// errors and timeouts wrap channels.ErrPlatform with the Graph error's
// message and code; the access token never appears in the error.
func (c *Channel) Send(ctx context.Context, contact, text string) (string, error) {
	body, err := json.Marshal(sendRequest{
		MessagingProduct: "whatsapp",
		RecipientType:    "individual",
		To:               contact,
		Type:             "text",
		Text:             sendText{Body: text},
	})
	if err != nil {
		return "", fmt.Errorf("whatsapp: send: encode request: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint, bytes.NewReader(body))
	if err != nil {
		return "", fmt.Errorf("whatsapp: send: %w: %w", channels.ErrPlatform, err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")

	resp, err := c.client.Do(req)
	if err != nil {
		// The token travels in a header, never in the URL, so the
		// transport's error cannot contain it.
		return "", fmt.Errorf("whatsapp: send: %w: %w", channels.ErrPlatform, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return "", fmt.Errorf("whatsapp: send: read graph api answer: %w: %w", channels.ErrPlatform, err)
	}

	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		var reason string
		var answer struct {
			Error *graphError `json:"error"`
		}
		if json.Unmarshal(data, &answer) == nil && answer.Error != nil {
			reason = ": " + c.describe(answer.Error)
		}
		return "", fmt.Errorf("whatsapp: send: graph api %w%s: %w", &channels.StatusError{Code: resp.StatusCode}, reason, channels.ErrPlatform)
	}
	var answer sendResponse
	if err := json.Unmarshal(data, &answer); err != nil || len(answer.Messages) == 0 || answer.Messages[0].ID == "" {
		return "", fmt.Errorf("whatsapp: send: graph api status %d without a message id: %w", resp.StatusCode, channels.ErrPlatform)
	}
	return answer.Messages[0].ID, nil
}

// describe renders a Graph error for logs. Meta's messages do not echo the
// token today; it is redacted anyway because the text is not ours.
func (c *Channel) describe(e *graphError) string {
	var b strings.Builder
	b.WriteString(e.Message)
	if e.ErrorData != nil && e.ErrorData.Details != "" {
		fmt.Fprintf(&b, " (%s)", e.ErrorData.Details)
	}
	fmt.Fprintf(&b, " [type %s, code %d", e.Type, e.Code)
	if e.ErrorSubcode != 0 {
		fmt.Fprintf(&b, ", subcode %d", e.ErrorSubcode)
	}
	if e.FBTraceID != "" {
		fmt.Fprintf(&b, ", fbtrace_id %s", e.FBTraceID)
	}
	b.WriteString("]")
	return strings.ReplaceAll(b.String(), c.token, "[redacted]")
}
