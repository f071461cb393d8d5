package main

// The plumbing of hookwall listen: flags, listeners, shutdown.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/hookwall/hookwall/config"
)

const listenUsage = "usage: hookwall listen --config FILE [--json] | hookwall listen --addr HOST:PORT [--secret whsec_...] [--json]"

// bindFunc opens the listener of an address: net.Listen by default, a
// listener bound beforehand in tests.
type bindFunc func(addr string) (net.Listener, error)

// runListen is "hookwall listen": it reads the flags and the configuration,
// then receives deliveries until ctx ends. Accepted deliveries are printed on
// stdout, everything else (listeners, refusals) on stderr.
func runListen(ctx context.Context, args []string, stdout, stderr io.Writer, bind bindFunc) error {
	fs := flag.NewFlagSet("listen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "listen on every bot, helpdesk and web chat outbound_url address of this hookwall configuration")
	addr := fs.String("addr", "", "listen on this one host:port, any path")
	secret := fs.String("secret", "", "with --addr: the whsec_ key deliveries are signed with (none: accept unsigned ones)")
	asJSON := fs.Bool("json", false, "print each accepted body instead, as compact JSON, one a line")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 || (*path == "") == (*addr == "") {
		return errors.New(listenUsage)
	}
	var (
		eps   []*endpoint
		notes []string
	)
	if *path != "" {
		if *secret != "" {
			return errors.New("listen: --secret goes with --addr; with --config each target's own secret is used")
		}
		cfg, err := config.Load(*path)
		if err != nil {
			return err
		}
		if eps, notes, err = configEndpoints(cfg); err != nil {
			return err
		}
		if len(eps) == 0 {
			return errors.New("listen: the configuration has no http:// target to listen for")
		}
	} else {
		ep, err := addrEndpoint(*addr, *secret)
		if err != nil {
			return err
		}
		eps = []*endpoint{ep}
	}
	if bind == nil {
		bind = func(addr string) (net.Listener, error) { return net.Listen("tcp", addr) }
	}
	var mu sync.Mutex
	in := &inbox{
		json: *asJSON,
		now:  time.Now,
		seen: newRecentIDs(rememberedIDs),
		out:  &syncWriter{mu: &mu, w: stdout},
		log:  &syncWriter{mu: &mu, w: stderr},
	}
	for _, n := range notes {
		in.logf("%s", n)
	}
	return serveEndpoints(ctx, eps, in, bind)
}

// serveEndpoints binds the address of every endpoint, prints a line for each
// and receives deliveries until ctx ends or a server fails; then it shuts the
// servers down, giving deliveries in flight shutdownBound to finish.
func serveEndpoints(ctx context.Context, eps []*endpoint, in *inbox, bind bindFunc) error {
	receivers := map[string]*receiver{}
	var addrs []string
	for _, ep := range eps {
		rc := receivers[ep.addr]
		if rc == nil {
			rc = &receiver{paths: map[string]*endpoint{}, in: in}
			receivers[ep.addr] = rc
			addrs = append(addrs, ep.addr)
		}
		rc.paths[ep.path] = ep
	}
	var (
		servers []*http.Server
		lns     []net.Listener
	)
	for _, addr := range addrs {
		ln, err := bind(addr)
		if err != nil {
			for _, l := range lns {
				_ = l.Close()
			}
			return err
		}
		lns = append(lns, ln)
		servers = append(servers, &http.Server{
			Handler:           receivers[addr],
			ReadHeaderTimeout: 5 * time.Second,
			ReadTimeout:       30 * time.Second,
			WriteTimeout:      30 * time.Second,
			IdleTimeout:       time.Minute,
			MaxHeaderBytes:    64 << 10,
			ErrorLog:          log.New(in.log, "listen: ", 0),
		})
		for _, ep := range eps {
			if ep.addr == addr {
				in.logf("%s", ep.describe(ln.Addr().String()))
			}
		}
	}
	errc := make(chan error, len(servers))
	for i, srv := range servers {
		go func() { errc <- srv.Serve(lns[i]) }()
	}
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
		err = fmt.Errorf("listen: %w", err)
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownBound)
	defer cancel()
	for _, srv := range servers {
		if e := srv.Shutdown(sctx); e != nil && err == nil {
			err = fmt.Errorf("listen: shutting down: %w", e)
		}
	}
	in.logf("stopped")
	return err
}

// receiver serves one address: it routes each request by path.
type receiver struct {
	paths map[string]*endpoint // "" takes any path
	in    *inbox
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ep, ok := rc.paths[r.URL.Path]
	if !ok {
		ep, ok = rc.paths[""]
	}
	if !ok {
		rc.in.refuse(w, r, "", http.StatusNotFound, "not_found", "no target at this path")
		return
	}
	rc.in.receive(w, r, ep)
}

// logf prints one timestamped line on the log.
func (in *inbox) logf(format string, args ...any) {
	fmt.Fprintf(in.log, "%s %s\n", in.now().Format(time.TimeOnly), fmt.Sprintf(format, args...))
}

// syncWriter serialises the writes of several goroutines; stdout and stderr
// share its mutex, so that lines of the two never interleave.
type syncWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
