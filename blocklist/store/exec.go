package store

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// The executor is the one place where the store's acknowledged writes
// happen — the webhook decision, block and unblock, ticket actions and
// their release chunks, settings, dead-letter retry: every one is a
// Call run by Core.Write. It sends the calls of concurrent requests
// in shared pipelines (batcher, below): grouped per node on a Cluster and in
// order per node, EVALSHA with the script's text sent once when a server
// answers NOSCRIPT, and every error translated in one table (Err,
// unavailableReplies). This is where a replicated acknowledgement (WAIT)
// belongs.

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

func newBatcher(rdb redis.UniversalClient) *batcher {
	return &batcher{
		rdb: rdb, jobs: make(chan *batchJob, 1024), slots: make(chan struct{}, batchFlushers), stop: make(chan struct{}),
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
// in order per node). A call refused with NOSCRIPT — the server lost its
// script cache, after a restart — is sent again with the script's text.
func (b *batcher) exec(jobs []*batchJob) {
	ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
	defer cancel()
	_, err := b.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, j := range jobs {
			for i := range j.calls {
				c := &j.calls[i]
				c.cmd = c.script.EvalSha(ctx, p, c.keys, c.args...)
			}
		}
		return nil
	})
	if err != nil {
		_, _ = b.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, j := range jobs {
				for i := range j.calls {
					c := &j.calls[i]
					if isNoScript(c.cmd.Err()) {
						c.cmd = c.script.Eval(ctx, p, c.keys, c.args...)
					}
				}
			}
			return nil
		})
	}
	for _, j := range jobs {
		close(j.done)
	}
}

// close stops the flushers once the jobs sent are done.
func (b *batcher) close() {
	close(b.stop)
	b.flushers.Wait()
}

func isNoScript(err error) bool {
	return err != nil && len(err.Error()) >= 8 && err.Error()[:8] == "NOSCRIPT"
}
