package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/hookwall/hookwall/blocklist/store"
	"github.com/redis/go-redis/v9"
)

// The delivery queue is one Redis stream per bucket (a shard). One replica at
// a time holds a shard's lease and delivers its entries; every replica reads
// through the same consumer group and consumer name, so a new lease holder
// finds the entries a crashed one left unacknowledged in the group's pending
// list and delivers them first. Only the holder can read (readScript): a
// replica whose lease lapsed cannot take an entry that the new holder would
// then miss, so what the group handed out before a takeover is all in the
// pending list when the new holder reads it.
const (
	queueGroup    = "hookwall"
	queueConsumer = "delivery"
)

// EnsureQueues creates every shard's stream and consumer group if missing.
func (s *Shards) EnsureQueues(ctx context.Context) error {
	for b := range store.Buckets {
		err := s.rdb.XGroupCreateMkStream(ctx, store.KeysOfBucket(b).Queue, queueGroup, "0").Err()
		if err != nil && !strings.HasPrefix(err.Error(), "BUSYGROUP") {
			return store.Err(err)
		}
	}
	return nil
}

// leaseScript takes the shard's lease when it is free or already ours, and
// extends it (lua/lease.lua).
var leaseScript = store.NewScript[leaseKeys, leaseArgs](luaFiles, "lease")

type leaseKeys struct {
	Lease string `lua:"lease"`
}

type leaseArgs struct {
	Owner string `lua:"owner"`
	TTLMS int64  `lua:"ttl_ms"`
}

// releaseLeaseScript gives the lease up if it is ours.
var releaseLeaseScript = store.NewScript[leaseKeys, ownerArgs](luaFiles, "release_lease")

type ownerArgs struct {
	Owner string `lua:"owner"`
}

// AcquireLease takes or renews the shard's delivery lease for owner; it
// reports whether owner holds it now.
func (s *Shards) AcquireLease(ctx context.Context, shard int, owner string, ttl time.Duration) (bool, error) {
	n, err := leaseScript.Run(ctx, s.rdb, leaseKeys{Lease: store.KeysOfBucket(shard).Lease}, leaseArgs{Owner: owner, TTLMS: ttl.Milliseconds()}).Int()
	if err != nil {
		return false, store.Err(err)
	}
	return n == 1, nil
}

// ReleaseLease gives up the shard's lease if owner holds it.
func (s *Shards) ReleaseLease(ctx context.Context, shard int, owner string) error {
	return store.Err(releaseLeaseScript.Run(ctx, s.rdb, leaseKeys{Lease: store.KeysOfBucket(shard).Lease}, ownerArgs{Owner: owner}).Err())
}

// readScript hands up to count of the shard's entries to the group, only
// while owner holds the shard's lease: a replica whose lease lapsed while it
// waited for entries must not take one, or the new holder would deliver the
// contact's next entry before it. Being a script, the check and the read are
// one step: no holder changes in between. It does not block; ReadShard waits
// with a plain XREAD, which takes nothing.
//
// It returns -1 when owner does not hold the lease; else XREADGROUP's reply
// when there is one (a pending read always has one); else, as nothing new
// came, the id of the stream's last entry ("0-0" when it is empty): every
// entry up to it was handed out already, so new ones come after it.
var readScript = store.NewScript[shardKeys, readArgs](luaFiles, "read")

// shardKeys are a delivery shard's lease and stream.
type shardKeys struct {
	Lease  string `lua:"lease"`
	Stream string `lua:"stream"`
}

type readArgs struct {
	Owner    string `lua:"owner"`
	Group    string `lua:"group"`
	Consumer string `lua:"consumer"`
	Count    int    `lua:"count"`
	ID       string `lua:"id"` // ">" new, "0" pending
}

// ReadShard returns up to count deliveries of the shard for owner: with
// pending, the ones read before and not yet acknowledged (after a crash or
// lease takeover); otherwise new ones, waiting up to block (if positive) for
// the first. It reports false, reading nothing, when owner does not hold the
// shard's lease.
func (s *Shards) ReadShard(ctx context.Context, shard int, owner string, count int, block time.Duration, pending bool) ([]store.Delivery, bool, error) {
	ds, last, held, err := s.readShard(ctx, shard, owner, count, pending)
	if err != nil || !held || last == "" || block <= 0 {
		return ds, held, err
	}
	// Nothing new: wait for an entry after the last one without taking it,
	// then read it through readScript, which checks the lease again. A
	// group read would take the entry even if the lease lapsed meanwhile.
	err = s.rdb.XRead(ctx, &redis.XReadArgs{
		Streams: []string{store.KeysOfBucket(shard).Queue, last}, Count: 1, Block: block,
	}).Err()
	if err == redis.Nil {
		return nil, true, nil
	}
	if err != nil {
		return nil, true, store.Err(err)
	}
	ds, _, held, err = s.readShard(ctx, shard, owner, count, false)
	return ds, held, err
}

