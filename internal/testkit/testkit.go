// Package testkit holds the fakes that hookwall's tests share: Channel, a
// stand-in platform for the gateway, and Target, a stand-in bot or helpdesk
// that hookwall delivers to.
//
// It is a normal package so that the tests of several packages can import it,
// but only tests do: no production code imports it, so it is never part of
// the hookwall binary. Its waits poll a condition until a limit that only
// fails the test; none of them sleeps and hopes.
package testkit

import "time"

// WaitLimit bounds the waits of a Target that take no limit of their own.
// Reaching it fails the test; it is never a pause: a wait ends as soon as
// its condition holds.
const WaitLimit = 15 * time.Second
