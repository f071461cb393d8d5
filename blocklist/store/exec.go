package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

// Ack is the replicated acknowledgement of the store's writes: with
// Replicas > 0, a write is acknowledged only once that many replicas of the
// master that took it have it, within Timeout (Redis's WAIT); otherwise it
// fails as unavailable, and the caller acknowledges nothing.
type Ack struct {
	// Replicas is how many replicas must have each write; 0 is off.
	Replicas int
	// Timeout bounds the wait for them.
	Timeout time.Duration
}

// MaxAckTimeout bounds Ack.Timeout: the wait ends inside the read timeout of
// the store's connections (3 s), so a slow replica fails the write rather
// than the connection.
const MaxAckTimeout = 2 * time.Second

// The executor is the one place where the store's acknowledged writes
// happen — the webhook decision, block and unblock, ticket actions and
// their release chunks, settings, dead-letter retry: every one is a
// Call run by Core.Write. It sends the calls of concurrent requests
// in shared pipelines (batcher, below): grouped per node on a Cluster and in
// order per node, EVALSHA with the script's text sent once when a server
// answers NOSCRIPT, and every error translated in one table (Err,
// unavailableReplies). With an Ack, each of its pipelines ends with WAIT.

// Write runs calls as acknowledged writes and returns their replies, in
// order. It fails, translated by Err, when the pipeline or any call
// failed; a call may have run all the same, so the caller acknowledges
// nothing. A script's nil reply (redis.Nil) is a reply, not a failure.
func (c *Core) Write(ctx context.Context, calls ...Call) ([]*redis.Cmd, error) {
	if err := c.batch.do(ctx, calls); err != nil {
		return nil, Err(err)
	}
	cmds := make([]*redis.Cmd, len(calls))
	for i := range calls {
		if err := calls[i].cmd.Err(); err != nil && !errors.Is(err, redis.Nil) {
			return nil, Err(err)
		}
		cmds[i] = calls[i].cmd
	}
	return cmds, nil
}

// Write runs the script with k and a as an acknowledged write (Core.Write)
// and returns its reply; a failure, translated, is the reply's error.
func (l *Script[K, A]) Write(ctx context.Context, c *Core, k K, a A) *redis.Cmd {
	cmds, err := c.Write(ctx, l.Call(k, a))
	if err != nil {
		cmd := redis.NewCmd(ctx)
		cmd.SetErr(err)
		return cmd
	}
	return cmds[0]
}

// Call is one run of a script, to be sent in a shared pipeline.
type Call struct {
	script *redis.Script
	keys   []string
	args   []any
	cmd    *redis.Cmd
}

// batchJob is the script calls of one request, sent together and in order.
type batchJob struct {
	calls []Call
	done  chan struct{}
}

// batcher sends the script calls of concurrent requests in shared pipelines
// (group commit): one write and one read for many requests, on hookwall's
// side and on Redis's. At most batchFlushers pipelines are out at once
// (slots). A request that finds a slot free sends its own pipeline, with the
// jobs waiting at that moment, without handing over to another goroutine; one
// that finds them all taken queues its job for the flushers, which send the
// jobs that arrived while the pipelines were out in the next ones.
type batcher struct {
	rdb      redis.UniversalClient
	ack      Ack
	jobs     chan *batchJob
	slots    chan struct{}
	start    sync.Once
	stop     chan struct{}
	flushers sync.WaitGroup
}

const (
	batchFlushers = 4
	batchMaxCalls = 256
	batchTimeout  = 5 * time.Second
)

func newBatcher(rdb redis.UniversalClient, ack Ack) *batcher {
	return &batcher{
		rdb: rdb, ack: ack, jobs: make(chan *batchJob, 1024), slots: make(chan struct{}, batchFlushers), stop: make(chan struct{}),
	}
}

