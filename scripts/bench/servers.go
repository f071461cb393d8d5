package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/redis/go-redis/v9"
	"github.com/valyala/fasthttp"
)

// runBare is the baseline: a Fiber v2 app whose webhook route only answers
// 200. It runs as its own process, like hookwall, with Fiber's defaults.
func runBare(args []string) error {
	fs := flag.NewFlagSet("bare", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:0", "host:port to listen on")
	if err := fs.Parse(args); err != nil {
		return err
	}
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	app.Post("/webhooks/:channel", func(c *fiber.Ctx) error { return c.SendStatus(fiber.StatusOK) })
	app.Get("/healthz", func(c *fiber.Ctx) error { return c.SendStatus(fiber.StatusOK) })
	go shutdownOnSignal(app.Shutdown)
	return app.Listen(*listen)
}

// runSink plays the bot and the helpdesk: it answers 200 to every POST at
// once and counts them; GET /count returns "bot helpdesk". It checks
// nothing, to cost as little of the shared CPUs as it can, except that it
// remembers each webhook-id to count repeats (at least once means a few are
// allowed). GET /count returns "bot helpdesk other conns repeats", conns
// being the connections opened to it: a client that keeps its connections
// alive opens few.
func runSink(args []string) error {
	fs := flag.NewFlagSet("sink", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:0", "host:port to listen on")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var bot, helpdesk, other, conns, repeats atomic.Int64
	var mu sync.Mutex
	seen := make(map[string]struct{}, 1<<17)
	s := &fasthttp.Server{
		Name: "bench-sink",
		ConnState: func(_ net.Conn, st fasthttp.ConnState) {
			if st == fasthttp.StateNew {
				conns.Add(1)
			}
		},
		Handler: func(c *fasthttp.RequestCtx) {
			if c.IsPost() {
				if id := c.Request.Header.Peek("webhook-id"); len(id) > 0 {
					mu.Lock()
					if _, dup := seen[string(id)]; dup {
						repeats.Add(1)
					} else {
						seen[string(id)] = struct{}{}
					}
					mu.Unlock()
				}
				switch string(c.Path()) {
				case "/bot":
					bot.Add(1)
				case "/helpdesk":
					helpdesk.Add(1)
				default:
					other.Add(1)
				}
				c.SetStatusCode(fasthttp.StatusOK)
				return
			}
			c.SetBodyString(strconv.FormatInt(bot.Load(), 10) + " " + strconv.FormatInt(helpdesk.Load(), 10) + " " + strconv.FormatInt(other.Load(), 10) + " " + strconv.FormatInt(conns.Load(), 10) + " " + strconv.FormatInt(repeats.Load(), 10))
		},
	}
	go shutdownOnSignal(s.Shutdown)
	if err := s.ListenAndServe(*listen); err != nil {
		return fmt.Errorf("sink: %w", err)
	}
	return nil
}

// naiveScript is the whole of the naive handler's store: a dedupe marker and
// a queue entry, in one script per request.
var naiveScript = redis.NewScript(`
if redis.call('SET', KEYS[1], '1', 'NX', 'PX', 86400000) then
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', 100000, '*', 'ev', ARGV[1])
  return 1
end
return 0
`)

// runNaive is a calibration point, not hookwall: a Fiber handler that checks
// X-Line-Signature and runs one Redis script per request (dedupe marker and
// a queue entry), without parsing the body and without delivering anything.
// Its keys start with "naive:", apart from hookwall's "hw:".
func runNaive(args []string) error {
	fs := flag.NewFlagSet("naive", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:0", "host:port to listen on")
	addr := fs.String("redis", "", "host:port of the redis-server")
	secret := fs.String("secret", "", "LINE channel secret")
	if err := fs.Parse(args); err != nil {
		return err
	}
	rdb := redis.NewClient(&redis.Options{Addr: *addr, PoolSize: 128})
	defer rdb.Close()
	key := []byte(*secret)
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	app.Post("/webhooks/:channel", func(c *fiber.Ctx) error {
		body := c.BodyRaw()
		sig := c.Get("X-Line-Signature")
		got, err := base64.StdEncoding.DecodeString(sig)
		m := hmac.New(sha256.New, key)
		m.Write(body)
		if err != nil || !hmac.Equal(got, m.Sum(nil)) {
			return c.SendStatus(fiber.StatusUnauthorized)
		}
		ctx, cancel := context.WithTimeout(c.UserContext(), 10*time.Second)
		defer cancel()
		if err := naiveScript.Run(ctx, rdb, []string{"naive:dd:" + sig, "naive:queue"}, body).Err(); err != nil {
			return c.SendStatus(fiber.StatusServiceUnavailable)
		}
		return c.SendStatus(fiber.StatusOK)
	})
	app.Get("/healthz", func(c *fiber.Ctx) error { return c.SendStatus(fiber.StatusOK) })
	go shutdownOnSignal(app.Shutdown)
	return app.Listen(*listen)
}

// shutdownOnSignal calls shutdown at the first SIGTERM or SIGINT: the bench
// stops its servers that way.
func shutdownOnSignal(shutdown func() error) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGTERM, syscall.SIGINT)
	<-ch
	_ = shutdown()
}
