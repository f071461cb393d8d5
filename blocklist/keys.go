package blocklist

import (
	"hash/fnv"
	"strconv"
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

// bucketKeys are the per-bucket keys shared by all contacts of the bucket.
type bucketKeys struct {
	tag      string
	settings string // hash: block_contact_enabled
	blocked  string // sorted set, lexical: channel \x00 contact of blocked contacts
	audit    string // stream of admin actions
	tickets  string // sorted set of open ticket ids by first message time
	releases string // sorted set, lexical: channel \x00 contact of releases in progress
	queue    string // stream: the bucket's delivery queue shard
	lease    string // string: the replica that delivers the shard now
	dead     string // hash: parked deliveries by dead-letter id
	deadIdx  string // sorted set of dead-letter ids by time parked
}

func keysOfBucket(b int) bucketKeys {
	t := "hw:" + bucketTags[b] + ":"
	return bucketKeys{
		tag:      bucketTags[b],
		settings: t + "settings",
		blocked:  t + "blocked",
		audit:    t + "audit",
		tickets:  t + "tickets",
		releases: t + "releases",
		queue:    t + "queue",
		lease:    t + "lease",
		dead:     t + "dead",
		deadIdx:  t + "deadidx",
	}
}

// contactKeys are the keys of one (channel, contact); all in one slot.
type contactKeys struct {
	bucketKeys
	bucket         int
	block          string // hash: the block entry; expires with the block
	conv           string // hash: the latest conversation
	convMessages   string // list: messages recorded on the latest conversation
	ticket         string // hash: the contact's open blocked ticket
	ticketMessages string // list: the open ticket's messages, oldest first
	// release and releaseMessages are the contact's release in progress
	// (see release.go): a hash of where the messages go and the list of
	// what has still to enter the delivery stream, in order.
	release         string
	releaseMessages string
}

// dedupe is the marker of a seen platform event id.
func (k bucketKeys) dedupe(channel, eventID string) string {
	return "hw:" + k.tag + ":dd:" + channel + ":" + eventID
}

// channelTickets is the sorted set of the channel's open tickets.
func (k bucketKeys) channelTickets(channel string) string {
	return "hw:" + k.tag + ":tickets:" + channel
}

// recent is the sorted set of the channel's contacts in the bucket who wrote
// lately: member channel \x00 contact, scored by the time (ms) their latest
// event was received.
func (k bucketKeys) recent(channel string) string { return "hw:" + k.tag + ":recent:" + channel }

// recentPreview is the hash of the start of each recent contact's latest
// message, by the same members as recent.
func (k bucketKeys) recentPreview(channel string) string {
	return "hw:" + k.tag + ":recentpv:" + channel
}

// ticketID maps a ticket id to its channel and contact.
func (k bucketKeys) ticketID(id string) string { return "hw:" + k.tag + ":tktid:" + id }

func keysOf(channel, contact string) contactKeys {
	b := BucketOf(channel, contact)
	bk := keysOfBucket(b)
	id := channel + ":" + contact
	t := "hw:" + bk.tag + ":"
	return contactKeys{
		bucketKeys:      bk,
		bucket:          b,
		block:           t + "block:" + id,
		conv:            t + "conv:" + id,
		convMessages:    t + "convmsg:" + id,
		ticket:          t + "tkt:" + id,
		ticketMessages:  t + "tktmsg:" + id,
		release:         t + "rel:" + id,
		releaseMessages: t + "relmsg:" + id,
	}
}

// member is the index member of (channel, contact): sorted by channel, then
// contact. Channel ids cannot contain NUL and contacts are validated not to.
func member(channel, contact string) string { return channel + "\x00" + contact }

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
