package loadgen

import (
	"fmt"
	"net"
	"net/url"
	"strings"
)

// CheckLoopback returns an error unless rawURL names a loopback host
// (127.0.0.0/8, ::1 or localhost). Load is only ever sent to this machine.
func CheckLoopback(rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return fmt.Errorf("loadgen: target %q: %w", rawURL, err)
	}
	if u.Host == "" {
		return fmt.Errorf("loadgen: target %q has no host", rawURL)
	}
	return checkLoopbackHost(u.Hostname())
}

// CheckLoopbackAddr is CheckLoopback for a host:port address.
func CheckLoopbackAddr(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("loadgen: address %q: %w", addr, err)
	}
	return checkLoopbackHost(host)
}

func checkLoopbackHost(host string) error {
	if strings.EqualFold(host, "localhost") {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("loadgen: refusing target %q: only loopback addresses (127.0.0.0/8, ::1) may be loaded", host)
	}
	return nil
}

// MaxSourceAddresses is how many source addresses SourceIP can name.
const MaxSourceAddresses = 254 * 256

// SourceIP returns the i-th loopback source address: 127.0.0.1 for 0,
// 127.0.0.2 for 1, ..., 127.0.0.254, then 127.0.1.1 and so on. Every
// address has its own ephemeral ports, so connections spread over k
// addresses can outnumber one address's ports k times.
func SourceIP(i int) net.IP {
	i = ((i % MaxSourceAddresses) + MaxSourceAddresses) % MaxSourceAddresses
	return net.IPv4(127, 0, byte(i/254), byte(i%254+1)).To4()
}
