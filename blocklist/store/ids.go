package store

import (
	"strconv"
	"strings"

	"github.com/google/uuid"
)

// NewID returns a time-ordered unique id with the prefix.
func NewID(prefix string) string {
	u := uuid.Must(uuid.NewV7())
	return prefix + hexNoDash(u)
}

// NewTicketID returns a ticket id that names its bucket, so the ticket's keys
// are found from the id alone.
func NewTicketID(bucket int) string {
	return "tkt_" + strconv.Itoa(bucket) + "_" + hexNoDash(uuid.Must(uuid.NewV7()))
}

func hexNoDash(u uuid.UUID) string {
	const hx = "0123456789abcdef"
	b := make([]byte, 32)
	for i, c := range u {
		b[2*i], b[2*i+1] = hx[c>>4], hx[c&15]
	}
	return string(b)
}

// IDBucket reads the bucket out of an id "<prefix><bucket>_<rest>": ticket
// and dead-letter ids name their bucket, so their keys are found from the id.
func IDBucket(id, prefix string) (int, bool) {
	rest, ok := strings.CutPrefix(id, prefix)
	if !ok || len(id) > 64 {
		return 0, false
	}
	bs, _, ok := strings.Cut(rest, "_")
	b, err := strconv.Atoi(bs)
	if !ok || err != nil || b < 0 || b >= Buckets {
		return 0, false
	}
	return b, true
}
