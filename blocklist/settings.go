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
// from its own slot. The copies are written in one pipelined round trip (a
// Cluster cannot take one transaction over many slots); the audit record goes
// last, so an answer of 503 leaves at most some copies switched and no
// record, and the admin repeats the request, which is idempotent.
func (s *Store) SetEnabled(ctx context.Context, actor string, enabled bool) error {
	now := s.now()
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for b := range Buckets {
			p.HSet(ctx, keysOfBucket(b).settings, settingEnabled, boolFlag(enabled))
		}
		return nil
	})
	if err != nil {
		return storeErr(err)
	}
	return storeErr(s.rdb.XAdd(ctx, auditArgs(keysOfBucket(0).audit, AuditRecord{
		At: now, Actor: actor, Action: "settings.update",
		Detail: settingEnabled + "=" + strconv.FormatBool(enabled),
	})).Err())
}

func boolFlag(b bool) string {
	if b {
		return "1"
	}
	return "0"
}
