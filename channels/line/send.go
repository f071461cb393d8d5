package line

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"

	"github.com/google/uuid"
	"github.com/line/line-bot-sdk-go/v8/linebot/messaging_api"

	"github.com/hookwall/hookwall/channels"
)

// maxErrorBody bounds how much of a refusal's body is read for its message.
const maxErrorBody = 64 << 10

// Send pushes text to contact (a LINE userId, or a group or room id) as one
// text message through the Messaging API push endpoint, under a fresh UUID
// X-Line-Retry-Key.
//
// It returns the id LINE gave the sent message, or the retry key when LINE's
// answer names none. Every failure wraps channels.ErrPlatform: a non-2xx
// answer with LINE's error message in the text, a transport error or the
// Timeout bound (or an earlier deadline of ctx) with the cause. The access
// token never appears in an error.
//
// The retry key is new on every call: a caller that retries a Send after an
// error may deliver the message twice if the first push did reach LINE.
func (c *Channel) Send(ctx context.Context, contact, text string) (string, error) {
	key, err := uuid.NewRandom()
	if err != nil {
		return "", fmt.Errorf("line push: retry key: %w: %w", channels.ErrPlatform, err)
	}
	retryKey := key.String()

	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()

	// The SDK client keeps the context in a field (WithContext), so one
	// shared client would race between concurrent sends: build one per call,
	// which costs a URL parse.
	api, err := messaging_api.NewMessagingApiAPI(c.accessToken,
		messaging_api.WithEndpoint(c.apiBase),
		messaging_api.WithHTTPClient(c.httpClient),
	)
	if err != nil {
		return "", fmt.Errorf("line push: client: %w: %s", channels.ErrPlatform, c.redact(err.Error()))
	}
	req := &messaging_api.PushMessageRequest{
		To:       contact,
		Messages: []messaging_api.MessageInterface{&messaging_api.TextMessage{Text: text}},
	}
	res, sent, err := api.WithContext(ctx).PushMessageWithHttpInfo(req, retryKey)
	if res != nil {
		defer res.Body.Close()
	}
	switch {
	case res != nil && res.StatusCode/100 == 2:
		// LINE accepted the message. An answer body that does not decode
		// (err != nil) does not unsend it, so it is no failure.
		if sent != nil && len(sent.SentMessages) > 0 && sent.SentMessages[0].Id != "" {
			return sent.SentMessages[0].Id, nil
		}
		return retryKey, nil
	case res != nil:
		return "", c.refusal(res)
	case err == nil:
		return "", fmt.Errorf("line push: no answer: %w", channels.ErrPlatform)
	default:
		return "", c.transportError(err)
	}
}

// refusal describes a non-2xx answer with LINE's own message and details.
// The SDK has already read the body into a replayable reader.
func (c *Channel) refusal(res *http.Response) error {
	data, _ := io.ReadAll(io.LimitReader(res.Body, maxErrorBody))
	reason := http.StatusText(res.StatusCode)
	var er messaging_api.ErrorResponse
	if json.Unmarshal(data, &er) == nil && er.Message != "" {
		reason = er.Message
		var details []string
		for _, d := range er.Details {
			switch {
			case d.Property != "" && d.Message != "":
				details = append(details, d.Property+": "+d.Message)
			case d.Message != "":
				details = append(details, d.Message)
			}
		}
		if len(details) > 0 {
			reason += " (" + strings.Join(details, "; ") + ")"
		}
	} else if s := strings.TrimSpace(string(data)); s != "" {
		if len(s) > 256 {
			s = strings.ToValidUTF8(s[:256], "") + "..."
		}
		reason = s
	}
	if id := res.Header.Get("X-Line-Request-Id"); id != "" {
		reason += " [request id " + id + "]"
	}
	return fmt.Errorf("line push: %w: %s: %w", &channels.StatusError{Code: res.StatusCode}, c.redact(reason), channels.ErrPlatform)
}

// transportError describes a push that got no answer. The cause names the
// URL, never the Authorization header.
func (c *Channel) transportError(err error) error {
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return fmt.Errorf("line push: timeout (bound %s): %w: %w", c.timeout, channels.ErrPlatform, err)
	}
	return fmt.Errorf("line push: %w: %w", channels.ErrPlatform, err)
}

// redact removes the access token from text that came from outside, in case
// a proxy or the platform ever echoes the request back.
func (c *Channel) redact(s string) string {
	return strings.ReplaceAll(s, c.accessToken, "[redacted]")
}