// do sends the calls, in order, in a pipeline shared with other requests, and
// returns when their replies are in (each call's cmd holds its reply or
// error), or when ctx ends first (the calls may then still run). A request
// that sends the pipeline itself waits for it, at most batchTimeout: the
// other jobs in it are not given up for its ctx.
func (b *batcher) do(ctx context.Context, calls []Call) error {
	b.start.Do(func() {
		for range batchFlushers {
			b.flushers.Go(b.flush)
		}
	})
	j := &batchJob{calls: calls, done: make(chan struct{})}
	select {
	case b.slots <- struct{}{}:
		b.exec(b.gather(j))
		<-b.slots
		return nil
	default:
	}
	select {
	case b.jobs <- j:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-j.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (b *batcher) flush() {
	for {
		var j *batchJob
		select {
		case j = <-b.jobs:
		case <-b.stop:
			return
		}
		b.slots <- struct{}{}
		b.exec(b.gather(j))
		<-b.slots
	}
}

// gather returns j and the jobs queued now, up to batchMaxCalls calls.
func (b *batcher) gather(j *batchJob) []*batchJob {
	jobs, n := []*batchJob{j}, len(j.calls)
	for n < batchMaxCalls {
		select {
		case j := <-b.jobs:
			jobs, n = append(jobs, j), n+len(j.calls)
		default:
			return jobs
		}
	}
	return jobs
}

// exec runs the jobs' calls in one pipeline (split per node on a Cluster,
// in order per node), then closes their done channels. A call refused with
// NOSCRIPT — the server lost its script cache, after a restart — is sent
// again with the script's text. With a replicated acknowledgement (ack),
// each pipeline ends with WAIT on the connection that wrote: a call is
// acknowledged only when the replicas asked for have its writes.
func (b *batcher) exec(jobs []*batchJob) {
	ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
	defer cancel()
	n := 0
	for _, j := range jobs {
		n += len(j.calls)
	}
	calls := make([]*Call, 0, n)
	for _, j := range jobs {
		for i := range j.calls {
			calls = append(calls, &j.calls[i])
		}
	}
	cc, cluster := b.rdb.(*redis.ClusterClient)
	if cluster && b.ack.Replicas > 0 {
		b.runPerMaster(ctx, cc, calls)
	} else {
		b.run(ctx, b.rdb, calls)
	}
	if cluster {
		reloadIfStale(ctx, cc, calls)
	}
	for _, j := range jobs {
		close(j.done)
	}
}

// runPerMaster runs calls on a Cluster in one pipeline per master, each
// ending with its own WAIT: WAIT counts the replicas of the master it runs
// on, which must be the master that took the writes. A call's node is its
// first key's slot's master in the client's map of the cluster; a map gone
// stale fails the call (unavailable) and is reloaded (reloadIfStale).
func (b *batcher) runPerMaster(ctx context.Context, cc *redis.ClusterClient, calls []*Call) {
	var (
		nodes  []*redis.Client
		byNode = map[*redis.Client][]*Call{}
	)
	for _, c := range calls {
		node, err := cc.MasterForKey(ctx, c.keys[0])
		if err != nil {
			c.cmd = redis.NewCmd(ctx)
			c.cmd.SetErr(err)
			continue
		}
		if _, seen := byNode[node]; !seen {
			nodes = append(nodes, node)
		}
		byNode[node] = append(byNode[node], c)
	}
	var wg sync.WaitGroup
	for _, node := range nodes {
		wg.Go(func() { b.run(ctx, node, byNode[node]) })
	}
	wg.Wait()
}

// reloadIfStale reloads the client's map of the cluster when a call failed
// in a way that says the map may be stale: MOVED or ASK from a node that no
// longer serves the slot, or a node that cannot be reached — a master that
// died, whose replica the cluster promotes. go-redis reloads its map by
// itself on a MOVED its own routing sees, but not on a connection error,
// and otherwise only every minute: without this, the slots of a dead master
// would fail for up to a minute after its replica took them over. A reload
// runs in the background, one at a time.
func reloadIfStale(ctx context.Context, cc *redis.ClusterClient, calls []*Call) {
	for _, c := range calls {
		if err := c.cmd.Err(); isMoved(err) || isConnError(err) {
			cc.ReloadState(ctx)
			return
		}
	}
}

// run sends calls in one pipeline on rdb, then those refused with NOSCRIPT
// with their script's text, each pipeline followed by WAIT when ack asks
// for replicas.
func (b *batcher) run(ctx context.Context, rdb redis.Cmdable, calls []*Call) {
	err := b.pipeline(ctx, rdb, calls, func(c *Call, p redis.Pipeliner) *redis.Cmd {
		return c.script.EvalSha(ctx, p, c.keys, c.args...)
	})
	if err == nil {
		return
	}
	var refused []*Call
	for _, c := range calls {
		if isNoScript(c.cmd.Err()) {
			refused = append(refused, c)
		}
	}
	if len(refused) > 0 {
		_ = b.pipeline(ctx, rdb, refused, func(c *Call, p redis.Pipeliner) *redis.Cmd {
			return c.script.Eval(ctx, p, c.keys, c.args...)
		})
	}
}

// pipeline sends send(c) for each of calls in one pipeline on rdb, and then
// WAIT when ack asks for replicas; when WAIT answers fewer replicas than
// asked (or fails), every call that ran is failed as unavailable: its writes
// stand on the master alone. It returns the pipeline's first error.
func (b *batcher) pipeline(ctx context.Context, rdb redis.Cmdable, calls []*Call, send func(*Call, redis.Pipeliner) *redis.Cmd) error {
	var wait *redis.Cmd
	_, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, c := range calls {
			c.cmd = send(c, p)
		}
		if b.ack.Replicas > 0 {
			wait = p.Do(ctx, "wait", b.ack.Replicas, b.ack.Timeout.Milliseconds())
		}
		return nil
	})
	if wait == nil {
		return err
	}
	n, werr := wait.Int64()
	if werr == nil && n >= int64(b.ack.Replicas) {
		return err
	}
	why := fmt.Errorf("%w: %d of %d replicas acknowledged the write within %s", ErrUnavailable, n, b.ack.Replicas, b.ack.Timeout)
	if werr != nil {
		why = fmt.Errorf("%w: waiting for %d replicas: %v", ErrUnavailable, b.ack.Replicas, werr)
	}
	for _, c := range calls {
		if c.cmd.Err() == nil || errors.Is(c.cmd.Err(), redis.Nil) {
			c.cmd.SetErr(why)
		}
	}
	if err == nil {
		err = why
	}
	return err
}

// close stops the flushers once the jobs sent are done.
func (b *batcher) close() {
	close(b.stop)
	b.flushers.Wait()
}

func isMoved(err error) bool {
	if err == nil {
		return false
	}
	msg := err.Error()
	return strings.HasPrefix(msg, "MOVED ") || strings.HasPrefix(msg, "ASK ")
}

// isConnError reports whether err is a failure to reach a node or a
// connection lost to it, rather than a node's reply.
func isConnError(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET)
}

func isNoScript(err error) bool {
	return err != nil && len(err.Error()) >= 8 && err.Error()[:8] == "NOSCRIPT"
}
