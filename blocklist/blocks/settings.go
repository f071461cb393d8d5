package blocks

import (
	"context"
	"strconv"

	"github.com/hookwall/hookwall/blocklist/store"
	"github.com/redis/go-redis/v9"
)

const settingEnabled = "block_contact_enabled"

// InitSettings stores the configured block_contact_enabled in every bucket
// that has none yet. A value already stored wins over the configuration: the
// configuration gives the first value only.
func (s *Registry) InitSettings(ctx context.Context) error {
	v, err := s.rdb.HGet(ctx, store.KeysOfBucket(0).Settings, settingEnabled).Result()
	switch {
	case err == redis.Nil:
		v = store.BoolFlag(s.db.DefaultEnabled())
	case err != nil:
		return store.Err(err)
	}
	_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for b := range store.Buckets {
			p.HSetNX(ctx, store.KeysOfBucket(b).Settings, settingEnabled, v)
		}
		return nil
	})
	return store.Err(err)
}

// Enabled returns the block_contact_enabled setting.
func (s *Registry) Enabled(ctx context.Context) (bool, error) {
	v, err := s.rdb.HGet(ctx, store.KeysOfBucket(0).Settings, settingEnabled).Result()
	if err == redis.Nil {
		return s.db.DefaultEnabled(), nil
	}
	if err != nil {
		return false, store.Err(err)
	}
	return v == "1", nil
}

// SetEnabled switches block_contact_enabled and records it in the audit.
//
// The setting is kept in every bucket so that the decision script reads it
// from its own slot. The copies are written by one script each, through the
// executor in one pipelined round trip (a Cluster cannot take one
// transaction over many slots); then bucket 0's script again writes the
// audit record. An answer of 503 may leave some copies switched and no
// record; the admin repeats the request, which is idempotent.
func (s *Registry) SetEnabled(ctx context.Context, actor string, enabled bool) error {
	now := s.db.Now()
	call := func(b int, audit bool) store.Call {
		bk := store.KeysOfBucket(b)
		return settingsScript.Call(settingsKeys{Settings: bk.Settings, Audit: bk.Audit}, settingsArgs{
			Enabled: enabled, AuditIt: audit, Now: store.Millis(now), Actor: actor,
			Detail: settingEnabled + "=" + strconv.FormatBool(enabled),
		})
	}
	calls := make([]store.Call, store.Buckets)
	for b := range store.Buckets {
		calls[b] = call(b, false)
	}
	if _, err := s.db.Write(ctx, calls...); err != nil {
		return err
	}
	// The record only once every copy is switched: a 503 leaves none.
	_, err := s.db.Write(ctx, call(0, true))
	return err
}

var settingsScript = store.NewScript[settingsKeys, settingsArgs](luaFiles, "settings", "audit")

type settingsKeys struct {
	Settings string `lua:"settings"`
	Audit    string `lua:"audit"`
}

type settingsArgs struct {
	Enabled bool   `lua:"enabled"`
	AuditIt bool   `lua:"audit_it"` // write the audit record too
	Now     int64  `lua:"now"`
	Actor   string `lua:"actor"`
	Detail  string `lua:"detail"`
}
