package store

import (
	"hash/fnv"
	"strconv"
	"time"
)

// Buckets is the number of hash-slot buckets contacts are spread over. Every
// key one inbound event touches — block entry, dedupe marker, conversation,
// ticket, delivery queue shard — and the per-bucket indexes and audit stream
// carry the bucket's hash tag, so that one Lua script can read and write them
// together on one server and on Redis Cluster alike.
//
// It is fixed: changing it would move contacts to other keys.
const Buckets = 16

// bucketTags holds the hash tag of each bucket. Tags are chosen so that bucket
// i hashes to a slot in the i-th sixteenth of the 16384 Cluster slots, which
// spreads the buckets evenly over the masters of a Cluster.
var bucketTags = func() [Buckets]string {
	var tags [Buckets]string
	const span = 16384 / Buckets
	for i := range Buckets {
		for k := 0; ; k++ {
			tag := "hw" + strconv.Itoa(i) + "." + strconv.Itoa(k)
			if int(crc16([]byte(tag))%16384)/span == i {
				tags[i] = "{" + tag + "}"
				break
			}
		}
	}
	return tags
}()

// BucketOf returns the bucket of (channel, contact).
func BucketOf(channel, contact string) int {
	h := fnv.New32a()
	h.Write([]byte(channel))
	h.Write([]byte{0})
	h.Write([]byte(contact))
	return int(h.Sum32() % Buckets)
}

// BucketKeys are the per-bucket keys shared by all contacts of the bucket.
type BucketKeys struct {
	Tag      string
	Settings string // hash: block_contact_enabled
	Blocked  string // sorted set, lexical: channel \x00 contact of blocked contacts
	Audit    string // stream of admin actions
	Tickets  string // sorted set of open ticket ids by first message time
	Releases string // sorted set, lexical: channel \x00 contact of releases in progress
	Queue    string // stream: the bucket's delivery queue shard
	Lease    string // string: the replica that delivers the shard now
	Dead     string // hash: parked deliveries by dead-letter id
	DeadIdx  string // sorted set of dead-letter ids by time parked
}

// KeysOfBucket returns the per-bucket keys of bucket b.
func KeysOfBucket(b int) BucketKeys {
	t := "hw:" + bucketTags[b] + ":"
	return BucketKeys{
		Tag:      bucketTags[b],
		Settings: t + "settings",
		Blocked:  t + "blocked",
		Audit:    t + "audit",
		Tickets:  t + "tickets",
		Releases: t + "releases",
		Queue:    t + "queue",
		Lease:    t + "lease",
		Dead:     t + "dead",
		DeadIdx:  t + "deadidx",
	}
}

// ContactKeys are the keys of one (channel, contact); all in one slot.
type ContactKeys struct {
	BucketKeys
	Bucket         int
	Block          string // hash: the block entry; expires with the block
	Conv           string // hash: the latest conversation
	ConvMessages   string // list: messages recorded on the latest conversation
	Ticket         string // hash: the contact's open blocked ticket
	TicketMessages string // list: the open ticket's messages, oldest first
	// Release and ReleaseMessages are the contact's release in progress
	// (see tickets/release.go): a hash of where the messages go and the list of
	// what has still to enter the delivery stream, in order.
	Release         string
	ReleaseMessages string
}

// Dedupe is the marker of a seen platform event id.
func (k BucketKeys) Dedupe(channel, eventID string) string {
	return "hw:" + k.Tag + ":dd:" + channel + ":" + eventID
}

// ChannelTickets is the sorted set of the channel's open tickets.
func (k BucketKeys) ChannelTickets(channel string) string {
	return "hw:" + k.Tag + ":tickets:" + channel
}

// RecentContactsAge is how long the recent-contacts index (Recent) lists a
// contact after its latest event: the bound its writer (the decision) trims
// by and its reader (the listing) leaves older members out by.
const RecentContactsAge = 30 * 24 * time.Hour

// Recent is the sorted set of the channel's contacts in the bucket who wrote
// lately: member channel \x00 contact, scored by the time (ms) their latest
// event was received.
func (k BucketKeys) Recent(channel string) string { return "hw:" + k.Tag + ":recent:" + channel }

// RecentPreview is the hash of the start of each recent contact's latest
// message, by the same members as Recent.
func (k BucketKeys) RecentPreview(channel string) string {
	return "hw:" + k.Tag + ":recentpv:" + channel
}

// TicketID maps a ticket id to its channel and contact.
func (k BucketKeys) TicketID(id string) string { return "hw:" + k.Tag + ":tktid:" + id }

// KeysOf returns the keys of (channel, contact), all in its bucket's slot.
func KeysOf(channel, contact string) ContactKeys {
	b := BucketOf(channel, contact)
	bk := KeysOfBucket(b)
	id := channel + ":" + contact
	t := "hw:" + bk.Tag + ":"
	return ContactKeys{
		BucketKeys:      bk,
		Bucket:          b,
		Block:           t + "block:" + id,
		Conv:            t + "conv:" + id,
		ConvMessages:    t + "convmsg:" + id,
		Ticket:          t + "tkt:" + id,
		TicketMessages:  t + "tktmsg:" + id,
		Release:         t + "rel:" + id,
		ReleaseMessages: t + "relmsg:" + id,
	}
}

// Member is the index member of (channel, contact): sorted by channel, then
// contact. Channel ids cannot contain NUL and contacts are validated not to.
func Member(channel, contact string) string { return channel + "\x00" + contact }

// crc16 is the CRC-16/XMODEM Redis Cluster uses to map keys to slots.
func crc16(b []byte) uint16 {
	var crc uint16
	for _, c := range b {
		crc ^= uint16(c) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}
