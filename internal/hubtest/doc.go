// Package hubtest holds what the library's tests share: a hub with a
// method for every kind of call and target ([Hub]), loopback servers for
// it ([StartHub], [ServeHub]), and clients that speak the JSON protocol
// byte for byte over a bare WebSocket ([RawClient], [JSONClient]), so that
// tests can send exactly what they mean, malformed messages included.
package hubtest
