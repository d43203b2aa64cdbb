package signalr

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
)

// Names on the bus. Group names and user ids are chosen by the
// application and often by its clients, so they never become backplane
// subjects as they are: a subject carries a fixed-length hash of the name
// (22 characters), and the message carries the name itself, so that the
// receiving node delivers only to the group or user actually named, even
// when two names hash alike. Connection ids and node ids go into subjects
// as they are, and only once they have the form this library gives them.

// Defaults of the limits on names and groups.
const (
	DefaultMaxGroupNameLength     = 1024
	DefaultMaxUserIDLength        = 1024
	DefaultMaxGroupsPerConnection = 1000
)

const (
	connectionIDLength = 22 // newID: 16 bytes, base64url
	nodeIDLength       = 11 // the start of a newID
	subjectHashBytes   = 16 // of SHA-256, base64url: 22 characters
)

// WithMaxGroupNameLength caps the length of group names, in bytes (default
// 1,024). Groups.Add, Groups.Remove, sends to a group and GroupMembers with
// a longer name fail with an error that matches ErrNameTooLong; a hub
// method that returns it answers its client with an error completion.
func WithMaxGroupNameLength(n int) Option {
	return func(c *config) {
		setPositive(c, &c.maxGroupNameLength, n, "WithMaxGroupNameLength")
	}
}

// WithMaxUserIDLength caps the length of user ids, in bytes (default
// 1,024). A request whose user id (from the authenticator or
// WithUserIDFunc) is longer cannot negotiate or connect: it is answered
// 403 with a message naming the limit. Sends to a longer user id and
// IsUserOnline with one fail with an error that matches ErrNameTooLong.
func WithMaxUserIDLength(n int) Option {
	return func(c *config) {
		setPositive(c, &c.maxUserIDLength, n, "WithMaxUserIDLength")
	}
}

// WithMaxGroupsPerConnection caps the groups one connection may be in at
// once (default 1,000). Groups.Add past it fails with an error that
// matches ErrTooManyGroups and changes nothing; adding a connection to a
// group it is already in always succeeds.
func WithMaxGroupsPerConnection(n int) Option {
	return func(c *config) {
		setPositive(c, &c.maxGroupsPerConnection, n, "WithMaxGroupsPerConnection")
	}
}

// hashName is the subject token of a group name, user id or hub name.
func hashName(s string) string {
	sum := sha256.Sum256([]byte(s))
	return base64.RawURLEncoding.EncodeToString(sum[:subjectHashBytes])
}

// isIDChar reports whether b is in the base64url alphabet that ids use.
func isIDChar(b byte) bool {
	return 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' || b == '-' || b == '_'
}

func idOfLength(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isIDChar(s[i]) {
			return false
		}
	}
	return true
}

// validConnectionID reports whether id has the form of the connection ids
// this library issues. Any other id is nobody's.
func validConnectionID(id string) bool { return idOfLength(id, connectionIDLength) }

// validNodeID reports whether id has the form of a node id.
func validNodeID(id string) bool { return idOfLength(id, nodeIDLength) }

// errNotConnectionID is returned by group changes and client results
// for an id that no connection can have.
var errNotConnectionID = &sentinelError{sentinel: ErrConnectionNotFound, msg: "signalr: connection not found (not a connection id)"}

// sentinelError is an error with its own text that matches a sentinel,
// also when it comes back from another node.
type sentinelError struct {
	sentinel error
	msg      string
}

func (e *sentinelError) Error() string { return e.msg }
func (e *sentinelError) Unwrap() error { return e.sentinel }

func (h *Hub) checkGroupName(group string) error {
	if n := h.cfg.maxGroupNameLength; len(group) > n {
		return &sentinelError{ErrNameTooLong, fmt.Sprintf("signalr: name too long: a group name of %d bytes (limit %d)", len(group), n)}
	}
	return nil
}

func (h *Hub) checkUserID(user string) error {
	if n := h.cfg.maxUserIDLength; len(user) > n {
		return &sentinelError{ErrNameTooLong, fmt.Sprintf("signalr: name too long: a user id of %d bytes (limit %d)", len(user), n)}
	}
	return nil
}

func (h *Hub) errTooManyGroups() error {
	return &sentinelError{ErrTooManyGroups, fmt.Sprintf("signalr: too many groups for one connection (limit %d)", h.cfg.maxGroupsPerConnection)}
}

// checkNames checks the group names or user ids a proxy sends to.
func (p ClientProxy) checkNames() error {
	var check func(string) error
	switch p.kind {
	case targetGroup, targetGroups, targetGroupExcept:
		check = p.h.checkGroupName
	case targetUser, targetUsers:
		check = p.h.checkUserID
	default:
		return nil
	}
	for _, n := range p.names {
		if err := check(n); err != nil {
			return err
		}
	}
	return nil
}

// admitUserID refuses a connection whose user id is too long. On refusal
// it has answered w.
func (h *Hub) admitUserID(w http.ResponseWriter, user string) bool {
	if len(user) <= h.cfg.maxUserIDLength {
		return true
	}
	http.Error(w, fmt.Sprintf("The user id is longer than this hub allows (limit %d bytes).", h.cfg.maxUserIDLength), http.StatusForbidden)
	return false
}
