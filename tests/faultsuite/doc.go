// Package faultsuite is the cluster's fault-injection suite: three hub
// nodes, each a process of its own, over a real NATS or Redis server, with
// Go clients sending sequence-numbered messages across them while a node
// is killed, the bus is restarted, delayed, or a node is cut off it. It
// has no API; the tests are the package. RELIABILITY.md at the repository's
// root describes the faults, what the library guarantees under them and
// how to run the suite.
package faultsuite
