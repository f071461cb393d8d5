package blocklist

import (
	"context"
	"strconv"

	"github.com/redis/go-redis/v9"
)

const settingEnabled = "block_contact_enabled"

// InitSettings stores the configured block_contact_enabled in every bucket
// that has none yet. A value already stored wins over the configuration: the
// configuration gives the first value only.
func (s *Store) InitSettings(ctx context.Context) error {
	v, err := s.rdb.HGet(ctx, keysOfBucket(0).settings, settingEnabled).Result()
	switch {
	case err == redis.Nil:
		v = boolFlag(s.defaultEnabled)
	case err != nil:
		return storeErr(err)
	}
	_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for b := range Buckets {
			p.HSetNX(ctx, keysOfBucket(b).settings, settingEnabled, v)
		}
		return nil
	})
	return storeErr(err)
}

// Enabled returns the block_contact_enabled setting.
func (s *Store) Enabled(ctx context.Context) (bool, error) {
	v, err := s.rdb.HGet(ctx, keysOfBucket(0).settings, settingEnabled).Result()
	if err == redis.Nil {
		return s.defaultEnabled, nil
	}
	if err != nil {
		return false, storeErr(err)
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
func (s *Store) SetEnabled(ctx context.Context, actor string, enabled bool) error {
	now := s.now()
	call := func(b int, audit bool) scriptCall {
		bk := keysOfBucket(b)
		return settingsScript.call(settingsKeys{Settings: bk.settings, Audit: bk.audit}, settingsArgs{
			Enabled: enabled, AuditIt: audit, Now: ms(now), Actor: actor,
			Detail: settingEnabled + "=" + strconv.FormatBool(enabled),
		})
	}
	calls := make([]scriptCall, Buckets)
	for b := range Buckets {
		calls[b] = call(b, false)
	}
	if _, err := s.write(ctx, calls...); err != nil {
		return err
	}
	// The record only once every copy is switched: a 503 leaves none.
	_, err := s.write(ctx, call(0, true))
	return err
}

var settingsScript = newLuaScript[settingsKeys, settingsArgs]("settings", "audit")

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

func boolFlag(b bool) string {
	if b {
		return "1"
	}
	return "0"
}
