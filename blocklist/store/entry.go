package store

import (
	"encoding/json"

	"github.com/redis/go-redis/v9"
)

// Delivery is one queued delivery to a bot or helpdesk.
type Delivery struct {
	// Shard is the bucket whose stream holds the entry.
	Shard int `json:"shard"`
	// StreamID is the entry's id in the stream.
	StreamID string `json:"stream_id"`
	// ID is the envelope id, stable across retries.
	ID string `json:"id"`
	// Target is "bot" or "helpdesk".
	Target string `json:"target"`
	// Type is the envelope type: the event type or a lifecycle notice.
	Type string `json:"type"`
	// Channel, ChannelType and Contact say whose it is.
	Channel     string `json:"channel"`
	ChannelType string `json:"channel_type"`
	Contact     string `json:"contact"`
	// Conversation is the conversation id, if any.
	Conversation string `json:"conversation"`
	// Route and Queue are the envelope's routing fields.
	Route string `json:"route"`
	Queue string `json:"queue"`
	// Automation and Blocked are the envelope's flags.
	Automation bool `json:"automation"`
	Blocked    bool `json:"blocked"`
	// Payload is the stored event: id, type, message, received_at, raw, data.
	Payload json.RawMessage `json:"payload"`
	// TraceParent is the W3C trace context of the inbound request, if any.
	TraceParent string `json:"traceparent,omitempty"`
}

// entryFieldNames are the fields of a delivery stream entry, in the order
// lua/lib/entry.lua (entryFields) writes them; DeliveryFrom reads each.
var entryFieldNames = []string{"id", "tgt", "type", "ch", "ct", "co", "conv", "route", "queue", "auto", "blk", "ev", "tp"}

// DeliveryFrom decodes a delivery stream entry: the reader of the codec
// whose writer is lua/lib/entry.lua.
func DeliveryFrom(shard int, m redis.XMessage) Delivery {
	str := func(k string) string { v, _ := m.Values[k].(string); return v }
	return Delivery{
		Shard: shard, StreamID: m.ID, ID: str("id"), Target: str("tgt"), Type: str("type"),
		Channel: str("ch"), ChannelType: str("ct"), Contact: str("co"), Conversation: str("conv"),
		Route: str("route"), Queue: str("queue"), Automation: str("auto") == "1", Blocked: str("blk") == "1",
		Payload: json.RawMessage(str("ev")), TraceParent: str("tp"),
	}
}
