package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// item is one pre-signed LINE webhook request.
type item struct {
	body []byte
	sig  string
}

// pool holds the pre-generated requests. Each request is sent to hookwall
// once (a repeat would be a cheap duplicate and flatter the figures); the bare
// handler reuses them freely.
type pool struct {
	mu       sync.Mutex
	items    []item
	secret   string
	contacts int
	seed     uint64
	made     int
}

func newPool(secret string, contacts int) *pool {
	return &pool{secret: secret, contacts: contacts, seed: rand.Uint64()}
}

// grow appends n new requests, spreading the work over the CPUs.
func (p *pool) grow(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	start := p.made
	out := make([]item, n)
	workers := 4
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += workers {
				out[i] = p.make(start + i)
			}
		}()
	}
	wg.Wait()
	p.items = append(p.items, out...)
	p.made += n
}

func (p *pool) len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.items)
}

// cursor hands out the pool's requests in order from a start index.
type cursor struct {
	items   []item
	next    atomic.Int64
	wrapped atomic.Int64
}

func (p *pool) cursorFrom(start int) *cursor {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := &cursor{items: p.items}
	c.next.Store(int64(start))
	return c
}

// take returns the next request; past the end it starts again at 0 and
// counts the wrap, since hookwall then sees duplicates.
func (c *cursor) take() *item {
	i := c.next.Add(1) - 1
	if i >= int64(len(c.items)) {
		c.wrapped.Add(1)
		i %= int64(len(c.items))
	}
	return &c.items[i]
}

// used is how many requests were taken.
func (c *cursor) used() int { return int(c.next.Load()) }

// The shapes below follow channels/line/testdata/text.json, the LINE
// Messaging API's message event with a text message.
type lineBody struct {
	Destination string      `json:"destination"`
	Events      []lineEvent `json:"events"`
}

type lineEvent struct {
	ReplyToken      string          `json:"replyToken"`
	Type            string          `json:"type"`
	Mode            string          `json:"mode"`
	Timestamp       int64           `json:"timestamp"`
	Source          lineSource      `json:"source"`
	WebhookEventID  string          `json:"webhookEventId"`
	DeliveryContext lineDelivery    `json:"deliveryContext"`
	Message         lineTextMessage `json:"message"`
}

type lineSource struct {
	Type   string `json:"type"`
	UserID string `json:"userId"`
}

type lineDelivery struct {
	IsRedelivery bool `json:"isRedelivery"`
}

type lineTextMessage struct {
	ID         string      `json:"id"`
	Type       string      `json:"type"`
	QuoteToken string      `json:"quoteToken"`
	Text       string      `json:"text"`
	Emojis     []lineEmoji `json:"emojis"`
}

type lineEmoji struct {
	Index     int    `json:"index"`
	Length    int    `json:"length"`
	ProductID string `json:"productId"`
	EmojiID   string `json:"emojiId"`
}

var texts = []string{
	"Hello, world こんにちは (love) is my order shipped yet?",
	"Hello, world こんにちは (love) I need to change the delivery address",
	"Hello, world こんにちは (love) can I talk to a person please",
	"Hello, world こんにちは (love) 注文番号を確認してください",
}

// make builds the i-th request: one text message event with a unique
// webhookEventId, from one of the pool's contacts.
func (p *pool) make(i int) item {
	r := rand.New(rand.NewPCG(p.seed, uint64(i)))
	contact := i % p.contacts
	now := time.Now()
	body := lineBody{
		Destination: "U" + hexOf(p.seed, 0, 32),
		Events: []lineEvent{{
			ReplyToken:      hexOf(r.Uint64(), r.Uint64(), 32),
			Type:            "message",
			Mode:            "active",
			Timestamp:       now.UnixMilli(),
			Source:          lineSource{Type: "user", UserID: "U" + hexOf(p.seed^0x9e3779b97f4a7c15, uint64(contact), 32)},
			WebhookEventID:  ulid(now, p.seed, uint64(i)),
			DeliveryContext: lineDelivery{},
			Message: lineTextMessage{
				ID:         strconv.FormatUint(468789577898262530+uint64(i), 10),
				Type:       "text",
				QuoteToken: hexOf(r.Uint64(), r.Uint64(), 64),
				Text:       texts[i%len(texts)] + " #" + strconv.Itoa(i),
				Emojis:     []lineEmoji{{Index: 19, Length: 6, ProductID: "5ac1bfd5040ab15980c9b435", EmojiID: "001"}},
			},
		}},
	}
	b, err := json.Marshal(body)
	if err != nil {
		panic(fmt.Sprintf("bench: marshal a LINE body: %v", err))
	}
	return item{body: b, sig: sign(p.secret, b)}
}

// sign is X-Line-Signature: base64(HMAC-SHA256(channel secret, body)).
func sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// hexOf returns n hex digits derived from a and b.
func hexOf(a, b uint64, n int) string {
	const hx = "0123456789abcdef"
	out := make([]byte, n)
	x := a ^ b*0xbf58476d1ce4e5b9
	for i := range out {
		if i%16 == 0 && i > 0 {
			x = x*0x94d049bb133111eb + b + uint64(i)
		}
		out[i] = hx[(x>>(uint(i%16)*4))&15]
	}
	return string(out)
}

// ulid returns a 26-character ULID-shaped id (Crockford base32): the
// millisecond time, then 80 bits unique to (seed, i).
func ulid(t time.Time, seed, i uint64) string {
	const enc = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
	var b [26]byte
	ms := uint64(t.UnixMilli())
	for k := 9; k >= 0; k-- {
		b[k] = enc[ms&31]
		ms >>= 5
	}
	// 16 characters: the low 60 bits carry i itself, so ids never collide.
	lo := i
	hi := seed
	for k := 25; k >= 10; k-- {
		if k >= 14 {
			b[k] = enc[lo&31]
			lo >>= 5
		} else {
			b[k] = enc[hi&31]
			hi >>= 5
		}
	}
	return string(b[:])
}
