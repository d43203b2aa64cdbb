package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"iter"
	"time"

	"github.com/gosignalr/signalr"
)

// MaxSteps is the longest job Process runs.
const MaxSteps = 1000

// Jobs is the example's hub: Process streams the progress of a job to the
// caller, and Upload receives a file the caller streams to the server.
type Jobs struct {
	// StepDelay is how long each step of a job takes.
	StepDelay time.Duration
}

// Progress is one item of the stream Process returns.
type Progress struct {
	Step  int    `json:"step"`  // steps done so far, 1 to Steps
	Steps int    `json:"steps"` // steps in the job
	Note  string `json:"note"`  // what the step did
}

// Process runs a pretend job of steps steps, one every StepDelay, and
// streams one Progress item per finished step. The page calls it with
// connection.stream("Process", steps). The stream ends after the last
// step, or early when the client disposes of its subscription or the
// connection closes (ctx is then done).
func (j Jobs) Process(ctx context.Context, steps int) (iter.Seq[Progress], error) {
	if steps < 1 || steps > MaxSteps {
		return nil, signalr.NewHubError("steps must be between 1 and %d", MaxSteps)
	}
	return func(yield func(Progress) bool) {
		for step := 1; step <= steps; step++ {
			select {
			case <-ctx.Done():
				return
			case <-time.After(j.StepDelay):
			}
			if !yield(Progress{Step: step, Steps: steps, Note: fmt.Sprintf("finished step %d of %d", step, steps)}) {
				return
			}
		}
	}, nil
}

// Received is what Upload reports: how much of the upload reached the hub.
type Received struct {
	Name   string `json:"name"`
	Chunks int    `json:"chunks"`
	Bytes  int64  `json:"bytes"`
	SHA256 string `json:"sha256"` // hex digest of the bytes, in order
}

// Upload receives a file the caller streams in chunks: the page calls
// connection.invoke("Upload", name, subject) with a signalR.Subject and
// pushes the chunks with subject.next (base64 strings with the JSON
// protocol, binary with MessagePack; each must fit the hub's message size
// limit). After every chunk it calls the caller's "received" handler with
// the running totals; when the client completes the subject it returns the
// totals and the SHA-256 of the bytes. Nothing is stored.
func (Jobs) Upload(c *signalr.Context, name string, chunks <-chan []byte) (Received, error) {
	r := Received{Name: name}
	h := sha256.New()
	for {
		select {
		case <-c.Done():
			return r, c.Err()
		case chunk, ok := <-chunks:
			if !ok {
				r.SHA256 = hex.EncodeToString(h.Sum(nil))
				return r, nil
			}
			h.Write(chunk)
			r.Chunks++
			r.Bytes += int64(len(chunk))
			if err := c.Clients().Caller().Send(c, "received", r.Chunks, r.Bytes); err != nil {
				return r, fmt.Errorf("reporting upload progress: %w", err)
			}
		}
	}
}