// readShard runs readScript once. When no new entry came, it returns the id
// to wait for new ones after.
func (s *Shards) readShard(ctx context.Context, shard int, owner string, count int, pending bool) (ds []store.Delivery, last string, held bool, err error) {
	bk := store.KeysOfBucket(shard)
	id := ">"
	if pending {
		id = "0"
	}
	res, err := readScript.Run(ctx, s.rdb, shardKeys{Lease: bk.Lease, Stream: bk.Queue},
		readArgs{Owner: owner, Group: queueGroup, Consumer: queueConsumer, Count: count, ID: id}).Result()
	if err != nil {
		if strings.Contains(err.Error(), "NOGROUP") {
			return nil, "", true, s.EnsureQueues(ctx)
		}
		return nil, "", false, store.Err(err)
	}
	switch v := res.(type) {
	case int64:
		return nil, "", false, nil
	case string:
		return nil, v, true, nil
	}
	msgs, err := streamEntries(res)
	if err != nil {
		return nil, "", true, fmt.Errorf("blocklist: read shard %d: %w", shard, err)
	}
	var gone []string
	for _, m := range msgs {
		if m.Values == nil {
			// Deleted after being read other than by Ack or Park, which
			// acknowledge too (by hand, say): nothing to deliver, but it
			// must leave the pending list.
			gone = append(gone, m.ID)
			continue
		}
		ds = append(ds, store.DeliveryFrom(shard, m))
	}
	if len(gone) > 0 {
		_ = s.rdb.XAck(ctx, bk.Queue, queueGroup, gone...).Err()
	}
	return ds, "", true, nil
}

// ackScript acknowledges and removes delivered entries, but only while owner
// holds the shard's lease: a replica that lost its lease leaves them to the
// new holder, which delivers them again (at least once).
var ackScript = store.NewScript[shardKeys, ackArgs](luaFiles, "ack")

type ackArgs struct {
	Owner string   `lua:"owner"`
	Group string   `lua:"group"`
	IDs   []string `lua:"ids"` // stream ids
}

// Ack acknowledges delivered entries of the shard. It reports false when
// owner no longer holds the lease (nothing was acknowledged).
func (s *Shards) Ack(ctx context.Context, shard int, owner string, streamIDs ...string) (bool, error) {
	if len(streamIDs) == 0 {
		return true, nil
	}
	bk := store.KeysOfBucket(shard)
	n, err := ackScript.Run(ctx, s.rdb, shardKeys{Lease: bk.Lease, Stream: bk.Queue},
		ackArgs{Owner: owner, Group: queueGroup, IDs: streamIDs}).Int()
	if err != nil {
		return false, store.Err(err)
	}
	return n >= 0, nil
}

// DeadLetter is a delivery parked after its retry budget.
type DeadLetter struct {
	// ID names the dead letter.
	ID string `json:"id"`
	// Delivery is what was to be delivered.
	Delivery store.Delivery `json:"delivery"`
	// Reason is the last failure.
	Reason string `json:"reason"`
	// Attempts is the number of attempts made.
	Attempts int `json:"attempts"`
	// ParkedAt is when it was parked.
	ParkedAt time.Time `json:"parked_at"`
}

// parkScript moves an entry from the shard's stream to its dead letters, if
// owner still holds the lease.
var parkScript = store.NewScript[parkKeys, parkArgs](luaFiles, "park")

type parkKeys struct {
	Lease     string `lua:"lease"`
	Stream    string `lua:"stream"`
	Dead      string `lua:"dead"`
	DeadIndex string `lua:"dead_index"`
}

type parkArgs struct {
	Owner      string `lua:"owner"`
	Group      string `lua:"group"`
	StreamID   string `lua:"stream_id"`
	DeadLetter string `lua:"dead_letter"` // id
	Record     []byte `lua:"record"`
	Now        int64  `lua:"now"`
}

