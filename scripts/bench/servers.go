package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"sync/atomic"
	"syscall"

	"github.com/gofiber/fiber/v2"
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
	go func() {
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, syscall.SIGTERM, syscall.SIGINT)
		<-ch
		_ = app.Shutdown()
	}()
	return app.Listen(*listen)
}

// runSink plays the bot and the helpdesk: it answers 200 to every POST at
// once and counts them; GET /count returns "bot helpdesk". It checks
// nothing, to cost as little of the shared CPUs as it can.
func runSink(args []string) error {
	fs := flag.NewFlagSet("sink", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:0", "host:port to listen on")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var bot, helpdesk, other atomic.Int64
	s := &fasthttp.Server{
		Name: "bench-sink",
		Handler: func(c *fasthttp.RequestCtx) {
			if c.IsPost() {
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
			c.SetBodyString(strconv.FormatInt(bot.Load(), 10) + " " + strconv.FormatInt(helpdesk.Load(), 10) + " " + strconv.FormatInt(other.Load(), 10))
		},
	}
	go func() {
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, syscall.SIGTERM, syscall.SIGINT)
		<-ch
		_ = s.Shutdown()
	}()
	if err := s.ListenAndServe(*listen); err != nil {
		return fmt.Errorf("sink: %w", err)
	}
	return nil
}
