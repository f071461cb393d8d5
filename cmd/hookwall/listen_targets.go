package main

// Where hookwall listen listens: the targets of a configuration, or one
// --addr.

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/hookwall/hookwall/config"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// endpoint is one place hookwall posts to: an address and a path, with the
// keys its deliveries are signed with.
type endpoint struct {
	addr string
	// path is the URL path; "" takes any path (--addr).
	path string
	// label names the target on printed lines ("bot", "helpdesk",
	// "webchat"); "" prints the request's path instead.
	label string
	// keys verify signatures: one made with any of them passes. With none,
	// the endpoint verifies nothing and takes every delivery.
	keys []*standardwebhooks.Webhook
	// unsigned is set when a target posting here has no secret. Where
	// another target posting here has one, every delivery is verified all
	// the same: the unsigned target's deliveries are refused.
	unsigned bool
	// targets are the configured targets posting here, for the start line.
	targets []listenTarget
}

// listenTarget is one configured target: the bot or helpdesk of a channel,
// or the outbound_url of a web chat channel.
type listenTarget struct {
	kind, channel string
	signed        bool
	disabled      bool
}

// configEndpoints returns an endpoint for each distinct address and path
// among the targets of cfg, and notes on the targets it cannot listen for.
// A disabled bot gets one too (hookwall sends it nothing; listening costs
// nothing and keeps listen's view the same when the bot is turned on).
func configEndpoints(cfg *config.Config) ([]*endpoint, []string, error) {
	var (
		eps     []*endpoint
		notes   []string
		byPlace = map[[2]string]*endpoint{}
		secrets = map[*endpoint]map[string]bool{}
	)
	add := func(rawURL, secret string, t listenTarget) error {
		u, err := url.Parse(rawURL)
		if err != nil || u.Host == "" {
			return fmt.Errorf("listen: the %s of %s: not an absolute URL", t.kind, t.channel)
		}
		if u.Scheme != "http" {
			notes = append(notes, fmt.Sprintf("not listening for the %s of %s: %s://%s is not plain http", t.kind, t.channel, u.Scheme, u.Host))
			return nil
		}
		addr := u.Host
		if u.Port() == "" {
			addr = net.JoinHostPort(u.Hostname(), "80")
		}
		path := u.Path
		if path == "" {
			path = "/" // what an HTTP client sends for an empty path
		}
		ep := byPlace[[2]string{addr, path}]
		if ep == nil {
			ep = &endpoint{addr: addr, path: path}
			byPlace[[2]string{addr, path}] = ep
			secrets[ep] = map[string]bool{}
			eps = append(eps, ep)
		}
		t.signed = secret != ""
		ep.targets = append(ep.targets, t)
		switch {
		case secret == "":
			ep.unsigned = true
		case !secrets[ep][secret]:
			wh, err := standardwebhooks.NewWebhook(secret)
			if err != nil {
				return fmt.Errorf("listen: the %s secret of %s is not a Standard Webhooks key (whsec_ and base64)", t.kind, t.channel)
			}
			secrets[ep][secret] = true
			ep.keys = append(ep.keys, wh)
		}
		return nil
	}
	for _, ch := range cfg.Channels {
		if ch.Bot != nil {
			if err := add(ch.Bot.URL, ch.Bot.Secret, listenTarget{kind: "bot", channel: ch.ID, disabled: !ch.Bot.IsEnabled()}); err != nil {
				return nil, nil, err
			}
		}
		if err := add(ch.Helpdesk.URL, ch.Helpdesk.Secret, listenTarget{kind: "helpdesk", channel: ch.ID}); err != nil {
			return nil, nil, err
		}
		if ch.Type == config.TypeWebchat && ch.OutboundURL != "" {
			// Agent replies are signed with the channel's first key
			// (channels/webchat Send).
			var secret string
			if all := ch.AllSecrets(); len(all) > 0 {
				secret = all[0]
			}
			if err := add(ch.OutboundURL, secret, listenTarget{kind: "webchat", channel: ch.ID}); err != nil {
				return nil, nil, err
			}
		}
	}
	for _, ep := range eps {
		var kinds []string
		for _, t := range ep.targets {
			if !slices.Contains(kinds, t.kind) {
				kinds = append(kinds, t.kind)
			}
		}
		ep.label = strings.Join(kinds, "/")
	}
	return eps, notes, nil
}

// addrEndpoint is the endpoint of --addr and --secret: any path, one key.
func addrEndpoint(addr, secret string) (*endpoint, error) {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return nil, fmt.Errorf("listen: --addr must be host:port: %w", err)
	}
	ep := &endpoint{addr: addr}
	if secret == "" {
		ep.unsigned = true
		return ep, nil
	}
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil || !strings.HasPrefix(secret, "whsec_") || len(secret) == len("whsec_") {
		// Never quote the secret, not even a malformed one.
		return nil, errors.New("listen: --secret must be a Standard Webhooks key: whsec_ and base64")
	}
	ep.keys = []*standardwebhooks.Webhook{wh}
	return ep, nil
}

// describe is the endpoint's start line: where it listens, for whom, and
// whether it verifies signatures.
func (ep *endpoint) describe(bound string) string {
	where := "http://" + bound + ep.path
	if ep.path == "" {
		where = "http://" + bound + " (any path)"
	}
	// "the helpdesk of line-main, wa-main, web", one group per kind.
	var (
		whom   []string
		groups = map[string]int{}
	)
	for _, t := range ep.targets {
		name := "the " + t.kind
		if t.kind == "webchat" {
			name = "the web chat replies"
		}
		if t.disabled { // hookwall sends it nothing
			name = "the disabled " + t.kind
		}
		if i, ok := groups[name]; ok {
			whom[i] += ", " + t.channel
			continue
		}
		groups[name] = len(whom)
		whom = append(whom, name+" of "+t.channel)
	}
	var signed string
	switch {
	case len(ep.keys) == 0 && ep.targets == nil:
		signed = "unsigned: no --secret, deliveries are taken without a signature"
	case len(ep.keys) == 0:
		signed = "unsigned: no secret, deliveries are taken without a signature"
	case ep.unsigned:
		var without []string
		for _, t := range ep.targets {
			if !t.signed {
				without = append(without, t.channel+" "+t.kind)
			}
		}
		signed = "signed; " + strings.Join(without, ", ") + " has no secret: its unsigned deliveries are refused"
	case ep.targets == nil:
		signed = "signed with --secret"
	default:
		signed = "signed"
	}
	if whom == nil {
		return fmt.Sprintf("listening on %s (%s)", where, signed)
	}
	return fmt.Sprintf("listening on %s for %s (%s)", where, strings.Join(whom, " and "), signed)
}

// labelFor names the target of a request on printed lines.
func (ep *endpoint) labelFor(r *http.Request) string {
	if ep.label != "" {
		return ep.label
	}
	return field(r.URL.Path)
}
