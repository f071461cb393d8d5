package blocklist

import (
	"context"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// scriptCall is one run of a script, to be sent in a shared pipeline.
type scriptCall struct {
	script *redis.Script
	keys   []string
	args   []any
	cmd    *redis.Cmd
}

// batchJob is the script calls of one request, sent together and in order.
type batchJob struct {
	calls []scriptCall
	done  chan struct{}
}

// batcher sends the script calls of concurrent requests in shared pipelines
// (group commit): one write and one read for many requests, on hookwall's
// side and on Redis's. A few flushers run side by side; an idle flusher
// takes a job at once, so a lone request waits for nothing, and jobs that
// arrive while a pipeline is out go in the next one.
type batcher struct {
	rdb      redis.UniversalClient
	jobs     chan *batchJob
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
	return &batcher{rdb: rdb, jobs: make(chan *batchJob, 1024), stop: make(chan struct{})}
}

// do sends the calls, in order, in a pipeline shared with other requests, and
// returns when their replies are in (each call's cmd holds its reply or
// error), or when ctx ends first (the calls may then still run).
func (b *batcher) do(ctx context.Context, calls []scriptCall) error {
	b.start.Do(func() {
		for range batchFlushers {
			b.flushers.Go(b.flush)
		}
	})
	j := &batchJob{calls: calls, done: make(chan struct{})}
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
		jobs, n := []*batchJob{j}, len(j.calls)
	more:
		for n < batchMaxCalls {
			select {
			case j := <-b.jobs:
				jobs, n = append(jobs, j), n+len(j.calls)
			default:
				break more
			}
		}
		b.exec(jobs)
	}
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
