package signalr

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// optionRule is one duration or size option as the option rule sees it:
// how to make it with a value, and where the value lands.
type optionRule struct {
	name       string
	with       func(v int64) Option
	get        func(c *config) int64
	canTurnOff bool
}

func optionRules() []optionRule {
	d := func(f func(time.Duration) Option) func(int64) Option {
		return func(v int64) Option { return f(time.Duration(v)) }
	}
	n := func(f func(int) Option) func(int64) Option {
		return func(v int64) Option { return f(int(v)) }
	}
	return []optionRule{
		{"WithKeepAliveInterval", d(WithKeepAliveInterval), func(c *config) int64 { return int64(c.keepAlive) }, true},
		{"WithClientTimeout", d(WithClientTimeout), func(c *config) int64 { return int64(c.clientTimeout) }, true},
		{"WithCloseTimeout", d(WithCloseTimeout), func(c *config) int64 { return int64(c.wsCloseTimeout) }, true},
		{"WithMaxReceiveMessageSize", n(WithMaxReceiveMessageSize), func(c *config) int64 { return int64(c.maxReceiveMessageSize) }, true},
		{"WithStreamBufferCapacity", n(WithStreamBufferCapacity), func(c *config) int64 { return int64(c.streamBufferCapacity) }, true},
		{"WithMaxConnectionsPerUser", n(WithMaxConnectionsPerUser), func(c *config) int64 { return int64(c.maxConnsPerUser) }, true},
		{"WithHandshakeTimeout", d(WithHandshakeTimeout), func(c *config) int64 { return int64(c.handshakeTimeout) }, false},
		{"WithMaxParallelInvocations", n(WithMaxParallelInvocations), func(c *config) int64 { return int64(c.maxParallelInvocations) }, false},
		{"WithMaxOutboundBuffer", n(WithMaxOutboundBuffer), func(c *config) int64 { return int64(c.maxOutboundBuffer) }, false},
		{"WithNegotiateTimeout", d(WithNegotiateTimeout), func(c *config) int64 { return int64(c.negotiateTimeout) }, false},
		{"WithMaxPendingNegotiations", n(WithMaxPendingNegotiations), func(c *config) int64 { return int64(c.maxPendingNegotiations) }, false},
		{"WithMaxPendingNegotiationsPerAddress", n(WithMaxPendingNegotiationsPerAddress), func(c *config) int64 { return int64(c.maxPendingPerAddress) }, false},
		{"WithMaxRequestBodySize", func(v int64) Option { return WithMaxRequestBodySize(v) }, func(c *config) int64 { return c.maxRequestBody }, false},
		{"WithWriteTimeout", d(WithWriteTimeout), func(c *config) int64 { return int64(c.writeTimeout) }, false},
		{"WithStatefulReconnect", n(WithStatefulReconnect), func(c *config) int64 { return int64(c.statefulBufferSize) }, false},
		{"WithMaxStreams", n(WithMaxStreams), func(c *config) int64 { return int64(c.maxStreams) }, false},
		{"WithPresenceInterval", d(WithPresenceInterval), func(c *config) int64 { return int64(c.presenceInterval) }, false},
		{"WithMaxGroupNameLength", n(WithMaxGroupNameLength), func(c *config) int64 { return int64(c.maxGroupNameLength) }, false},
		{"WithMaxUserIDLength", n(WithMaxUserIDLength), func(c *config) int64 { return int64(c.maxUserIDLength) }, false},
		{"WithMaxGroupsPerConnection", n(WithMaxGroupsPerConnection), func(c *config) int64 { return int64(c.maxGroupsPerConnection) }, false},
		{"WithLongPollTimeouts(poll)", func(v int64) Option { return WithLongPollTimeouts(time.Duration(v), 0) }, func(c *config) int64 { return int64(c.pollTimeout) }, false},
		{"WithLongPollTimeouts(disconnect)", func(v int64) Option { return WithLongPollTimeouts(0, time.Duration(v)) }, func(c *config) int64 { return int64(c.disconnectTimeout) }, false},
	}
}

// TestOptionZeroMeansDefault: every duration and size option follows one
// rule. Zero keeps the default, even after another value was set (the
// later option wins); a positive value is taken as it is; a negative one
// turns the setting off where it can be turned off and makes New fail
// elsewhere.
func TestOptionZeroMeansDefault(t *testing.T) {
	for _, r := range optionRules() {
		t.Run(r.name, func(t *testing.T) {
			apply := func(opts ...Option) config {
				c := defaultConfig()
				for _, o := range opts {
					o(&c)
				}
				return c
			}
			dc := defaultConfig()
			def := r.get(&dc)
			c := apply(r.with(0))
			assert.Equal(t, def, r.get(&c), "zero keeps the default")
			assert.NoError(t, c.err)

			c = apply(r.with(7))
			assert.Equal(t, int64(7), r.get(&c), "a positive value is taken")
			c = apply(r.with(7), r.with(9))
			assert.Equal(t, int64(9), r.get(&c), "the later option wins")

			c = apply(r.with(Disabled))
			if r.canTurnOff {
				assert.NoError(t, c.err)
				assert.LessOrEqual(t, r.get(&c), int64(0), "Disabled turns it off")
				return
			}
			require.Error(t, c.err, "a negative value cannot turn this setting off")
			assert.Contains(t, c.err.Error(), strings.TrimSuffix(strings.SplitN(r.name, "(", 2)[0], " "))
			assert.Equal(t, def, r.get(&c), "a refused value changes nothing")
		})
	}
}

// TestNewRefusesNegativeValue: the refusal reaches the caller of New.
func TestNewRefusesNegativeValue(t *testing.T) {
	h, err := New(echoHub{}, WithHandshakeTimeout(-time.Second), WithMaxStreams(-1))
	require.Error(t, err)
	assert.Nil(t, h)
	assert.Contains(t, err.Error(), "WithHandshakeTimeout(-1s)", "the first bad option is named")
}
