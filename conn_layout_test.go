// The layout below assumes 8-byte pointers and words; on 32-bit builds
// the parts pack differently and the test does not apply.

//go:build amd64 || arm64 || loong64 || mips64 || mips64le || ppc64 || ppc64le || riscv64 || s390x

package signalr

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
)

// TestConnLayout keeps the fields that every broadcast touches in the first
// three cache lines of a conn (objects of its size class start on a 64-byte
// boundary): a broadcast to N connections then pulls three lines of each
// instead of six, and the lines the writer dirties hold nothing else. It
// also keeps a conn within its size class, part of the idle footprint.
func TestConnLayout(t *testing.T) {
	var c conn
	line := func(off uintptr) uintptr { return off / 64 }
	for name, off := range map[string]uintptr{
		"hub": unsafe.Offsetof(c.hub), "t": unsafe.Offsetof(c.t), "protoIndex": unsafe.Offsetof(c.protoIndex),
	} {
		assert.Equal(t, uintptr(0), line(off), "%s: read by every broadcast, belongs in the first line", name)
	}
	for name, off := range map[string]uintptr{
		"qmu": unsafe.Offsetof(c.qmu), "queue": unsafe.Offsetof(c.queue) + unsafe.Sizeof(c.queue) - 1,
		"queued": unsafe.Offsetof(c.queued), "lastWrite": unsafe.Offsetof(c.lastWrite), "drained": unsafe.Offsetof(c.drained),
		"writing": unsafe.Offsetof(c.writing), "closing": unsafe.Offsetof(c.closing), "suspended": unsafe.Offsetof(c.suspended),
		"gated": unsafe.Offsetof(c.gated), "stateful": unsafe.Offsetof(c.stateful),
	} {
		assert.Equal(t, uintptr(1), line(off), "%s: the queue's line", name)
	}
	assert.Equal(t, uintptr(128), unsafe.Offsetof(c.qbuf), "the queue's first array fills the third line")
	assert.Equal(t, uintptr(64), unsafe.Sizeof(c.qbuf))
	assert.LessOrEqual(t, unsafe.Sizeof(c), uintptr(576), "a conn outgrew its size class")
}