// Park moves a delivery to the dead letters; it reports false when owner no
// longer holds the shard's lease (nothing changed).
func (s *Shards) Park(ctx context.Context, owner string, d store.Delivery, reason string, attempts int) (bool, error) {
	bk := store.KeysOfBucket(d.Shard)
	dl := DeadLetter{
		ID: "dl_" + strconv.Itoa(d.Shard) + "_" + d.StreamID, Delivery: d, Reason: reason,
		Attempts: attempts, ParkedAt: s.db.Now().UTC(),
	}
	rec, err := json.Marshal(dl)
	if err != nil {
		return false, fmt.Errorf("blocklist: park: %w", err)
	}
	n, err := parkScript.Run(ctx, s.rdb,
		parkKeys{Lease: bk.Lease, Stream: bk.Queue, Dead: bk.Dead, DeadIndex: bk.DeadIdx},
		parkArgs{Owner: owner, Group: queueGroup, StreamID: d.StreamID, DeadLetter: dl.ID, Record: rec, Now: store.Millis(dl.ParkedAt)}).Int()
	if err != nil {
		return false, store.Err(err)
	}
	return n == 1, nil
}

// DeadLetters returns parked deliveries, oldest first, and the next cursor.
func (s *Shards) DeadLetters(ctx context.Context, limit int, cursor string) ([]DeadLetter, string, error) {
	key := func(b int) string { return store.KeysOfBucket(b).DeadIdx }
	valid := func(id string) bool { _, ok := deadBucket(id); return ok }
	page, next, err := s.db.PageByScore(ctx, store.ScoreIndex{Keys: store.PerBucket(key)}, limit, cursor, valid)
	if err != nil {
		return nil, "", err
	}
	out := make([]DeadLetter, 0, len(page))
	for _, m := range page {
		dl, err := s.deadLetter(ctx, m.ID)
		if errors.Is(err, store.ErrNotFound) {
			continue // retried meanwhile
		}
		if err != nil {
			return nil, "", err
		}
		out = append(out, dl)
	}
	return out, next, nil
}

// deadBucket reads the bucket out of a dead-letter id "dl_<bucket>_<stream id>".
func deadBucket(id string) (int, bool) { return store.IDBucket(id, "dl_") }

func (s *Shards) deadLetter(ctx context.Context, id string) (DeadLetter, error) {
	b, ok := deadBucket(id)
	if !ok {
		return DeadLetter{}, fmt.Errorf("%w: %q is not a dead-letter id", store.ErrInvalid, id)
	}
	v, err := s.rdb.HGet(ctx, store.KeysOfBucket(b).Dead, id).Result()
	if err != nil {
		if err == redis.Nil {
			return DeadLetter{}, fmt.Errorf("%w: dead letter %q", store.ErrNotFound, id)
		}
		return DeadLetter{}, store.Err(err)
	}
	var dl DeadLetter
	if err := json.Unmarshal([]byte(v), &dl); err != nil {
		return DeadLetter{}, fmt.Errorf("blocklist: dead letter %s: %w", id, err)
	}
	return dl, nil
}

// retryScript puts a parked delivery back on its shard's stream — unless it
// is an automation delivery of a contact that is blocked now (see
// lua/retry.lua).
var retryScript = store.NewScript[retryKeys, retryArgs](luaFiles, "retry", "entry", "audit")

type retryKeys struct {
	Dead      string `lua:"dead"`
	DeadIndex string `lua:"dead_index"`
	Stream    string `lua:"stream"`
	Settings  string `lua:"settings"`
	Block     string `lua:"block"`
	Audit     string `lua:"audit"`
}

type retryArgs struct {
	ID             string `lua:"id"`    // dead letter
	Check          bool   `lua:"check"` // refuse a blocked contact's automation delivery
	DefaultEnabled bool   `lua:"default_enabled"`
	Envelope       string `lua:"envelope"`
	Target         string `lua:"target"`
	Type           string `lua:"type"`
	Channel        string `lua:"channel"`
	ChannelType    string `lua:"channel_type"`
	Contact        string `lua:"contact"`
	Conv           string `lua:"conv"`
	Route          string `lua:"route"`
	Queue          string `lua:"queue"`
	Auto           bool   `lua:"auto"`
	Blocked        bool   `lua:"blocked"`
	Payload        []byte `lua:"payload"`
	TraceParent    string `lua:"traceparent"`
	Actor          string `lua:"actor"`
	Now            int64  `lua:"now"`
}

