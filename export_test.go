package signalr

// WithSubjectHash replaces the hash that turns group names, user ids and
// the hub name into subject tokens, so that tests can make names collide.
func WithSubjectHash(f func(string) string) Option {
	return func(c *config) { c.subjectHash = f }
}
