package signalr

import (
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestClientAddressKey(t *testing.T) {
	h := &Hub{cfg: defaultConfig()}
	key := func(remote string) string {
		r := httptest.NewRequest("POST", "/hub/negotiate", nil)
		r.RemoteAddr = remote
		return h.clientAddress(r)
	}
	assert.Equal(t, "192.0.2.7", key("192.0.2.7:4000"))
	assert.Equal(t, key("192.0.2.7:4000"), key("192.0.2.7:4001"), "the port does not count")
	assert.NotEqual(t, key("192.0.2.7:1"), key("192.0.2.8:1"))
	assert.Equal(t, "192.0.2.7", key("[::ffff:192.0.2.7]:1"), "an IPv4-mapped address is its IPv4 address")
	// One host usually holds a whole IPv6 /64: it counts as one address.
	assert.Equal(t, "2001:db8:1:2::/64", key("[2001:db8:1:2::1]:1"))
	assert.Equal(t, key("[2001:db8:1:2::1]:1"), key("[2001:db8:1:2:ffff::9]:1"))
	assert.NotEqual(t, key("[2001:db8:1:2::1]:1"), key("[2001:db8:1:3::1]:1"))
	assert.Equal(t, key("[fe80::1%eth0]:1"), key("[fe80::1%eth1]:1"), "zones do not count")
	assert.Equal(t, "not-an-address", key("not-an-address"), "an unparsable RemoteAddr is its own key")
}