// RetryDeadLetter queues a parked delivery again with the same envelope id.
// The blocklist is checked again: a delivery to automation (bot, or helpdesk
// with automation on) of a contact that is blocked now is refused with
// store.ErrBlocked and stays parked. Lifecycle notices, recorded messages and
// released tickets' messages always go.
func (s *Shards) RetryDeadLetter(ctx context.Context, id, actor string) (DeadLetter, error) {
	dl, err := s.deadLetter(ctx, id)
	if err != nil {
		return DeadLetter{}, err
	}
	d := dl.Delivery
	bk := store.KeysOfBucket(d.Shard)
	ck := store.KeysOf(d.Channel, d.Contact)
	check := d.Contact != "" && d.Automation && !d.Blocked
	res, err := retryScript.Write(ctx, s.db,
		retryKeys{Dead: bk.Dead, DeadIndex: bk.DeadIdx, Stream: bk.Queue, Settings: ck.Settings, Block: ck.Block, Audit: bk.Audit},
		retryArgs{
			ID: id, Check: check, DefaultEnabled: s.db.DefaultEnabled(),
			Envelope: d.ID, Target: d.Target, Type: d.Type, Channel: d.Channel, ChannelType: d.ChannelType,
			Contact: d.Contact, Conv: d.Conversation, Route: d.Route, Queue: d.Queue, Auto: d.Automation,
			Blocked: d.Blocked, Payload: d.Payload, TraceParent: d.TraceParent, Actor: actor, Now: store.Millis(s.db.Now()),
		},
	).Text()
	if err != nil {
		return DeadLetter{}, store.Err(err)
	}
	switch res {
	case "missing":
		return DeadLetter{}, fmt.Errorf("%w: dead letter %q", store.ErrNotFound, id)
	case "blocked":
		return DeadLetter{}, fmt.Errorf("%w: %s on %s", store.ErrBlocked, d.Contact, d.Channel)
	}
	return dl, nil
}

// QueueDepth returns the number of entries in each shard's stream.
func (s *Shards) QueueDepth(ctx context.Context) ([store.Buckets]int64, error) {
	var out [store.Buckets]int64
	cmds := make([]*redis.IntCmd, store.Buckets)
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for b := range store.Buckets {
			cmds[b] = p.XLen(ctx, store.KeysOfBucket(b).Queue)
		}
		return nil
	})
	if err != nil {
		return out, store.Err(err)
	}
	for b, c := range cmds {
		out[b] = c.Val()
	}
	return out, nil
}

// replicasKey lists the live replicas, scored by when their registration
// lapses. It is one key on its own: no script touches it with others.
const replicasKey = "hw:replicas"

// heartbeatScript scores registrations on Redis's clock, so that replicas
// whose clocks disagree do not expire each other.
var heartbeatScript = store.NewScript[heartbeatKeys, leaseArgs](luaFiles, "heartbeat")

type heartbeatKeys struct {
	Replicas string `lua:"replicas"`
}

// Heartbeat registers owner as a live replica for ttl and returns how many
// replicas are live; delivery shards are shared out by it.
func (s *Shards) Heartbeat(ctx context.Context, owner string, ttl time.Duration) (int, error) {
	n, err := heartbeatScript.Run(ctx, s.rdb, heartbeatKeys{Replicas: replicasKey}, leaseArgs{Owner: owner, TTLMS: ttl.Milliseconds()}).Int()
	if err != nil {
		return 0, store.Err(err)
	}
	return n, nil
}

// Leave removes owner from the live replicas.
func (s *Shards) Leave(ctx context.Context, owner string) error {
	return store.Err(s.rdb.ZRem(ctx, replicasKey, owner).Err())
}

// streamEntries reads an XREADGROUP reply passed on by a script:
// [[stream, [[id, [field, value, ...]], ...]]]. The field list of an entry
// deleted after it was read is nil; so are its Values.
func streamEntries(reply any) ([]redis.XMessage, error) {
	streams, ok := reply.([]any)
	if !ok {
		return nil, fmt.Errorf("unexpected reply %T", reply)
	}
	var out []redis.XMessage
	for _, st := range streams {
		pair, ok := st.([]any)
		if !ok || len(pair) != 2 {
			return nil, fmt.Errorf("unexpected stream reply %v", st)
		}
		entries, ok := pair[1].([]any)
		if !ok {
			return nil, fmt.Errorf("unexpected entries %T", pair[1])
		}
		for _, e := range entries {
			kv, ok := e.([]any)
			if !ok || len(kv) != 2 {
				return nil, fmt.Errorf("unexpected entry %v", e)
			}
			id, ok := kv[0].(string)
			if !ok {
				return nil, fmt.Errorf("unexpected entry id %T", kv[0])
			}
			m := redis.XMessage{ID: id}
			if fields, ok := kv[1].([]any); ok {
				m.Values = make(map[string]any, len(fields)/2)
				for i := 0; i+1 < len(fields); i += 2 {
					if k, ok := fields[i].(string); ok {
						m.Values[k] = fields[i+1]
					}
				}
			}
			out = append(out, m)
		}
	}
	return out, nil
}
